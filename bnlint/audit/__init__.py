"""bnlint's runtime audit: proves on a real model what its batch normalization does.

``import bnlint.audit`` does not import TensorFlow; :func:`audit_model` does, when called.
"""

from __future__ import annotations

from typing import Any

from .errors import AuditError, TensorFlowMissing
from .graphdesc import TF1Graph
from .report import CHECKS, AuditReport, CheckResult

__all__ = ["AuditError", "AuditReport", "CHECKS", "CheckResult", "TF1Graph", "TensorFlowMissing",
           "audit_model", "audit_target"]


def audit_model(model: Any, inputs: Any = None, **options: Any) -> AuditReport:
    """Audit ``model`` and return an :class:`AuditReport`; see :func:`bnlint.audit.api.audit_model`."""
    from .api import audit_model as _audit

    return _audit(model, inputs, **options)


def audit_target(target: str, **options: Any) -> AuditReport:
    """Load a CLI-style target and audit it; see :func:`bnlint.audit.api.audit_target`."""
    from .api import audit_target as _audit

    return _audit(target, **options)
