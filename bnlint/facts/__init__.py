"""Facts about batch norm that several rules share, computed once per project.

``values``: what an argument evaluates to (literals, ``arg_scope`` defaults).
``batch_norm``: every place a batch norm is built and how it updates its statistics.
``train_ops``: every train op and whether it runs the batch-norm updates.
``construction_time``: ``self`` attributes fixed when a layer is built (``self.is_training``).
"""
