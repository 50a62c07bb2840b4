"""Substrings that must appear in a file for it to matter to a rule (the pre-filter).

A file containing none of a rule's tokens is never parsed for that rule. The
lists are deliberately generous: a missing token silently loses findings,
an extra one only costs a parse.
"""

# A batch norm is built, or moving statistics are kept, in this file.
BATCH_NORM = (
    "batch_norm", "BatchNorm", "batch_normalization", "normalizer_fn", "moving_mean",
    "moving_variance", "ExponentialMovingAverage", "assign_moving_average", "moving_average",
    "fused_batch_norm",
)
# A train op is built, or batch-norm updates are hooked into one, in this file.
TRAINING = (
    "minimize", "apply_gradients", "create_train_op", "optimize_loss", "control_dependencies",
    "UPDATE_OPS", "update_ops", ".updates", "arg_scope",
)
# A function named for inference (``bnlint.facts.inference``: predict, eval, test, infer, export, serve, validate),
# or test and validation data (``x_val``, ``holdout_images``).
EVALUATION = (
    "predict", "Predict", "eval", "Eval", "test", "Test", "infer", "Infer", "export", "Export", "serv", "Serv",
    "val", "Val", "holdout",
)
# Conditionals whose branches can select batch-norm outputs.
CONDITIONALS = ("cond", "case")
# Statistics over axes.
MOMENTS = ("moments", "sufficient_statistics")
