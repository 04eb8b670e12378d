"""The eID's status services, simulated: an OCSP responder, a time-stamping authority, revocation.

Why: DigiDoc does not stop at a bare XAdES signature. At signing time it asks SK ID Solutions'
time-stamping authority for an RFC 3161 token over the signature value and the OCSP responder
for the signer certificate's status, and embeds both (XAdES-LT), so that a verifier can later
prove the certificate was not revoked when the signature was made, without asking anybody. The
pipeline checks that evidence, so the sandbox must produce it the way SK does: a delegated OCSP
responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) and a TSA certificate
(id-kp-timeStamping, critical), both issued by the sandbox CA.

Both service identities are kept next to the CA (``<state>/eid/ocsp.key|pem``,
``<state>/eid/tsa.key|pem``, keys mode 0600) and revocations in ``<state>/eid/revoked.json``
(written atomically), so that every process using one state directory (the federation, a CLI
signing offline, a test) issues the same certificates and sees the same revocations. They are
not in ``trust/``: the pipeline trusts the CA only and must find the service certificates by
path validation.

Revocation is keyed by the subject serialNumber (``PNOEE-<code>``: country and personal code),
not by certificate: revoking a person revokes every signing certificate the sandbox issued or
will issue them, which is what a lost or stolen ID-card means for the demo. An OCSP response
produced at ``at`` reports a revocation only if it happened at or before ``at``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OCSP_URL = "http://ocsp.eid.sandbox.invalid/"  # written into signer certificates; nobody fetches it
TSA_POLICY_OID = "1.3.6.1.4.1.99999.1.2"  # a made-up policy identifier: the sandbox is not a real TSA
SERVICE_ORGANIZATION = "DSAR sandbox (simulated, not a real CA)"
SERVICE_LIFETIME = timedelta(days=3 * 365)
SERVICE_RENEW_BEFORE = timedelta(days=30)
HASH_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
MAX_REVOCATIONS = 100_000  # revoked.json is read on every OCSP response: refuse to grow without bound


@dataclass(frozen=True)
class ServiceIdentity:
    """A status service's key and the certificate the sandbox CA issued for it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


@contextmanager
def state_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``<state>/eid`` across processes, held while keys are created or revocations written.

    Why: two processes starting on a fresh state directory would otherwise each create a responder
    certificate, and the one whose file lost the race would sign responses nobody else recognises.
    """
    with open(directory / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a key, certificate or list."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def serial_number_of(cert: x509.Certificate) -> str:
    """The subject serialNumber (semantics identifier) a revocation is keyed by, or '' when there is none."""
    values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if len(values) == 1 else ""


class StatusServices:
    """OCSP responder, TSA and revocation list of one sandbox CA (one state directory)."""

    def __init__(self, directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca_certificate: x509.Certificate,
                 not_before: datetime) -> None:
        """``not_before``: the service certificates' start, as far back as the caller may date a signature."""
        self.directory = directory
        self.revoked_path = directory / "revoked.json"
        self._ca_key = ca_key
        self.ca_certificate = ca_certificate
        with state_lock(directory):
            self.ocsp = self._load_or_issue("ocsp", not_before)
            self.tsa = self._load_or_issue("tsa", not_before)

    # -- service certificates -------------------------------------------------------------------------

    def _load_or_issue(self, name: str, not_before: datetime) -> ServiceIdentity:
        key_path, cert_path = self.directory / f"{name}.key", self.directory / f"{name}.pem"
        loaded = self._load(key_path, cert_path)
        if loaded is not None:
            return loaded
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC).replace(microsecond=0)
        purpose = ExtendedKeyUsageOID.OCSP_SIGNING if name == "ocsp" else ExtendedKeyUsageOID.TIME_STAMPING
        common_name = "Sandbox eID OCSP responder" if name == "ocsp" else "Sandbox eID time-stamping authority"
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, SERVICE_ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]))
            .issuer_name(self.ca_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(max(not_before, self.ca_certificate.not_valid_before_utc))
            .not_valid_after(min(now + SERVICE_LIFETIME, self.ca_certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=name == "tsa",
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            # RFC 3161 2.3: the TSA certificate's only extended key usage, marked critical
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=name == "tsa")
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if name == "ocsp":
            # RFC 6960 4.2.2.2.1: a delegated responder's own certificate is not checked for revocation
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA384())
        write_atomically(key_path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
        write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return ServiceIdentity(key, cert)

    def _load(self, key_path: Path, cert_path: Path) -> ServiceIdentity | None:
        """The kept identity, or None when missing, damaged, not issued by this CA or about to expire."""
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            cert.verify_directly_issued_by(self.ca_certificate)  # a replaced CA invalidates its services
        except (OSError, ValueError, TypeError, InvalidSignature):  # InvalidSignature: an earlier CA's
            return None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            return None
        if cert.not_valid_after_utc - SERVICE_RENEW_BEFORE < datetime.now(UTC):
            return None
        os.chmod(key_path, 0o600)
        return ServiceIdentity(key, cert)

    # -- revocation -------------------------------------------------------------------------------------

    def revoke(self, serial_number: str, at: datetime) -> datetime:
        """Record that the person named by ``serial_number`` had their certificates revoked at ``at``.

        An earlier revocation is kept (a certificate cannot be revoked twice); the effective time is returned.
        """
        moment = at.astimezone(UTC).replace(microsecond=0)
        with state_lock(self.directory):
            revoked = self._read_revocations()
            if serial_number not in revoked:
                if len(revoked) >= MAX_REVOCATIONS:
                    raise ValueError("the sandbox revocation list is full")
                revoked[serial_number] = moment.isoformat().replace("+00:00", "Z")
                data = json.dumps(revoked, indent=1, sort_keys=True).encode()
                write_atomically(self.revoked_path, data, 0o644)
            return _parse_time(revoked[serial_number])

    def revocation_time(self, serial_number: str) -> datetime | None:
        """When the person's certificates were revoked, as recorded in the state directory (None: never)."""
        value = self._read_revocations().get(serial_number)
        return None if value is None else _parse_time(value)

    def _read_revocations(self) -> dict[str, str]:
        try:
            loaded = json.loads(self.revoked_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ValueError("the sandbox revocation list is damaged")
        return {str(k): v for k, v in loaded.items()}

    # -- OCSP ---------------------------------------------------------------------------------------------

    def ocsp_response(self, cert: x509.Certificate, at: datetime) -> bytes:
        """A DER OCSPResponse on ``cert`` as the responder would have answered at ``at`` (producedAt = thisUpdate).

        cryptography's builder stamps producedAt with the current time; a container dated in the
        past needs it at ``at``, so the response data is re-encoded with that time and signed again.
        The responder certificate is not included in the response (RFC 6960 allows that): it travels
        in the signature's ``CertificateValues``, which is what that XAdES-LT element is for, so a
        verifier that ignores them cannot validate the response.
        """
        moment = at.astimezone(UTC).replace(microsecond=0)
        revoked_at = self.revocation_time(serial_number_of(cert))
        is_revoked = revoked_at is not None and revoked_at <= moment
        built = (
            ocsp.OCSPResponseBuilder()
            .add_response(cert=cert, issuer=self.ca_certificate, algorithm=hashes.SHA256(),
                          cert_status=ocsp.OCSPCertStatus.REVOKED if is_revoked else ocsp.OCSPCertStatus.GOOD,
                          this_update=moment, next_update=None,
                          revocation_time=revoked_at if is_revoked else None,
                          revocation_reason=x509.ReasonFlags.key_compromise if is_revoked else None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp.certificate)
            .sign(self.ocsp.key, hashes.SHA256())
        )
        response = asn1_ocsp.OCSPResponse.load(built.public_bytes(serialization.Encoding.DER))
        basic = response["response_bytes"]["response"].parsed
        data = asn1_ocsp.ResponseData.load(basic["tbs_response_data"].dump())
        data["produced_at"] = moment
        data_der = data.dump(force=True)
        redone = asn1_ocsp.BasicOCSPResponse({
            "tbs_response_data": asn1_ocsp.ResponseData.load(data_der),
            "signature_algorithm": basic["signature_algorithm"],
            "signature": self.ocsp.key.sign(data_der, ec.ECDSA(hashes.SHA256())),
        })
        return asn1_ocsp.OCSPResponse({
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": redone},
        }).dump()

    # -- time-stamps -----------------------------------------------------------------------------------------

    def timestamp(self, message_imprint_digest: bytes, hash_algorithm: str, at: datetime) -> bytes:
        """A DER RFC 3161 TimeStampToken (CMS SignedData over TSTInfo) with genTime ``at``.

        Signed attributes are content-type, message-digest and signing-certificate-v2 (RFC 5816),
        the TSA certificate is included: what SK's TSA returns for ``certReq=true``.
        """
        if hash_algorithm not in HASH_ALGORITHMS:
            raise ValueError("unsupported time-stamp hash algorithm")
        if len(message_imprint_digest) != HASH_ALGORITHMS[hash_algorithm].digest_size:
            raise ValueError("the message imprint does not fit the hash algorithm")
        moment = at.astimezone(UTC).replace(microsecond=0)
        tsa_der = self.tsa.certificate.public_bytes(serialization.Encoding.DER)
        tsa_cert = asn1_x509.Certificate.load(tsa_der)
        tst_info = asn1_tsp.TSTInfo({
            "version": "v1",
            "policy": TSA_POLICY_OID,
            "message_imprint": {"hash_algorithm": asn1_algos.DigestAlgorithm({"algorithm": hash_algorithm}),
                                "hashed_message": message_imprint_digest},
            "serial_number": secrets.randbits(63),
            "gen_time": moment,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=tsa_cert.subject),
        })
        content_der = tst_info.dump()
        signed_attrs = asn1_cms.CMSAttributes([
            asn1_cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            asn1_cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content_der).digest()]}),
            asn1_cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": [{
                "hash_algorithm": {"algorithm": "sha256"},
                "cert_hash": hashlib.sha256(tsa_der).digest(),
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName(name="directory_name", value=tsa_cert.issuer)],
                    "serial_number": tsa_cert.serial_number,
                },
            }]}]}),
        ])
        signature = self.tsa.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer_info = asn1_cms.SignerInfo({
            "version": "v1",
            "sid": asn1_cms.SignerIdentifier(name="issuer_and_serial_number", value={
                "issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        })
        signed_data = asn1_cms.SignedData({
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "tst_info",
                                   "content": asn1_core.ParsableOctetString(content_der)},
            "certificates": [tsa_cert],
            "signer_infos": [signer_info],
        })
        return asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ["OCSP_URL", "ServiceIdentity", "StatusServices", "serial_number_of", "state_lock", "write_atomically"]
