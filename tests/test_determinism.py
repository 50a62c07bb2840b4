"""Findings must not depend on where objects happen to lie in memory.

Facts key what they have visited by object ids. A key that folds two ids
together lossily makes unrelated pairs collide, and which pairs do changes
with every run's memory layout: with ``id(expr) << 1 ^ id(scope)`` a BN003
of the fixtures came and went about once in ten runs of five fixture copies.
"""

from __future__ import annotations

import itertools

import bnlint.semantic as semantic


def test_keys_of_expression_and_scope_are_one_per_pair(monkeypatch):
    """Over every pair of small ids (where a lossy fold collides at once) the keys are distinct."""
    objects = [object() for _ in range(64)]
    numbers = {id(obj): number for number, obj in enumerate(objects)}
    monkeypatch.setattr(semantic, "id", lambda obj: numbers[id(obj)], raising=False)
    keys = {semantic.expression_in_scope(expr, scope) for expr, scope in itertools.product(objects, repeat=2)}
    assert len(keys) == len(objects) ** 2
