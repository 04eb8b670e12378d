"""The release rules: when a package may leave without a DPO, and what a DPO's approval covers.

Why pure functions: whether a package leaves is the most consequential rule in the pipeline (a
wrong release discloses one person's data to another). These are the functions production runs,
with the policy production uses (`DSAR_RELEASE_POLICY`, default `auto_release`), and the tests
exercise exactly them.

Released without a DPO (`auto_release`): a package whose request's identity was *verified* (the
signed request document is this ticket, fresh, not replayed, signer not revoked, signer = subject),
every system was searched completely, and every record found is `release` (bound to the verified
personal code); not one record waits in review (weak or unbound match) or holds another person's
personal code. Anything else waits for the DPO, and `always_review` makes every package wait.

An approval is bound to what the DPO saw: the SHA-256 of every sealed intermediate the package was
built from (the review among them), of the package file and of its manifest. Delivery ships only
when all of them are still the same; re-materialising anything upstream voids the approval.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class ReleasePolicy(StrEnum):
    """What happens when nothing needs review."""

    AUTO_RELEASE = "auto_release"
    ALWAYS_REVIEW = "always_review"


class ReviewReason(StrEnum):
    """Why a package waits for the DPO."""

    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    WEAK_MATCHES = "weak_matches"
    UNBOUND_IDENTIFIER = "unbound_identifier"
    OTHER_PERSON = "other_person"
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
    weak_matches: int,
    unbound_matches: int,
    other_person: int,
    incomplete_systems: Iterable[str],
    policy: ReleasePolicy | str,
) -> GateOutcome:
    """Decide whether delivery needs DPO approval; `policy` only decides the clean case."""
    if min(weak_matches, unbound_matches, other_person) < 0:
        raise ValueError("record counts cannot be negative")
    checks = (
        (not identity_verified, ReviewReason.IDENTITY_NOT_VERIFIED),
        (weak_matches > 0, ReviewReason.WEAK_MATCHES),
        (unbound_matches > 0, ReviewReason.UNBOUND_IDENTIFIER),
        (other_person > 0, ReviewReason.OTHER_PERSON),
        (bool(list(incomplete_systems)), ReviewReason.INCOMPLETE_SYSTEMS),
    )
    reasons = [reason for failed, reason in checks if failed]
    if not reasons and ReleasePolicy(policy) is ReleasePolicy.ALWAYS_REVIEW:
        reasons.append(ReviewReason.POLICY_ALWAYS_REVIEW)
    return GateOutcome(requires_approval=bool(reasons), reasons=tuple(reasons))


class Decision(StrEnum):
    """The DPO's verdict on a request's package."""

    PENDING = "pending"
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class ReleaseBinding:
    """What an approval covers: digests of the sealed inputs, the package file and its manifest."""

    inputs: Mapping[str, str]  # asset name -> SHA-256 of its sealed object for the request
    package_sha256: str
    manifest_sha256: str

    def differences(self, current: ReleaseBinding) -> list[str]:
        """Names of what changed since the approval ([] when the same package of the same inputs)."""
        changed = sorted(name for name in set(self.inputs) | set(current.inputs)
                         if not _same(self.inputs.get(name), current.inputs.get(name)))
        if not _same(self.package_sha256, current.package_sha256):
            changed.append("package")
        if not _same(self.manifest_sha256, current.manifest_sha256):
            changed.append("manifest")
        return changed


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a, b)


@dataclass(frozen=True)
class Approval:
    """The DPO's decision on one request, as the release step reads it."""

    decision: Decision = Decision.PENDING
    decided_by: str = ""
    authenticated: bool = False
    binding: ReleaseBinding | None = None


class DeliveryState(StrEnum):
    """What happens to a package now; the words the DPO, the helpdesk and `dsar demo` see."""

    DELIVER = "deliver"
    INCOMPLETE = "incomplete"
    AWAITING_REVIEW = "awaiting_review"
    REJECTED = "rejected"


@dataclass(frozen=True)
class DeliveryVerdict:
    state: DeliveryState
    reason: str  # a code: auto_release, approved, approval_void, approval_needed, ...
    changed: tuple[str, ...] = ()


def delivery_gate(*, requires_approval: bool, failed_systems: Iterable[str], approval: Approval,
                  current: ReleaseBinding | None) -> DeliveryVerdict:
    """May this package go now? `current` is the binding of the package as it is at delivery time.

    A rejection always wins. An approval counts only for the very package and inputs it was given
    for. Without one, an incomplete package never leaves, and one that needs review waits.
    """
    if approval.decision is Decision.REJECT:
        return DeliveryVerdict(DeliveryState.REJECTED, "rejected_by_dpo")
    if approval.decision is Decision.APPROVE:
        if approval.binding is None or current is None:
            return DeliveryVerdict(DeliveryState.AWAITING_REVIEW, "approval_void", ("binding",))
        changed = approval.binding.differences(current)
        if changed:
            return DeliveryVerdict(DeliveryState.AWAITING_REVIEW, "approval_void", tuple(changed))
        return DeliveryVerdict(DeliveryState.DELIVER, "approved")
    if list(failed_systems):
        return DeliveryVerdict(DeliveryState.INCOMPLETE, "systems_failed")
    if requires_approval:
        return DeliveryVerdict(DeliveryState.AWAITING_REVIEW, "approval_needed")
    return DeliveryVerdict(DeliveryState.DELIVER, "auto_release")


__all__ = [
    "Approval",
    "Decision",
    "DeliveryState",
    "DeliveryVerdict",
    "GateOutcome",
    "ReleaseBinding",
    "ReleasePolicy",
    "ReviewReason",
    "approval_gate",
    "delivery_gate",
]
