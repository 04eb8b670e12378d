"""Long-term (XAdES-LT) evidence: was the signer's certificate revoked when the signature was made?

Why: a signature made with a stolen ID-card is mathematically perfect. What tells it apart is the
certificate's revocation status at signing time, which DigiDoc embeds in the signature as an
OCSP response, together with an RFC 3161 time-stamp over the signature value that fixes when the
signature existed. Both are checked here, offline (nothing is fetched: the sensor handles many
tickets, and the evidence must speak for the moment of signing, not for today):

1. every ``SignatureTimeStamp`` must cover the very ``ds:SignatureValue`` bytes, its CMS signature
   must verify, and its TSA certificate must chain to the trust anchors and carry the
   id-kp-timeStamping purpose (pyHanko ``validate_tst_signed_data``). Its genTime is the
   validation moment; without a time-stamp the signed ``SigningTime`` is used;
2. the signer certificate is path-validated at that moment by pyhanko-certvalidator with only
   the embedded OCSP responses as revocation information.

Revocation policy (pyhanko-certvalidator 0.33): the end-entity certificate must have revocation
information (``CRL_OR_OCSP_REQUIRED``), not merely "checked if it declares a responder" as the
legacy ``hard-fail`` mode does, because a hostile signer certificate without an AIA extension
would otherwise pass as good with an OCSP response about somebody else; CA certificates above it
are checked if they declare revocation sources (``CHECK_IF_DECLARED``, hard-fail's rule).
``retroactive_revinfo=True`` because real LT signatures carry an OCSP response produced seconds
*after* the time-stamp, i.e. after the validation moment, which the default policy refuses as
"too new". pyHanko's own logging names certificate subjects (personal codes), so the results
here carry fixed texts only and library messages are never passed on.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dsar_pipeline.signatures.xades import EmbeddedTimeStamp, SignatureCheck

LongTermStatus = Literal["good", "revoked", "no_evidence", "unverifiable"]

MAX_CLOCK_SKEW = timedelta(minutes=5)  # evidence dated later than this after "now" comes from a wrong clock
SIGNING_TIME_TOLERANCE = timedelta(minutes=5)  # a time-stamp may not predate the claimed signing time by more
IMPRINT_ALGORITHMS = frozenset({"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512"})

# pyHanko logs validation failures with certificate subjects in them; those carry personal codes.
for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class LongTermResult:
    """The revocation verdict on one signature; ``detail`` is a fixed text without personal data."""

    status: LongTermStatus
    timestamp: datetime | None
    detail: str


class _Unverifiable(Exception):
    """Evidence is present but does not hold; the message is one of this module's fixed texts."""


def check_long_term(check: SignatureCheck, trust_anchors: list[x509.Certificate], now: datetime) -> LongTermResult:
    """Judge the embedded time-stamps and OCSP responses of a cryptographically verified signature.

    Never raises: hostile evidence, whatever it breaks in the libraries, is "unverifiable".
    """
    if check.unsigned_malformed:
        return LongTermResult("unverifiable", None, "the unsigned properties are malformed")
    if not check.timestamps and not check.ocsp_responses:
        return LongTermResult("no_evidence", None, "the signature carries no time-stamp and no OCSP response")
    if not trust_anchors:
        return LongTermResult("unverifiable", None, "no trust anchors are configured")
    try:
        return _run(_evaluate(check, trust_anchors, now.astimezone(UTC)))
    except _Unverifiable as exc:
        return LongTermResult("unverifiable", None, str(exc))
    except Exception:  # hostile DER can break a parser anywhere; the verdict must still come
        return LongTermResult("unverifiable", None, "the long-term evidence could not be evaluated")


def _run(coroutine: Any) -> Any:
    """Run pyHanko's asynchronous validation from synchronous code, also when called inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _der(certificates: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> list[Any]:
    return [_asn1_certificate(cert.public_bytes(Encoding.DER)) for cert in certificates]


@functools.lru_cache(maxsize=256)
def _asn1_certificate(der: bytes) -> Any:
    """The asn1crypto form of a certificate, kept: anchors, CA, responder and TSA certificates recur in
    every ticket, and the parsed object caches its normalised names, which are most of pyHanko's cost
    (about 11 ms per check without the cache, measured).
    """
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(der)


async def _evaluate(check: SignatureCheck, trust_anchors: list[x509.Certificate], now: datetime) -> LongTermResult:
    anchors = _der(trust_anchors)
    others = _der([*check.extra_certificates, *check.embedded_certificates])
    stamp_time: datetime | None = None
    for stamp in check.timestamps:
        gen_time = await _validate_timestamp(stamp, anchors, others, now)
        stamp_time = gen_time if stamp_time is None else min(stamp_time, gen_time)
    if stamp_time is not None and check.signing_time is not None and (
            stamp_time < check.signing_time - SIGNING_TIME_TOLERANCE):
        raise _Unverifiable("the time-stamp predates the signing time")
    if not check.ocsp_responses:
        raise _Unverifiable("the signature carries a time-stamp but no OCSP response")
    moment = stamp_time or check.signing_time or now
    revoked = await _revoked(check, anchors, others, moment)
    if revoked:
        return LongTermResult("revoked", stamp_time, "the signer certificate was revoked when the signature was made")
    source = "time-stamp" if stamp_time is not None else "signing time"
    return LongTermResult("good", stamp_time, f"the OCSP response shows the certificate good at the {source}")


async def _validate_timestamp(stamp: EmbeddedTimeStamp, anchors: list[Any], others: list[Any],
                              now: datetime) -> datetime:
    """The genTime of a token that covers ``stamp.covered`` and comes from a trusted TSA, else _Unverifiable."""
    from asn1crypto import cms, tsp
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    content = cms.ContentInfo.load(stamp.token, strict=True)
    if content["content_type"].native != "signed_data":
        raise _Unverifiable("a time-stamp is not a CMS SignedData token")
    signed_data = content["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    if not isinstance(tst_info, tsp.TSTInfo):
        raise _Unverifiable("a time-stamp does not hold TSTInfo")
    gen_time: datetime = tst_info["gen_time"].native
    if gen_time > now + MAX_CLOCK_SKEW:
        raise _Unverifiable("a time-stamp is dated in the future")

    def imprint(algorithm: str) -> bytes:
        if algorithm not in IMPRINT_ALGORITHMS:
            raise _Unverifiable("a time-stamp uses an unsupported imprint algorithm")
        return hashlib.new(algorithm.replace("_", "-"), stamp.covered).digest()

    context = ValidationContext(trust_roots=anchors, other_certs=others, moment=gen_time, allow_fetching=False,
                                revocation_mode="soft-fail")
    status = await validate_tst_signed_data(signed_data, context, imprint)
    if not (status.get("intact") and status.get("valid")):
        raise _Unverifiable("a time-stamp does not cover this signature or its signature is invalid")
    if status.get("trust_problem_indic") is not None:
        raise _Unverifiable("a time-stamp does not come from a trusted time-stamping authority")
    return gen_time.astimezone(UTC)


async def _revoked(check: SignatureCheck, anchors: list[Any], others: list[Any], moment: datetime) -> bool:
    """True when the OCSP evidence shows the signer revoked at ``moment``; _Unverifiable when it shows nothing."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, RevokedError
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )

    policy = CertRevTrustPolicy(
        RevocationCheckingPolicy(ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
                                 intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED),
        retroactive_revinfo=True,
    )
    context = ValidationContext(trust_roots=anchors, other_certs=others, ocsps=list(check.ocsp_responses), crls=[],
                                allow_fetching=False, revinfo_policy=policy, moment=moment)
    signer = asn1_x509.Certificate.load(check.signer_certificate.public_bytes(Encoding.DER))
    validator = CertificateValidator(signer, intermediate_certs=others, validation_context=context)
    try:
        await validator.async_validate_usage(set())
    except RevokedError:
        return True
    except (PathBuildingError, PathValidationError):
        raise _Unverifiable("the OCSP evidence does not establish the signer certificate's status") from None
    return False


__all__ = ["LongTermResult", "LongTermStatus", "check_long_term"]
