"""Errors the audit reports as a one-line message and exit code 2."""

from __future__ import annotations


class AuditError(Exception):
    """The audit cannot run: usage error, missing TensorFlow, or an unloadable target.

    The CLI prints ``str(error)`` on one line and exits 2; it never shows a traceback.
    """


class TensorFlowMissing(AuditError):
    """TensorFlow or Keras 3 is not installed."""


class CheckSkipped(Exception):
    """Raised inside a check when it does not apply to the target; the message says why."""
