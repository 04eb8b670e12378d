"""A sandbox certificate authority kept on disk: created once per state directory, reused after.

Why one module: the eID service (signed requests) and the e-seal service (sealed letters) each run
their own CA, and both must keep it the same way: the key written before the certificate, 0600, a
damaged, mismatched or nearly expired CA replaced rather than trusted.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.eid_status import write_atomically

CaPair = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def load_ca(key_path: Path, cert_path: Path, renew_before: timedelta) -> CaPair | None:
    """The kept CA, or None when it is missing, damaged, mismatched or about to expire."""
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc - renew_before:
        return None
    os.chmod(key_path, 0o600)  # repair a key file whose mode was loosened
    return key, cert


def create_ca(key_path: Path, cert_path: Path, *, common_name: str, organization: str,
              not_before: datetime, not_after: datetime) -> CaPair:
    """A new self-signed P-384 CA (what the pipeline's path validation requires of a CA), written key first:
    a certificate on disk without its key would be replaced at the next start anyway."""
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    write_atomically(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key, cert
