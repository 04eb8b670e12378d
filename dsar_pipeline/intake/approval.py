"""The approval gate in front of delivery, and the DPO's decision.

Why a pure function: whether a package may leave without a human look is the most consequential
rule in the pipeline (a wrong release discloses one person's data to another). Keeping it free of
I/O makes it trivially testable and lets the Dagster asset, the CLI and the UI all ask the same
question. Review is forced whenever anything is uncertain - identity not verified, records
reached only through weak identifiers (shared household phones), a system that failed or
answered incompletely; otherwise the controller's policy decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from .audit import AuditTrail
    from .audit_chain import AuditEvent

_USER_ID = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")


class ReleasePolicy(StrEnum):
    """What happens when nothing needs review."""

    AUTO_RELEASE = "auto_release"
    ALWAYS_REVIEW = "always_review"


class ReviewReason(StrEnum):
    """Why a package waits for the DPO."""

    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    WEAK_MATCHES = "weak_matches"
    INCOMPLETE_SYSTEMS = "incomplete_systems"
    POLICY_ALWAYS_REVIEW = "policy_always_review"


@dataclass(frozen=True)
class GateOutcome:
    """Whether DPO approval is needed before delivery, and every reason why."""

    requires_approval: bool
    reasons: tuple[ReviewReason, ...]


def approval_gate(
    *,
    identity_verified: bool,
    weak_match_count: int,
    incomplete_systems: Iterable[str],
    policy: ReleasePolicy | str = ReleasePolicy.ALWAYS_REVIEW,
) -> GateOutcome:
    """Decide whether delivery needs DPO approval.

    Review is mandatory when the identity is not verified, when any record was matched only
    weakly, or when any system is incomplete (failed, timed out, partial); ``policy`` only
    decides the clean case. The default policy is the cautious one.
    """
    if weak_match_count < 0:
        raise ValueError("weak_match_count cannot be negative")
    reasons: list[ReviewReason] = []
    if not identity_verified:
        reasons.append(ReviewReason.IDENTITY_NOT_VERIFIED)
    if weak_match_count > 0:
        reasons.append(ReviewReason.WEAK_MATCHES)
    if list(incomplete_systems):
        reasons.append(ReviewReason.INCOMPLETE_SYSTEMS)
    if not reasons and ReleasePolicy(policy) is ReleasePolicy.ALWAYS_REVIEW:
        reasons.append(ReviewReason.POLICY_ALWAYS_REVIEW)
    return GateOutcome(requires_approval=bool(reasons), reasons=tuple(reasons))


class Decision(StrEnum):
    """The DPO's verdict on a package."""

    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalDecision(BaseModel):
    """Who decided what, when, with a note.

    ``decided_by`` is the DPO's user id in the pipeline (staff account), never data about the
    data subject. The note may mention the case; it is kept with the decision, while the audit
    trail stores only its SHA-256 and length (see :func:`audit_payload`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(pattern=r"^r-[0-9a-z]{26}$")
    decided_by: str
    decided_at: datetime
    decision: Decision
    note: str = Field(default="", max_length=2000)

    @field_validator("decided_by")
    @classmethod
    def _user_id(cls, value: str) -> str:
        if not _USER_ID.fullmatch(value):
            raise ValueError("must be a lowercase user id (letters, digits, '.', '_', '-')")
        return value

    @field_validator("decided_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a UTC offset")
        return value

    def audit_payload(self) -> dict[str, object]:
        """The decision as audit-trail payload: no free text, only the note's hash and length."""
        import hashlib

        return {
            "decided_by": self.decided_by,
            "decision": self.decision.value,
            "note_sha256": hashlib.sha256(self.note.encode("utf-8")).hexdigest(),
            "note_chars": len(self.note),
        }


def may_deliver(gate: GateOutcome, decision: ApprovalDecision | None) -> bool:
    """True when delivery may go ahead: no approval needed, or the DPO approved."""
    if decision is not None and decision.decision is Decision.REJECTED:
        return False
    if not gate.requires_approval:
        return True
    return decision is not None and decision.decision is Decision.APPROVED


def record_decision(trail: AuditTrail, decision: ApprovalDecision) -> AuditEvent:
    """Append the decision to the request's audit trail as an ``approved`` or ``rejected`` event."""
    from .audit_chain import AuditEventType

    kind = AuditEventType.APPROVED if decision.decision is Decision.APPROVED else AuditEventType.REJECTED
    return trail.append(decision.request_id, kind, decision.audit_payload(), occurred_at=decision.decided_at)


__all__ = [
    "ApprovalDecision",
    "Decision",
    "GateOutcome",
    "ReleasePolicy",
    "ReviewReason",
    "approval_gate",
    "may_deliver",
    "record_decision",
]
