"""The release rules production runs, with the policy production uses (`DSAR_RELEASE_POLICY`, default
auto_release): which packages leave without a DPO, and what a DPO's approval covers."""

from __future__ import annotations

import pytest

from dsar_pipeline.review.approval import (
    Approval,
    Decision,
    DeliveryState,
    ReleaseBinding,
    ReleasePolicy,
    ReviewReason,
    approval_gate,
    delivery_gate,
)
from dsar_pipeline.review.findings import release_policy

CLEAN = {"identity_verified": True, "weak_matches": 0, "unbound_matches": 0, "other_person": 0,
         "incomplete_systems": []}
BINDING = ReleaseBinding(inputs={"review_findings": "a" * 64, "response_package": "b" * 64},
                         package_sha256="c" * 64, manifest_sha256="d" * 64)


def production_gate(**changes):
    """`approval_gate` as `dsar_pipeline.review.findings.review` calls it, policy from the environment."""
    return approval_gate(**{**CLEAN, **changes}, policy=release_policy())


def test_production_policy_is_auto_release_and_an_unknown_one_is_refused(monkeypatch):
    monkeypatch.delenv("DSAR_RELEASE_POLICY", raising=False)
    assert release_policy() is ReleasePolicy.AUTO_RELEASE
    monkeypatch.setenv("DSAR_RELEASE_POLICY", "release_everything")
    with pytest.raises(ValueError, match="DSAR_RELEASE_POLICY"):
        release_policy()


def test_only_a_verified_complete_bound_request_goes_without_the_dpo(monkeypatch):
    monkeypatch.delenv("DSAR_RELEASE_POLICY", raising=False)
    assert production_gate().requires_approval is False
    monkeypatch.setenv("DSAR_RELEASE_POLICY", "always_review")
    assert production_gate().reasons == (ReviewReason.POLICY_ALWAYS_REVIEW,)


@pytest.mark.parametrize(("change", "reason"), [
    ({"identity_verified": False}, ReviewReason.IDENTITY_NOT_VERIFIED),
    ({"weak_matches": 1}, ReviewReason.WEAK_MATCHES),
    ({"unbound_matches": 1}, ReviewReason.UNBOUND_IDENTIFIER),
    ({"other_person": 1}, ReviewReason.OTHER_PERSON),
    ({"incomplete_systems": ["avp"]}, ReviewReason.INCOMPLETE_SYSTEMS),
])
def test_every_doubt_needs_the_dpo_whatever_the_policy(monkeypatch, change, reason):
    monkeypatch.delenv("DSAR_RELEASE_POLICY", raising=False)
    outcome = production_gate(**change)
    assert outcome.requires_approval and outcome.reasons == (reason,)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        approval_gate(**{**CLEAN, "weak_matches": -1}, policy="auto_release")


PENDING = Approval()


def gate(requires_approval=False, failed=(), approval=PENDING, current=BINDING):
    return delivery_gate(requires_approval=requires_approval, failed_systems=list(failed), approval=approval,
                         current=current)


def test_delivery_without_a_decision():
    assert gate().state is DeliveryState.DELIVER and gate().reason == "auto_release"
    assert gate(requires_approval=True).state is DeliveryState.AWAITING_REVIEW
    assert gate(failed=["portal"]).state is DeliveryState.INCOMPLETE


def test_an_approval_covers_exactly_the_package_and_inputs_it_was_given():
    approved = Approval(Decision.APPROVE, "dpo.mari", False, BINDING)
    assert gate(requires_approval=True, approval=approved).state is DeliveryState.DELIVER
    for changed in ({"inputs": {**BINDING.inputs, "review_findings": "e" * 64}},
                    {"package_sha256": "e" * 64}, {"manifest_sha256": "e" * 64},
                    {"inputs": {"review_findings": "a" * 64}}):
        current = ReleaseBinding(**{"inputs": BINDING.inputs, "package_sha256": BINDING.package_sha256,
                                    "manifest_sha256": BINDING.manifest_sha256, **changed})
        verdict = gate(requires_approval=True, approval=approved, current=current)
        assert verdict.state is DeliveryState.AWAITING_REVIEW and verdict.reason == "approval_void", changed
        assert verdict.changed
    assert gate(approval=Approval(Decision.APPROVE, "dpo.mari")).reason == "approval_void"


def test_a_rejection_always_wins():
    rejected = Approval(Decision.REJECT, "dpo.mari")
    assert gate(approval=rejected).state is DeliveryState.REJECTED
    assert gate(failed=["avp"], approval=rejected).state is DeliveryState.REJECTED
