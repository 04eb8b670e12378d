"""The approval gate before delivery, and the DPO's decision record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dsar_pipeline.intake import (
    ApprovalDecision,
    Decision,
    ReleasePolicy,
    ReviewReason,
    approval_gate,
    may_deliver,
)

REQUEST_ID = "r-0123456789abcdefghjkmnpqrs"


def gate(**overrides):
    values = {"identity_verified": True, "weak_match_count": 0, "incomplete_systems": [],
              "policy": ReleasePolicy.AUTO_RELEASE}
    values.update(overrides)
    return approval_gate(**values)


def test_clean_case_with_auto_release_needs_no_approval():
    outcome = gate()
    assert not outcome.requires_approval and outcome.reasons == ()


def test_clean_case_with_always_review_needs_approval():
    outcome = gate(policy="always_review")
    assert outcome.requires_approval and outcome.reasons == (ReviewReason.POLICY_ALWAYS_REVIEW,)


def test_default_policy_is_cautious():
    assert approval_gate(identity_verified=True, weak_match_count=0, incomplete_systems=[]).requires_approval


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"identity_verified": False}, ReviewReason.IDENTITY_NOT_VERIFIED),
        ({"weak_match_count": 3}, ReviewReason.WEAK_MATCHES),
        ({"incomplete_systems": ["avp"]}, ReviewReason.INCOMPLETE_SYSTEMS),
    ],
)
def test_anything_uncertain_forces_review_even_with_auto_release(overrides, reason):
    outcome = gate(**overrides)
    assert outcome.requires_approval and outcome.reasons == (reason,)


def test_all_reasons_are_listed():
    outcome = gate(identity_verified=False, weak_match_count=1, incomplete_systems=("volt", "portal"))
    assert outcome.reasons == (
        ReviewReason.IDENTITY_NOT_VERIFIED, ReviewReason.WEAK_MATCHES, ReviewReason.INCOMPLETE_SYSTEMS
    )


def test_unknown_policy_and_negative_counts_are_errors():
    with pytest.raises(ValueError):
        gate(policy="yolo")
    with pytest.raises(ValueError):
        gate(weak_match_count=-1)


def decision(kind: Decision, note: str = "") -> ApprovalDecision:
    return ApprovalDecision(request_id=REQUEST_ID, decided_by="dpo.kask",
                            decided_at=datetime(2026, 3, 20, 9, tzinfo=UTC), decision=kind, note=note)


def test_may_deliver():
    needs = gate(weak_match_count=2)
    assert not may_deliver(needs, None)
    assert may_deliver(needs, decision(Decision.APPROVED))
    assert not may_deliver(needs, decision(Decision.REJECTED))
    assert may_deliver(gate(), None)
    assert not may_deliver(gate(), decision(Decision.REJECTED))


def test_decision_validation():
    with pytest.raises(ValidationError):
        ApprovalDecision(request_id=REQUEST_ID, decided_by="Mari Maasikas",
                         decided_at=datetime(2026, 3, 20, tzinfo=UTC), decision="approved")
    with pytest.raises(ValidationError):
        ApprovalDecision(request_id=REQUEST_ID, decided_by="dpo", decided_at=datetime(2026, 3, 20), decision="approved")
    with pytest.raises(ValidationError):
        ApprovalDecision(request_id="38001085718", decided_by="dpo", decided_at=datetime(2026, 3, 20, tzinfo=UTC),
                         decision="approved")


def test_audit_payload_keeps_no_free_text():
    payload = decision(Decision.APPROVED, note="Household phone matched Mari's neighbour; excluded.").audit_payload()
    assert payload["decision"] == "approved" and payload["decided_by"] == "dpo.kask"
    assert "Mari" not in repr(payload) and len(payload["note_sha256"]) == 64
