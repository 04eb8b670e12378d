"""Checks on the signer's certificate: whose it is, whether it may sign, and whether we trust it.

Why these checks and not just "the signature is mathematically valid": anyone can make a key
pair and a certificate that says "PNOEE-<your code>". What makes a signed request evidence of
identity is that a certificate authority we trust (configured as PEM files in
``DSAR_TRUST_ANCHORS_DIR``: the SK ID Solutions / eParaksts roots and issuing CAs in
production, test CAs in the tests) issued the certificate, that it was valid when used, and that
it is a signing (non-repudiation) certificate rather than an authentication one.

Path building and the CA-side rules come from ``cryptography.x509.verification`` (RFC 5280,
Web PKI CA profile); the end-entity profile is relaxed (``permit_all``) because qualified
signature certificates carry neither subjectAltName nor the TLS key purposes that profile expects.
Revocation (OCSP/CRL) is not checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from dsar_pipeline.identities.normalise import compact_personal_code

MAX_ANCHOR_FILES = 200
MAX_ANCHOR_FILE_BYTES = 1024 * 1024
MIN_RSA_BITS = 2048

_SEMANTICS = re.compile(r"^PNO(EE|LV|LT)-([0-9][0-9-]{9,11})$")
_LEGACY_EE = re.compile(r"^[1-6][0-9]{10}$")


class TrustAnchorError(ValueError):
    """The trust-anchor directory cannot be used as configured."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def personal_code_from_certificate(cert: x509.Certificate) -> tuple[str, str] | None:
    """(country, compact code) from the subject serialNumber, or None if it names no natural person.

    ETSI EN 319 412-1 semantics identifiers: ``PNOEE-38001085718``, ``PNOLV-320000-00000``.
    Estonian certificates issued before 2018 carry the bare 11-digit code with ``C=EE``.
    """
    values = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    serial = values[0].strip()
    match = _SEMANTICS.fullmatch(serial)
    if match:
        return match.group(1), compact_personal_code(match.group(2))
    countries = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)]
    if countries == ["EE"] and _LEGACY_EE.fullmatch(serial):
        return "EE", serial
    return None


def validity_problem(cert: x509.Certificate, moment: datetime) -> str | None:
    """None when ``moment`` is inside the certificate's validity period, else the reason."""
    moment = _aware(moment)
    if moment < cert.not_valid_before_utc:
        return "not yet valid"
    if moment > cert.not_valid_after_utc:
        return "expired"
    return None


def has_non_repudiation(cert: x509.Certificate) -> bool:
    """True when keyUsage allows nonRepudiation (contentCommitment): a signing certificate."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return bool(usage.content_commitment)


def key_problem(cert: x509.Certificate) -> str | None:
    """None for an RSA (>= 2048 bits) or EC signer key, else the reason."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return None if key.key_size >= MIN_RSA_BITS else f"RSA key shorter than {MIN_RSA_BITS} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return None
    return "unsupported signer key type"


def load_trust_anchors(directory: Path) -> list[x509.Certificate]:
    """All CA certificates from ``*.pem``/``*.crt``/``*.cer`` (PEM) files in one directory.

    A non-CA certificate in the directory is an error rather than silently ignored: trusting an
    end-entity certificate directly would make it verify itself.
    """
    if not directory.is_dir():
        raise TrustAnchorError("trust-anchor directory does not exist")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in {".pem", ".crt", ".cer"} and p.is_file())
    if len(files) > MAX_ANCHOR_FILES:
        raise TrustAnchorError("too many files in the trust-anchor directory")
    anchors: list[x509.Certificate] = []
    for path in files:
        data = path.read_bytes()
        if len(data) > MAX_ANCHOR_FILE_BYTES:
            raise TrustAnchorError(f"trust-anchor file {path.name} is too large")
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise TrustAnchorError(f"trust-anchor file {path.name} holds no PEM certificate") from None
        for cert in certs:
            try:
                constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                constraints = None
            if constraints is None or not constraints.ca:
                raise TrustAnchorError(f"trust-anchor file {path.name} holds a certificate that is not a CA")
            anchors.append(cert)
    return anchors


@dataclass(frozen=True)
class ChainResult:
    """Outcome of path validation: trusted or not, with a reason free of personal data."""

    trusted: bool
    reason: str = ""


def verify_chain(
    cert: x509.Certificate,
    anchors: list[x509.Certificate],
    moment: datetime,
    intermediates: list[x509.Certificate] | None = None,
) -> ChainResult:
    """Build and check a path from ``cert`` to one of ``anchors`` at ``moment``.

    The library's error text names the certificate subject (with the personal code), so it is
    replaced by a fixed reason.
    """
    from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

    if not anchors:
        return ChainResult(False, "no trust anchors configured")
    builder = (
        PolicyBuilder()
        .store(Store(anchors))
        .time(_aware(moment))
        .max_chain_depth(4)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
    )
    try:
        builder.build_client_verifier().verify(cert, intermediates or [])
    except VerificationError:
        return ChainResult(False, "signer certificate does not chain to a trusted certificate authority")
    except ValueError:
        return ChainResult(False, "signer certificate could not be path-validated")
    return ChainResult(True)


def same_person(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Compare (country, code) pairs on their compact form (Latvian codes may carry a hyphen)."""
    return a[0] == b[0] and compact_personal_code(a[1]) == compact_personal_code(b[1])


__all__ = [
    "ChainResult",
    "TrustAnchorError",
    "has_non_repudiation",
    "key_problem",
    "load_trust_anchors",
    "personal_code_from_certificate",
    "same_person",
    "validity_problem",
    "verify_chain",
]
