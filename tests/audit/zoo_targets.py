"""``bnlint audit`` targets for the zoo tests: keras.applications models as a user writes them.

``python -m bnlint.audit.cli tests/audit/zoo_targets.py:mobilenet_v2 --legacy-keras``
builds the tf_keras application; without ``--legacy-keras``, the Keras 3 one.
"""

from bnlint.audit import zoo
from bnlint.audit.tfenv import legacy_keras_active


def mobilenet_v2():
    """MobileNetV2, weights=None, 32x32: every check passes."""
    return zoo.factory("MobileNetV2", legacy=legacy_keras_active())()
