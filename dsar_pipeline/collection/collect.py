"""Collect from one system for one person: what the Dagster assets run, one step per system.

Identity resolution (`connectors.resolution`) comes before it and sorting the records
(`dsar_pipeline.review.findings`) after; nothing here knows Dagster, so the tests and benchmarks run the
very same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from connectors.contract import Connector, Record
from connectors.errors import ConnectorError
from connectors.resolution import IdentityGraph


def records_asset_name(system: str) -> str:
    """What a system's collected records are called downstream (`billing_records`, ...)."""
    return f"{system}_records"


class SystemStatus(StrEnum):
    COMPLETE = "complete"  # searched to the end; zero records means "no data held"
    FAILED = "failed"  # could not be searched completely: the package is incomplete
    NOT_APPLICABLE = "not_applicable"  # the request's controller does not run this system


@dataclass
class SystemResult:
    system: str
    status: SystemStatus
    records: list[Record] = field(default_factory=list)
    seconds: float = 0.0
    calls: int = 0
    error: str | None = None  # system and cause, never a personal value


def collect_system(connector: Connector, graph: IdentityGraph) -> SystemResult:
    """Everything one system holds for the identifiers in `graph`, or a failure naming the cause.

    A failure discards what was read so far: a partial result is never presented as complete.
    """
    started = time.monotonic()
    before = connector.calls_made
    identifiers = graph.for_connector(connector)
    if not identifiers:
        return SystemResult(connector.system, SystemStatus.COMPLETE, seconds=0.0)
    try:
        records = list(connector.collect(identifiers))
    except ConnectorError as exc:
        return SystemResult(connector.system, SystemStatus.FAILED, seconds=time.monotonic() - started,
                            calls=connector.calls_made - before, error=exc.cause)
    return SystemResult(connector.system, SystemStatus.COMPLETE, records, time.monotonic() - started,
                        connector.calls_made - before)
