"""bnlint: find batch-normalization misuse in TensorFlow and Keras code."""

__version__ = "0.1.0"
