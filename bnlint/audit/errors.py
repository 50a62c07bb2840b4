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


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message; empty when it has none."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe(exc: BaseException) -> str:
    """``ValueError: first line``, or the bare type name when the message is empty."""
    line = first_line(exc)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
