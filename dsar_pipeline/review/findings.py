"""What the DPO must look at before release: weak and unbound matches, other people's records,
systems that failed, identity not verified, data held past retention. Pure functions over
collected results; the release rules themselves are `intake.approval`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.classification import Disposition, ReviewCause, classify, review_cause
from connectors.contract import Record
from connectors.registry import systems
from connectors.resolution import IdentityGraph
from connectors.retention import Period, RetentionFinding, retention_findings
from dsar_pipeline.collection.collect import SystemResult, SystemStatus
from dsar_pipeline.intake.deadlines import controller_today
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.review.approval import ReleasePolicy, approval_gate


@dataclass
class ReviewOutcome:
    """The sorted result of one request: what may go out, what waits, what never goes out."""

    dispositions: dict[tuple[str, str, str], Disposition]
    findings: list[RetentionFinding]
    failed_systems: list[str]
    requires_approval: bool
    reasons: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    causes: dict[tuple[str, str, str], ReviewCause] = field(default_factory=dict)  # why each review record waits
    review_bundle_sha256: str = ""  # the sealed review bundle built for the DPO (`review.bundle`), if any

    def public_summary(self) -> dict[str, Any]:
        return {"requires_approval": self.requires_approval, "reasons": self.reasons,
                "failed_systems": self.failed_systems, "retention_findings": len(self.findings), **self.counts,
                **({"review_bundle_sha256": self.review_bundle_sha256} if self.review_bundle_sha256 else {})}


def retention_periods(controller: str) -> dict[str, Period]:
    """The controller's retention periods per rule, as its profile states them (see letter.facts)."""
    from dsar_pipeline.letter import load_facts

    return dict(load_facts(controller).retention_periods())


def source_rules() -> dict[tuple[str, str], str]:
    """(system, source) -> retention rule, from each connector's declaration."""
    return {(entry.name, name): source.retention_rule
            for entry in systems().values() for name, source in entry.connector_class().sources.items()
            if source.retention_rule}


def review(facts: RequestFacts, graph: IdentityGraph, results: Mapping[str, SystemResult],
           today: date | None = None) -> ReviewOutcome:
    today = today or controller_today(facts.controller)
    records: list[Record] = [r for res in results.values() for r in res.records]
    dispositions = classify(records, facts.anchor)
    findings = retention_findings(records, source_rules(), retention_periods(facts.controller), today)
    failed = sorted(name for name, res in results.items() if res.status is SystemStatus.FAILED)
    tally = Counter(d.value for d in dispositions.values())
    waiting = {r.ref: review_cause(r) for r in records if dispositions[r.ref] is Disposition.REVIEW}
    causes = Counter(cause.value for cause in waiting.values())
    gate = approval_gate(identity_verified=facts.identity_verified,
                         weak_matches=causes.get(ReviewCause.WEAK_MATCH.value, 0),
                         unbound_matches=causes.get(ReviewCause.UNBOUND_IDENTIFIER.value, 0),
                         other_person=tally.get(Disposition.OTHER_PERSON.value, 0),
                         incomplete_systems=failed, policy=release_policy())
    return ReviewOutcome(
        dispositions=dispositions, findings=findings, failed_systems=failed,
        requires_approval=gate.requires_approval, reasons=[r.value for r in gate.reasons],
        counts={"release": tally.get("release", 0), "review": tally.get("review", 0),
                "other_person": tally.get("other_person", 0),
                "weak_match": causes.get(ReviewCause.WEAK_MATCH.value, 0),
                "unbound_identifier": causes.get(ReviewCause.UNBOUND_IDENTIFIER.value, 0)},
        causes=waiting)


def release_policy() -> ReleasePolicy:
    """`DSAR_RELEASE_POLICY` (default auto_release); an unknown value is a configuration error."""
    raw = os.environ.get("DSAR_RELEASE_POLICY", "").strip() or ReleasePolicy.AUTO_RELEASE.value
    try:
        return ReleasePolicy(raw)
    except ValueError:
        raise ValueError("DSAR_RELEASE_POLICY must be auto_release or always_review") from None


def released_records(results: Mapping[str, SystemResult], outcome: ReviewOutcome,
                     include: Collection[ReviewCause] = ()) -> list[Record]:
    """The records that go to the person: those bound to the anchor, plus the review records of the
    causes the DPO chose to include (`weak_match`, and separately `unbound_identifier`)."""
    return [r for res in results.values() for r in res.records if _goes_out(r.ref, outcome, include)]


def _goes_out(ref: tuple[str, str, str], outcome: ReviewOutcome, include: Collection[ReviewCause]) -> bool:
    disposition = outcome.dispositions.get(ref)
    if disposition is Disposition.RELEASE:
        return True
    return disposition is Disposition.REVIEW and outcome.causes.get(ref) in include
