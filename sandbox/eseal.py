"""Electronic seals for organisations, simulated: a trust service that issues each controller an e-seal.

Why: the response letter leaves the pipeline as a PDF sealed with the controller's e-seal (PAdES),
so that the person, or anyone they show it to, can check that it comes from the controller and was
not changed. A real controller buys a (qualified) e-seal certificate from SK ID Solutions or
LVRTC; the demo and the tests need one per controller without buying anything. So the sandbox
plays that trust service provider as well, with its own CA, kept apart from the eID CA
(:mod:`sandbox.eid`): a certificate for an organisation's seal must never be able to pass for a
person's signature on a request, and the pipeline trusts the eID CA for exactly that.

The CA follows the eID's pattern: created once per state directory and kept (key
``<state>/eseal/ca.key``, mode 0600; certificate ``<state>/eseal/trust/ca.pem``), so that seals
issued earlier keep validating after a restart. ``write_seals`` writes, per holder, what the
pipeline's ``DSAR_LETTER_SEAL_DIR`` holds: ``<id>.crt.pem``, ``<id>.key.pem`` (0600) and
``<id>.chain.pem`` (the CA). Seals still valid and issued by this CA to the same subject are kept,
so a directory is stable across runs.

The certificate is an organisation certificate as ETSI EN 319 412-3 lays it out: O and CN = the
legal name, organizationIdentifier = ``NTR<country>-<registration number>`` (left out for a
holder whose notice gives no number), keyUsage nonRepudiation + digitalSignature, an RSA-2048 key. Like everything
under ``sandbox/``, this is the *other side*: the holders are given to it (by the harness, from the
controllers' profiles), it never imports the pipeline.

Not simulated: qualified-certificate statements, certificate policies, revocation (no OCSP for
seals: a validator soft-fails, as for any certificate without a status service).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandbox.ca_store import CaPair, create_ca, load_ca
from sandbox.eid_status import state_lock, write_atomically

CA_COMMON_NAME = "Sandbox e-Seal CA"
CA_ORGANIZATION = "DSAR sandbox (simulated, not a real CA)"
CA_LIFETIME = timedelta(days=20 * 365)
CA_RENEW_BEFORE = timedelta(days=365)
SEAL_LIFETIME = timedelta(days=3 * 365)  # organisation certificates live about three years
SEAL_RENEW_BEFORE = timedelta(days=30)
SEAL_KEY_BITS = 2048  # what many e-seal tokens hold; and 2048 keeps issuing five seals per test home cheap
BACKDATE = timedelta(days=1)  # tolerate a validator whose clock lags a little


class EsealError(ValueError):
    """A holder cannot get a seal (an id that is not a safe file name, an empty name)."""


@dataclass(frozen=True)
class SealHolder:
    """The organisation a seal is issued to: what a controller states when it applies for one."""

    controller_id: str
    legal_name: str
    registration_number: str | None
    country: str


def organization_identifier(holder: SealHolder) -> str | None:
    """``NTREE-16130213``: the legal person's identifier in its national trade register (ETSI EN 319 412-1)."""
    number = (holder.registration_number or "").strip()
    return f"NTR{holder.country}-{number}" if number else None


def seal_subject(holder: SealHolder) -> x509.Name:
    """The subject of the holder's seal certificate: country, organisation, identifier, common name."""
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, holder.country),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, holder.legal_name)]
    identifier = organization_identifier(holder)
    if identifier:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, identifier))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, holder.legal_name))
    return x509.Name(attributes)


def _check(holder: SealHolder) -> None:
    safe = holder.controller_id.replace("-", "").replace("_", "")
    if not holder.controller_id or not safe.isascii() or not safe.isalnum():
        raise EsealError("a seal holder's id must be letters, digits, hyphens and underscores")
    if not holder.legal_name.strip() or len(holder.country) != 2:
        raise EsealError("a seal holder needs a legal name and a two-letter country")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class SandboxEseal:
    """The sandbox's e-seal trust service: one CA per state directory, a seal per holder."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir).resolve() / "eseal"
        self.trust_dir = self.directory / "trust"
        self.ca_key_path = self.directory / "ca.key"
        self.ca_cert_path = self.trust_dir / "ca.pem"
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # it holds the CA key
        with state_lock(self.directory):  # two processes on a fresh state dir must not create two CAs
            self._ca_key, self.ca_certificate = self._load_or_create_ca()

    # -- certificate authority -------------------------------------------------------------------

    def _load_or_create_ca(self) -> CaPair:
        self.trust_dir.mkdir(exist_ok=True)
        now = _now()
        return load_ca(self.ca_key_path, self.ca_cert_path, CA_RENEW_BEFORE) or create_ca(
            self.ca_key_path, self.ca_cert_path, common_name=CA_COMMON_NAME, organization=CA_ORGANIZATION,
            not_before=now - BACKDATE, not_after=now + CA_LIFETIME)

    # -- seals ---------------------------------------------------------------------------------------

    def issue(self, holder: SealHolder) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """A new seal key and its certificate for ``holder``.

        RSA, not EC: pyHanko declares a PDF signed with an ECDSA key as PDF 2.0 (ISO 32002), which a
        PDF/A-2 file (PDF 1.7 based) must not be; the seal keeps the letter PDF/A-2b.
        """
        _check(holder)
        key = rsa.generate_private_key(public_exponent=65537, key_size=SEAL_KEY_BITS)
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(seal_subject(holder))
            .issuer_name(self.ca_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(max(now - BACKDATE, self.ca_certificate.not_valid_before_utc))
            .not_valid_after(min(now + SEAL_LIFETIME, self.ca_certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # a seal: it vouches for the origin and integrity of documents (nonRepudiation), and signs them
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(self._ca_key, hashes.SHA384())
        )
        return key, cert

    def write_seals(self, holders: Iterable[SealHolder], target: Path) -> Path:
        """Write each holder's seal into ``target`` (created 0700), keeping seals that are still good."""
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(target, 0o700)  # it holds private keys
        chain = self.ca_certificate.public_bytes(serialization.Encoding.PEM)
        with self._lock, state_lock(self.directory):
            for holder in holders:
                _check(holder)
                name = holder.controller_id
                cert_path, key_path = target / f"{name}.crt.pem", target / f"{name}.key.pem"
                if not self._still_good(holder, cert_path, key_path):
                    key, cert = self.issue(holder)
                    write_atomically(key_path, key.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()), 0o600)
                    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
                write_atomically(target / f"{name}.chain.pem", chain, 0o644)
        return target

    def _still_good(self, holder: SealHolder, cert_path: Path, key_path: Path) -> bool:
        """True when the kept seal is this CA's, for this subject, matches its key and is not about to expire."""
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert.verify_directly_issued_by(self.ca_certificate)
        except (OSError, ValueError, TypeError, InvalidSignature):  # missing, damaged or another (earlier) CA's
            return False
        return (key.public_key() == cert.public_key() and cert.subject == seal_subject(holder)
                and cert.not_valid_after_utc - SEAL_RENEW_BEFORE > _now())


__all__ = [
    "CA_COMMON_NAME",
    "EsealError",
    "SandboxEseal",
    "SealHolder",
    "organization_identifier",
    "seal_subject",
]
