"""Sanity checks on the ID-card certificate a ticket may carry for CDOC encryption.

Why at intake: the package would be encrypted to this certificate, so a certificate of somebody
else (or an expired one, which DigiDoc4 would no longer open with a renewed card) must be caught
before any data is gathered, not at delivery.
"""

from __future__ import annotations

import warnings
from datetime import datetime

from dsar_pipeline.signatures.certificates import personal_code_from_certificate, same_person, validity_problem


def check_recipient_certificate(der: bytes, personal_code: tuple[str, str] | None, now: datetime) -> str | None:
    """None when the certificate can be encrypted to for this subject, else a reason (no personal data)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _problem(der, personal_code, now)
    except Exception:  # malformed extensions, unsupported key algorithms: refuse, never crash
        return "certificate is malformed or uses an unsupported algorithm"


def _problem(der: bytes, personal_code: tuple[str, str] | None, now: datetime) -> str | None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "not a DER X.509 certificate"
    if not isinstance(cert.public_key(), rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return "certificate key is neither RSA nor EC"
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.key_encipherment or usage.key_agreement):
            return "certificate key may not be used for encryption (keyUsage)"
    except x509.ExtensionNotFound:
        pass
    problem = validity_problem(cert, now)
    if problem:
        return f"certificate is {problem}"
    holder = personal_code_from_certificate(cert)
    if holder is None:
        return "certificate names no personal code (not an ID-card certificate)"
    if personal_code is None:
        return "requires a personal_code identity to match the certificate holder against"
    if not same_person(holder, personal_code):
        return "certificate belongs to a different person than the requested subject"
    return None


__all__ = ["check_recipient_certificate"]
