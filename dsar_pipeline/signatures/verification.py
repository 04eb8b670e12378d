"""Deciding whether a request's identity is verified by its signed container.

Outcomes, and why three:

* ``verified`` - the container's one data file *is* this request (the canonical request document,
  :mod:`.signed_request`), every signature in it is intact, made with a trusted, valid signing
  certificate that was not revoked (proved by the OCSP response and time-stamp a long-term
  signature carries), within ``DSAR_SIGNATURE_MAX_AGE_HOURS`` before the request was submitted,
  the container was never used for an earlier request, and one signer's personal code is the
  requested subject's.
* ``needs_manual_verification`` - nothing is wrong, but the container does not prove who asks:
  there is none, it is only referenced, it was signed by somebody else (a relative, a lawyer with
  a power of attorney), the request names no personal code, no trust anchors are configured, or
  the signature carries no revocation evidence (a bare baseline-B signature) or evidence that
  cannot be validated. The DPO decides; nothing is released without their approval.
* ``rejected`` - the evidence is bad: a data file or signature was altered, the signed document
  is not this request (``content_mismatch``), the signature is too old for the request
  (``stale_signature``), the container was already used (``replayed``), the certificate was
  revoked (``revoked``), expired, not a signing certificate, or does not chain to a trusted CA,
  the container is malformed. Such a request stops at intake.

The result carries only codes, fixed reasons, the signer's country, times and a container hash:
it goes to the audit trail and to Dagster metadata, which must not hold personal values.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cryptography import x509

    from dsar_pipeline.intake.ticket import Ticket
    from dsar_pipeline.signatures.xades import SignatureCheck

MAX_SIGNING_CLOCK_SKEW = timedelta(minutes=10)
MAX_AGE_SETTING = "DSAR_SIGNATURE_MAX_AGE_HOURS"
DEFAULT_MAX_AGE = timedelta(hours=72)


class ReplayRegistry(Protocol):
    """Remembers which container was used for which request (the audit store keeps the digests)."""

    def claim_container(self, controller: str, container_sha256: str, request_id: str) -> str | None:
        """None when the container is new or already this request's; else the earlier request's id."""
        ...


def signature_max_age() -> timedelta:
    """``DSAR_SIGNATURE_MAX_AGE_HOURS`` (default 72): how long before submission a request may be signed."""
    raw = os.environ.get(MAX_AGE_SETTING, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE
    try:
        hours = float(raw)
    except ValueError:
        raise ValueError(f"{MAX_AGE_SETTING} must be a number of hours") from None
    if not 0 < hours <= 24 * 31:
        raise ValueError(f"{MAX_AGE_SETTING} must be between 0 and 744 hours")
    return timedelta(hours=hours)


class VerificationStatus(StrEnum):
    """The three outcomes of identity verification."""

    VERIFIED = "verified"
    NEEDS_MANUAL_VERIFICATION = "needs_manual_verification"
    REJECTED = "rejected"


REASONS: dict[str, str] = {
    "signer_matches_subject": "signed by the requested subject with a trusted signing certificate",
    "no_container": "no signed container was provided; verify the requester's identity manually",
    "evidence_reference": "identity evidence is only referenced; check it manually",
    "signer_differs": "the container was signed by someone other than the requested subject",
    "no_personal_code_in_request": "the request names no personal code to compare the signer with",
    "signer_has_no_personal_code": "the signer's certificate names no personal code",
    "no_trust_anchors": "no trust anchors are configured (DSAR_TRUST_ANCHORS_DIR); the signer cannot be trusted",
    "malformed_container": "the signed container is malformed",
    "malformed_signature": "a signature in the container is malformed",
    "tampered_data_file": "a signed data file was altered after signing",
    "unreferenced_data_file": "the container holds a data file that no signature covers",
    "bad_signature": "a signature does not match the signed content",
    "certificate_mismatch": "a signature's certificate is not the one it was made with",
    "unsupported_algorithm": "a signature uses an unsupported or weak algorithm",
    "unsupported_key": "the signer's key is of an unsupported type or too short",
    "not_a_signing_certificate": "the signer's certificate does not allow non-repudiation signatures",
    "certificate_expired": "the signer's certificate had expired",
    "certificate_not_yet_valid": "the signer's certificate was not yet valid",
    "signing_time_in_future": "the signing time lies in the future",
    "untrusted_chain": "the signer's certificate does not chain to a trusted certificate authority",
    "content_mismatch": "the signed document is not this request (it differs from the ticket)",
    "stale_signature": "the request was signed too long before it was submitted (or after it)",
    "replayed": "this signed container was already used for an earlier request",
    "revoked": "the signer's certificate was revoked",
    "no_revocation_evidence": "the signature carries no revocation evidence (OCSP) or time-stamp; "
                              "verify the requester manually",
    "revocation_unverifiable": "the signature's revocation evidence or time-stamp cannot be validated; "
                               "verify the requester manually",
    "untrusted_id_card_certificate": "the ID-card certificate for the CDOC copy does not chain to a trusted "
                                     "eID certificate authority",
}


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of identity verification; free of personal values by construction."""

    status: VerificationStatus
    reason_code: str
    reason: str
    signatures: int = 0
    signer_country: str | None = None
    signing_time: datetime | None = None
    container_sha256: str | None = None
    signing_time_source: str | None = None  # "timestamp" (validated) or "signing_time" (signed claim)
    revocation: str | None = None  # good | revoked | no_evidence | unverifiable
    mismatched_fields: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by the CLI, Dagster metadata and the audit trail)."""
        return {
            "status": self.status.value,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "signatures": self.signatures,
            "signer_country": self.signer_country,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "signing_time_source": self.signing_time_source,
            "revocation": self.revocation,
            "mismatched_fields": list(self.mismatched_fields),
            "container_sha256": self.container_sha256,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerificationResult:
        """The result as `to_dict` wrote it (sealed with the ticket at intake)."""
        moment = data.get("signing_time")
        return cls(status=VerificationStatus(data["status"]), reason_code=str(data["reason_code"]),
                   reason=str(data["reason"]), signatures=int(data.get("signatures") or 0),
                   signer_country=data.get("signer_country"),
                   signing_time=datetime.fromisoformat(moment) if moment else None,
                   container_sha256=data.get("container_sha256"),
                   signing_time_source=data.get("signing_time_source"), revocation=data.get("revocation"),
                   mismatched_fields=tuple(data.get("mismatched_fields") or ()))


def _result(status: VerificationStatus, code: str, detail: str | None = None, **kwargs: Any) -> VerificationResult:
    reason = REASONS[code] + (f": {detail}" if detail else "")
    return VerificationResult(status=status, reason_code=code, reason=reason, **kwargs)


def _rejected(code: str, detail: str | None = None, **kwargs: Any) -> VerificationResult:
    return _result(VerificationStatus.REJECTED, code, detail, **kwargs)


def _manual(code: str, **kwargs: Any) -> VerificationResult:
    return _result(VerificationStatus.NEEDS_MANUAL_VERIFICATION, code, **kwargs)


def _certificate_problem(
    cert: x509.Certificate, signing_time: datetime | None, now: datetime
) -> tuple[str, str | None] | None:
    from dsar_pipeline.signatures.certificates import has_non_repudiation, key_problem, validity_problem

    problem = key_problem(cert)
    if problem:
        return "unsupported_key", problem
    if not has_non_repudiation(cert):
        return "not_a_signing_certificate", None
    if signing_time is not None:
        if signing_time > now + MAX_SIGNING_CLOCK_SKEW:
            return "signing_time_in_future", None
        at_signing = validity_problem(cert, signing_time)
        if at_signing == "expired":
            return "certificate_expired", "at the signing time"
        if at_signing:
            return "certificate_not_yet_valid", "at the signing time"
    if validity_problem(cert, now) == "expired":
        return "certificate_expired", "at verification time"
    if validity_problem(cert, now):
        return "certificate_not_yet_valid", None
    return None


@dataclass(frozen=True)
class TicketContext:
    """What a ticket adds to the container checks: its own content, time, controller and id."""

    ticket: Ticket
    request_id: str | None = None
    replay: ReplayRegistry | None = None
    max_age: timedelta = DEFAULT_MAX_AGE


def verify_container(
    blob: bytes,
    *,
    subject: tuple[str, str] | None,
    trust_anchors: list[x509.Certificate],
    now: datetime | None = None,
    ticket: TicketContext | None = None,
) -> VerificationResult:
    """Verify an ASiC-E container and compare its signer(s) with ``subject`` (country, code).

    With ``ticket``, the container must also be that ticket's signed request document, signed
    within the ticket's age window, and not used for another request before.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    digest = hashlib.sha256(blob).hexdigest()
    try:
        with warnings.catch_warnings():  # e.g. deprecation notes on odd certificates: keep stderr clean
            warnings.simplefilter("ignore")
            return _verify(blob, digest, subject, trust_anchors, now, ticket)
    except Exception as exc:  # hostile input must yield a verdict, never a crash; rejected is the safe one
        detail = f"internal check failed ({type(exc).__name__})"
        return _rejected("malformed_container", detail, container_sha256=digest)


def _verify(
    blob: bytes,
    digest: str,
    subject: tuple[str, str] | None,
    trust_anchors: list[x509.Certificate],
    now: datetime,
    ticket: TicketContext | None,
) -> VerificationResult:
    from dsar_pipeline.signatures.asic_zip import ContainerError, read_asic_container
    from dsar_pipeline.signatures.certificates import personal_code_from_certificate, same_person, verify_chain
    from dsar_pipeline.signatures.xades import XadesError, verify_signature_file

    try:
        container = read_asic_container(blob)
    except ContainerError as exc:
        return _rejected("malformed_container", str(exc), container_sha256=digest)
    checks: list[SignatureCheck] = []
    try:
        for name in sorted(container.signature_files):
            checks.extend(verify_signature_file(container.signature_files[name], container.data_files))
    except XadesError as exc:
        detail = None if exc.code == "tampered_data_file" else str(exc)
        return _rejected(exc.code if exc.code in REASONS else "bad_signature", detail, container_sha256=digest)

    common: dict[str, Any] = {"signatures": len(checks), "container_sha256": digest}
    signers: list[tuple[str, str] | None] = []
    for check in checks:
        problem = _certificate_problem(check.signer_certificate, check.signing_time, now)
        if problem:
            return _rejected(problem[0], problem[1], **common)
        signers.append(personal_code_from_certificate(check.signer_certificate))
    if ticket is not None:
        from dsar_pipeline.signatures.signed_request import mismatched_fields

        mismatch = mismatched_fields(container.data_files, ticket.ticket)
        if mismatch:
            return _rejected("content_mismatch", ", ".join(mismatch), mismatched_fields=tuple(mismatch), **common)
    if not trust_anchors:
        return _manual("no_trust_anchors", **common)
    for check in checks:
        chain = verify_chain(check.signer_certificate, trust_anchors, now, list(check.extra_certificates))
        if not chain.trusted:
            return _rejected("untrusted_chain", **common)

    if ticket is not None and _id_card_problem(ticket.ticket, trust_anchors, now):
        return _rejected("untrusted_id_card_certificate", **common)
    evidence = [_long_term(check, trust_anchors, now) for check in checks]
    if any(e.status == "revoked" for e in evidence):
        return _rejected("revoked", revocation="revoked", **common)
    matching = [index for index, signer in enumerate(signers)
                if signer is not None and subject is not None and same_person(signer, subject)]
    chosen = matching[0] if matching else 0
    moment, source = _signing_time(checks[chosen], evidence[chosen])
    timing: dict[str, Any] = {"signing_time": moment, "signing_time_source": source,
                              "revocation": evidence[chosen].status}
    if ticket is not None:
        stale = _staleness(moment, ticket.ticket.submitted_time, ticket.max_age)
        if stale:
            return _rejected("stale_signature", stale, **timing, **common)
        if ticket.replay is not None and ticket.request_id is not None:
            earlier = ticket.replay.claim_container(ticket.ticket.controller_id, digest, ticket.request_id)
            if earlier is not None:
                return _rejected("replayed", **timing, **common)
    if not matching:
        if subject is None:
            return _manual("no_personal_code_in_request", **timing, **common)
        if all(signer is None for signer in signers):
            return _manual("signer_has_no_personal_code", **timing, **common)
        return _manual("signer_differs", **timing, **common)
    signer = signers[chosen]
    assert signer is not None
    if evidence[chosen].status == "no_evidence":
        return _manual("no_revocation_evidence", signer_country=signer[0], **timing, **common)
    if evidence[chosen].status != "good":
        return _manual("revocation_unverifiable", signer_country=signer[0], **timing, **common)
    return _result(VerificationStatus.VERIFIED, "signer_matches_subject", signer_country=signer[0], **timing,
                   **common)


def _long_term(check: SignatureCheck, trust_anchors: list[x509.Certificate], now: datetime) -> Any:
    from dsar_pipeline.signatures.long_term import check_long_term

    return check_long_term(check, trust_anchors, now)


def _signing_time(check: SignatureCheck, evidence: Any) -> tuple[datetime | None, str | None]:
    """The validated time-stamp's time when there is one, else the signed (claimed) signing time."""
    if evidence.timestamp is not None:
        return evidence.timestamp.astimezone(UTC), "timestamp"
    if check.signing_time is not None:
        return check.signing_time.astimezone(UTC), "signing_time"
    return None, None


def _staleness(moment: datetime | None, submitted: datetime, max_age: timedelta) -> str | None:
    """Why the signing time does not fit the request's submission, or None when it does."""
    if moment is None:
        return "the signature carries no signing time"
    submitted = submitted.astimezone(UTC)
    if moment < submitted - max_age:
        return f"signed more than {max_age.total_seconds() / 3600:g} hours before submission"
    if moment > submitted + MAX_SIGNING_CLOCK_SKEW:
        return "signed after the request was submitted"
    return None


def load_configured_trust_anchors() -> list[x509.Certificate]:
    """Trust anchors from ``DSAR_TRUST_ANCHORS_DIR`` (empty when unset)."""
    from dsar_pipeline.settings import trust_anchors_dir
    from dsar_pipeline.signatures.certificates import load_trust_anchors

    directory = trust_anchors_dir()
    return [] if directory is None else load_trust_anchors(directory)


def verify_ticket(
    ticket: Ticket,
    *,
    trust_anchors: list[x509.Certificate] | None = None,
    now: datetime | None = None,
    replay: ReplayRegistry | None = None,
    request_id: str | None = None,
) -> VerificationResult:
    """Verify the identity evidence of a parsed ticket.

    ``trust_anchors`` defaults to the certificates in ``DSAR_TRUST_ANCHORS_DIR``. With ``replay``
    (the intake's registry) the container is claimed for ``request_id`` (default: the ticket's),
    so the same container on another request is ``replayed``; without it (``dsar ticket check``)
    nothing is recorded.
    """
    from dsar_pipeline.intake.ticket import EvidenceType

    evidence = ticket.extensions.verification_evidence
    anchors = load_configured_trust_anchors() if trust_anchors is None else trust_anchors
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if evidence is None:
        result = _manual("no_container")
    elif evidence.type is EvidenceType.REFERENCE:
        result = _manual("evidence_reference")
    else:
        context = TicketContext(ticket, request_id or (ticket.request_id if replay is not None else None), replay,
                                signature_max_age())
        result = verify_container(evidence.container_bytes() or b"", subject=ticket.personal_code,
                                  trust_anchors=anchors, now=now, ticket=context)
    if result.status is not VerificationStatus.REJECTED and _id_card_problem(ticket, anchors, now):
        return _rejected("untrusted_id_card_certificate", container_sha256=result.container_sha256)
    return result


def _id_card_problem(ticket: Ticket, anchors: list[x509.Certificate], now: datetime) -> bool:
    """True when the ticket's CDOC recipient certificate does not chain to a trusted eID CA: a self-made
    one naming anyone's personal code would otherwise get that person's package encrypted to its maker.
    Checked before the container is claimed against replay, so a refused request uses up nothing."""
    from cryptography import x509 as _x509

    from dsar_pipeline.signatures.certificates import verify_chain

    der = ticket.extensions.certificate_der()
    if der is None:
        return False
    try:
        cert = _x509.load_der_x509_certificate(der)
        return not anchors or not verify_chain(cert, anchors, now).trusted
    except Exception:  # a malformed certificate is not trusted
        return True


__all__ = [
    "REASONS",
    "ReplayRegistry",
    "TicketContext",
    "VerificationResult",
    "VerificationStatus",
    "load_configured_trust_anchors",
    "signature_max_age",
    "verify_container",
    "verify_ticket",
]
