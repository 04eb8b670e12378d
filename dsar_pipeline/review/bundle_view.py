"""What the review bundle shows about the records: each one under review with why it waits and the
chain of identifiers that reached it, what would be released and what would be held.

Pure over the request's facts, identity graph, collected results and review outcome; the template
(`templates/review_bundle.html.j2`) only lays the rows out. Values stay raw here: the template
escapes every one of them (autoescape), so nothing in a record can become markup.

Where the chain of identifiers comes from. A record keeps the identifiers that found it
(`Record.matched_by`), and every identifier keeps the path of look-ups that reached it
(`Identifier.via`): the request ("request", "anchor" | "claimed") then one label per system table
that revealed the next identifier ("billing.contacts", "volt.accounts", ...). The path names the
steps, not the identifiers passed between them. So the chain shows, per identifier that matched the
record: the request's identifier at its root and the matching identifier at its end as recorded, and
for each step in between the identifiers the graph (and the ticket) hold whose own path ends exactly
there and whose type the next step's system accepts: one candidate is the identifier that was
passed on; several are shown as "one of", none as "not in the graph any more" (its path was replaced
by a better one). Those middle steps are *derived*, and marked so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from connectors.classification import Disposition, personal_codes, review_cause
from connectors.contract import Record
from connectors.identity import Identifier, IdentityType
from connectors.registry import systems
from connectors.resolution import IdentityGraph
from connectors.retention import RetentionFinding
from dsar_pipeline.collection.collect import SystemResult
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.review.findings import ReviewOutcome

MAX_VALUE_CHARS = 10_000
"""A field value longer than this is cut in the bundle (the cut is stated beside it)."""

OTHER_PERSON_CAUSE = "other_person"
CAUSE_TEXT = {
    "weak_match": "weak match: reached only through an e-mail address, phone number or Google account, "
                  "which households share",
    "unbound_identifier": "unbound identifier: reached only through an identifier the ticket claims and no "
                          "record binds to the requester's personal code",
    OTHER_PERSON_CAUSE: "other person: never released",
}
ROOT_TEXT = {"anchor": "the request's personal code (anchor, verified by the eID signature)",
             "claimed": "claimed in the ticket (not bound to the anchor)"}


@dataclass(frozen=True)
class ChainStep:
    """One step of the path that reached a record: where it happened and the identifier(s) it gave."""

    step: str
    identifiers: tuple[Identifier, ...]
    derived: bool  # True: inferred from the graph (the path records the step, not the identifier)


@dataclass(frozen=True)
class Chain:
    """How one identifier that matched the record was reached, from the request to the record."""

    matched: Identifier
    steps: tuple[ChainStep, ...]


@dataclass(frozen=True)
class FieldRow:
    name: str
    category: str
    value: str
    cut: int = 0  # characters left out (0: the whole value is shown)


@dataclass(frozen=True)
class HeldRecord:
    """A record the DPO must look at: review or another person's."""

    anchor: str  # the HTML id of its entry in the bundle ("rec-1", ...): never a record value
    record: Record
    disposition: Disposition
    cause: str  # weak_match | unbound_identifier | other_person
    cause_text: str
    detail: str | None
    fields: tuple[FieldRow, ...]
    chains: tuple[Chain, ...]


@dataclass(frozen=True)
class SourceGroup:
    """The records of one (system, source) with one outcome."""

    system: str
    title: str
    source: str
    keys: tuple[str, ...]
    causes: dict[str, int] = field(default_factory=dict)
    anchors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionRow:
    finding: RetentionFinding
    disposition: str


@dataclass(frozen=True)
class SystemRow:
    system: str
    title: str
    status: str
    records: int
    error: str | None


@dataclass(frozen=True)
class RecordsView:
    under_review: tuple[HeldRecord, ...]
    released: tuple[SourceGroup, ...]
    held: tuple[SourceGroup, ...]
    retention: tuple[RetentionRow, ...]
    systems: tuple[SystemRow, ...]
    counts: dict[str, int]


def records_view(facts: RequestFacts, graph: IdentityGraph, results: Mapping[str, SystemResult],
                 outcome: ReviewOutcome) -> RecordsView:
    records = [r for res in results.values() for r in res.records]
    by_ref = {r.ref: r for r in records}
    known = _known_identifiers(graph, facts)
    held: list[HeldRecord] = []
    for record in records:
        disposition = outcome.dispositions.get(record.ref)
        if disposition in (Disposition.REVIEW, Disposition.OTHER_PERSON):
            held.append(_held(record, disposition, facts, outcome, by_ref, known, f"rec-{len(held) + 1}"))
    released = [r for r in records if outcome.dispositions.get(r.ref) is Disposition.RELEASE]
    titles = _titles()
    retention = tuple(RetentionRow(f, _disposition_name(outcome.dispositions.get((f.system, f.source, f.key))))
                      for f in outcome.findings)
    system_rows = tuple(SystemRow(name, titles.get(name, name), res.status.value, len(res.records), res.error)
                        for name, res in results.items())
    return RecordsView(under_review=tuple(held), released=_groups(released, titles),
                       held=_held_groups(held, titles), retention=retention, systems=system_rows,
                       counts=summary_counts(outcome))


def summary_counts(outcome: ReviewOutcome) -> dict[str, int]:
    """Counts only: records under review, another person's, released, held (the two first), findings."""
    tally = Counter(d for d in outcome.dispositions.values())
    under_review, other = tally.get(Disposition.REVIEW, 0), tally.get(Disposition.OTHER_PERSON, 0)
    return {"under_review": under_review, "other_person": other, "released": tally.get(Disposition.RELEASE, 0),
            "held": under_review + other, "retention_findings": len(outcome.findings)}


# -- one record under review ----------------------------------------------------------------------------


def _held(record: Record, disposition: Disposition, facts: RequestFacts, outcome: ReviewOutcome,
          by_ref: Mapping[tuple[str, str, str], Record], known: list[Identifier], anchor: str) -> HeldRecord:
    if disposition is Disposition.OTHER_PERSON:
        cause, detail = OTHER_PERSON_CAUSE, _other_person_detail(record, facts.anchor, outcome, by_ref)
    else:
        cause = (outcome.causes.get(record.ref) or review_cause(record)).value
        detail = None
    if record.parent and detail is None:
        detail = f"belongs to {record.system}.{record.parent[0]} {record.parent[1]}"
    chains = tuple(identifier_chain(m, known) for m in sorted(
        record.matched_by, key=lambda i: (-i.strength.rank, i.type.value, i.value)))
    return HeldRecord(anchor=anchor, record=record, disposition=disposition, cause=cause,
                      cause_text=CAUSE_TEXT.get(cause, cause), detail=detail, fields=_fields(record),
                      chains=chains)


def _other_person_detail(record: Record, anchor: str | None, outcome: ReviewOutcome,
                         by_ref: Mapping[tuple[str, str, str], Record]) -> str:
    if personal_codes(record) - ({anchor} if anchor else set()):
        return ("holds a personal code other than the request's" if anchor
                else "holds a personal code, and the request names none")
    if record.parent:
        parent = (record.system, *record.parent)
        if outcome.dispositions.get(parent) is Disposition.OTHER_PERSON and parent in by_ref:
            return f"belongs to {record.system}.{record.parent[0]} {record.parent[1]}, another person's record"
    return "another person's record"


def _fields(record: Record) -> tuple[FieldRow, ...]:
    rows = []
    for name, value in record.fields.items():
        text = _text(value)
        cut = max(0, len(text) - MAX_VALUE_CHARS)
        rows.append(FieldRow(name, record.categories.get(name, ""), text[:MAX_VALUE_CHARS], cut))
    if record.attachment is not None:
        rows.append(FieldRow("(attachment)", record.attachment.media_type,
                             f"{record.attachment.media_type}, {record.attachment.size} bytes (not embedded)"))
    return tuple(rows)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return str(value)


# -- the chain of identifiers ------------------------------------------------------------------------------


def _known_identifiers(graph: IdentityGraph, facts: RequestFacts) -> list[Identifier]:
    """Every identifier with the path it was known by: the graph's (best path) and the ticket's own."""
    seen: dict[tuple[IdentityType, str, tuple[str, ...]], Identifier] = {}
    for identifier in (*graph.identifiers.values(), *facts.identifiers):
        seen.setdefault((identifier.type, identifier.value, identifier.via), identifier)
    return list(seen.values())


def identifier_chain(matched: Identifier, known: Iterable[Identifier]) -> Chain:
    """The steps from the request to `matched` (see the module's docstring for what is derived)."""
    via = matched.via
    root = 2 if len(via) >= 2 and via[0] == "request" else min(1, len(via))
    known = list(known)
    steps = []
    for end in range(max(root, 1), len(via) + 1):
        prefix = via[:end]
        label = _root_label(prefix) if end == root else f"revealed by {via[end - 1]}"
        if end == len(via):
            steps.append(ChainStep(label, (matched,), derived=False))
            continue
        accepts = _accepts(via[end].split(".", 1)[0])
        candidates = tuple(sorted((i for i in known if i.via == prefix and (accepts is None or i.type in accepts)),
                                  key=lambda i: (i.type.value, i.value)))
        steps.append(ChainStep(label, candidates, derived=True))
    if not via:
        steps.append(ChainStep("path not recorded", (matched,), derived=False))
    return Chain(matched, tuple(steps))


def _root_label(prefix: tuple[str, ...]) -> str:
    if len(prefix) == 2 and prefix[0] == "request":
        return ROOT_TEXT.get(prefix[1], f"the request ({prefix[1]})")
    return " > ".join(prefix) or "path not recorded"


@lru_cache(maxsize=16)
def _accepts(system: str) -> frozenset[IdentityType] | None:
    entry = systems().get(system)
    if entry is None:
        return None
    try:
        return frozenset(entry.connector_class().accepts)
    except (ImportError, AttributeError):
        return None


# -- groups ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _titles() -> dict[str, str]:
    return {name: entry.title for name, entry in systems().items()}


def _groups(records: Iterable[Record], titles: Mapping[str, str]) -> tuple[SourceGroup, ...]:
    keys: dict[tuple[str, str], list[str]] = {}
    for record in records:
        keys.setdefault((record.system, record.source), []).append(record.key)
    return tuple(SourceGroup(system, titles.get(system, system), source, tuple(found))
                 for (system, source), found in keys.items())


def _held_groups(held: Iterable[HeldRecord], titles: Mapping[str, str]) -> tuple[SourceGroup, ...]:
    grouped: dict[tuple[str, str], list[HeldRecord]] = {}
    for entry in held:
        grouped.setdefault((entry.record.system, entry.record.source), []).append(entry)
    return tuple(SourceGroup(system, titles.get(system, system), source, tuple(e.record.key for e in entries),
                             causes=dict(Counter(e.cause for e in entries)),
                             anchors=tuple(e.anchor for e in entries))
                 for (system, source), entries in grouped.items())


def _disposition_name(disposition: Disposition | None) -> str:
    return disposition.value if disposition is not None else "unknown"


__all__ = ["CAUSE_TEXT", "Chain", "ChainStep", "HeldRecord", "RecordsView", "SourceGroup", "identifier_chain",
           "records_view", "summary_counts"]
