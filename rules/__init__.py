"""bnlint's rules, one module per rule, discovered by ``bnlint.rule_loader``."""
