"""Checks per request, also when a run carries a batch of requests.

A check's result in a single-request run lands on that request's partition by itself (the check is
partitioned like its asset). A batch run has no single partition, so each request's evaluation is
recorded on its own partition here, and the run's own result only summarises the batch: otherwise
every request of a batch would show "not evaluated", and one failing request would mark the others.
Each request's evaluation is an event of the step that made it (`log_event`), so it belongs to its run
in the UI; reported as a runless event it cost half again as much (a pseudo-run written per event).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation


@dataclass(frozen=True)
class Verdict:
    passed: bool
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    metadata: Mapping[str, Any] = field(default_factory=dict)


def check_result(context: dg.AssetExecutionContext, check_name: str,
                 verdicts: Mapping[str, Verdict]) -> dg.AssetCheckResult:
    """The result to yield for the step; in a batch, each request's verdict is recorded first."""
    if len(verdicts) == 1:
        (verdict,) = verdicts.values()
        return dg.AssetCheckResult(check_name=check_name, passed=verdict.passed, severity=verdict.severity,
                                   metadata=dict(verdict.metadata))
    for request_id, verdict in verdicts.items():
        context.log_event(AssetCheckEvaluation(
            asset_key=context.asset_key, check_name=check_name, passed=verdict.passed, severity=verdict.severity,
            metadata=dict(verdict.metadata), partition=request_id))
    failed = [v for v in verdicts.values() if not v.passed]
    worst = dg.AssetCheckSeverity.ERROR if any(v.severity == dg.AssetCheckSeverity.ERROR for v in failed) \
        else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(check_name=check_name, passed=not failed, severity=worst,
                               metadata={"batch_requests": len(verdicts), "batch_failed": len(failed)})
