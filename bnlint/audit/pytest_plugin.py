"""bnlint's pytest plugin: the ``bn_audit`` fixture.

Registered through the ``pytest11`` entry point, so pytest loads this module in every
session of every user: it must not import TensorFlow at import time.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest


@pytest.fixture
def bn_audit() -> Callable[..., Any]:
    """Audit a model's batch normalization; fail the test with the report when a check fails.

    Usage (one line in a test)::

        def test_batchnorm(bn_audit):
            bn_audit(build_model())

    Takes the arguments of :func:`bnlint.audit.audit_model` plus ``allow`` (check codes
    whose failure is tolerated) and returns the :class:`~bnlint.audit.AuditReport`.
    """

    def run(model: Any, inputs: Any = None, *, allow: tuple[str, ...] = (), **options: Any):
        from bnlint.audit import audit_model  # noqa: PLC0415 - TensorFlow only when used

        report = audit_model(model, inputs, **options)
        failed = [c.code for c in report.checks if c.status == "fail" and c.code not in allow]
        if failed:
            pytest.fail(f"bnlint audit failed {', '.join(failed)}:\n{report.format('text')}", pytrace=False)
        return report

    return run
