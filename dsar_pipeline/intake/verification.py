"""Deciding whether a request's identity is verified by its signed container.

Outcomes, and why three:

* ``verified`` - every signature in the container is intact, made with a trusted, valid
  signing certificate, and one signer's personal code is the requested subject's.
* ``needs_manual_verification`` - nothing is wrong, but the container does not prove who asks:
  there is none, it is only referenced, it was signed by somebody else (a relative, a lawyer with
  a power of attorney), the request names no personal code, or no trust anchors are configured.
  The DPO decides.
* ``rejected`` - the evidence is bad: a data file or signature was altered, the certificate was
  expired, not a signing certificate, or does not chain to a trusted CA, the container is
  malformed. Such a request must not be processed on that evidence.

The result carries only codes, fixed reasons, the signer's country, times and a container hash:
it goes to the audit trail and to Dagster metadata, which must not hold personal values.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

    from .ticket import Ticket

MAX_SIGNING_CLOCK_SKEW = timedelta(minutes=10)


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by the CLI, Dagster metadata and the audit trail)."""
        return {
            "status": self.status.value,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "signatures": self.signatures,
            "signer_country": self.signer_country,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "container_sha256": self.container_sha256,
        }


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
    from .certificates import has_non_repudiation, key_problem, validity_problem

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


def verify_container(
    blob: bytes,
    *,
    subject: tuple[str, str] | None,
    trust_anchors: list[x509.Certificate],
    now: datetime | None = None,
) -> VerificationResult:
    """Verify an ASiC-E container and compare its signer(s) with ``subject`` (country, code)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    digest = hashlib.sha256(blob).hexdigest()
    try:
        with warnings.catch_warnings():  # e.g. deprecation notes on odd certificates: keep stderr clean
            warnings.simplefilter("ignore")
            return _verify(blob, digest, subject, trust_anchors, now)
    except Exception as exc:  # hostile input must yield a verdict, never a crash; rejected is the safe one
        detail = f"internal check failed ({type(exc).__name__})"
        return _rejected("malformed_container", detail, container_sha256=digest)


def _verify(
    blob: bytes,
    digest: str,
    subject: tuple[str, str] | None,
    trust_anchors: list[x509.Certificate],
    now: datetime,
) -> VerificationResult:
    from .asic_zip import ContainerError, read_asic_container
    from .certificates import personal_code_from_certificate, same_person, verify_chain
    from .xades import XadesError, verify_signature_file

    try:
        container = read_asic_container(blob)
    except ContainerError as exc:
        return _rejected("malformed_container", str(exc), container_sha256=digest)
    checks = []
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
    if not trust_anchors:
        return _manual("no_trust_anchors", **common)
    for check in checks:
        chain = verify_chain(check.signer_certificate, trust_anchors, now, list(check.extra_certificates))
        if not chain.trusted:
            return _rejected("untrusted_chain", **common)

    matching = [
        (signer, check)
        for signer, check in zip(signers, checks, strict=True)
        if signer is not None and subject is not None and same_person(signer, subject)
    ]
    if matching:
        signer, check = matching[0]
        return _result(
            VerificationStatus.VERIFIED,
            "signer_matches_subject",
            signer_country=signer[0],
            signing_time=check.signing_time,
            **common,
        )
    if subject is None:
        return _manual("no_personal_code_in_request", **common)
    if all(signer is None for signer in signers):
        return _manual("signer_has_no_personal_code", **common)
    return _manual("signer_differs", **common)


def load_configured_trust_anchors() -> list[x509.Certificate]:
    """Trust anchors from ``DSAR_TRUST_ANCHORS_DIR`` (empty when unset)."""
    from .certificates import load_trust_anchors
    from .settings import trust_anchors_dir

    directory = trust_anchors_dir()
    return [] if directory is None else load_trust_anchors(directory)


def verify_ticket(
    ticket: Ticket,
    *,
    trust_anchors: list[x509.Certificate] | None = None,
    now: datetime | None = None,
) -> VerificationResult:
    """Verify the identity evidence of a parsed ticket.

    ``trust_anchors`` defaults to the certificates in ``DSAR_TRUST_ANCHORS_DIR``.
    """
    from .ticket import EvidenceType

    evidence = ticket.extensions.verification_evidence
    if evidence is None:
        return _manual("no_container")
    if evidence.type is EvidenceType.REFERENCE:
        return _manual("evidence_reference")
    blob = evidence.container_bytes() or b""
    anchors = load_configured_trust_anchors() if trust_anchors is None else trust_anchors
    return verify_container(blob, subject=ticket.personal_code, trust_anchors=anchors, now=now)


__all__ = [
    "REASONS",
    "VerificationResult",
    "VerificationStatus",
    "load_configured_trust_anchors",
    "verify_container",
    "verify_ticket",
]
