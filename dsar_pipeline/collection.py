"""Search every system for one person: resolve identities, collect per system, sort the records.

This is the collection phase the Dagster assets run step by step (one step per system); the
functions here know nothing of Dagster so that the demo, the benchmarks and the tests run the very
same code.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

from connectors.classification import Disposition, classify
from connectors.contract import Connector, Record
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, InvalidIdentifier
from connectors.resolution import IdentityGraph, expand

TICKET_IDENTITY_TYPES = {
    "personal_code": IdentityType.PERSONAL_CODE,
    "email": IdentityType.EMAIL,
    "phone": IdentityType.PHONE,
    "customer_number": IdentityType.CUSTOMER_ID,
}


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


@dataclass
class CollectionRun:
    graph: IdentityGraph
    results: dict[str, SystemResult]
    dispositions: dict[tuple[str, str, str], Disposition]
    seconds: float

    @property
    def complete(self) -> bool:
        return all(r.status is SystemStatus.COMPLETE for r in self.results.values())

    def count(self, disposition: Disposition) -> int:
        return sum(1 for d in self.dispositions.values() if d is disposition)


def subject_identifiers(identities: Sequence[tuple[str, str]]) -> list[Identifier]:
    """The request's (type, value) pairs as identifiers; unknown types are not searchable and skipped."""
    result = []
    for kind, value in identities:
        if kind in TICKET_IDENTITY_TYPES:
            try:
                result.append(Identifier.of(TICKET_IDENTITY_TYPES[kind], value))
            except InvalidIdentifier:
                continue
    return result


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


def run_collection(subject: Sequence[Identifier], connectors: Mapping[str, Connector]) -> CollectionRun:
    """Resolve identities, then collect from every system at once (threads: the work is I/O)."""
    started = time.monotonic()
    graph = expand(subject, connectors)
    with ThreadPoolExecutor(max_workers=max(1, len(connectors))) as pool:
        futures = {name: pool.submit(collect_system, c, graph) for name, c in connectors.items()}
        results = {name: future.result() for name, future in futures.items()}
    codes = {i.value for i in graph.identifiers.values() if i.type is IdentityType.PERSONAL_CODE and i.expandable}
    dispositions = classify((r for res in results.values() for r in res.records), codes)
    return CollectionRun(graph, results, dispositions, time.monotonic() - started)
