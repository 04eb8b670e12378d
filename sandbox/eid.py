"""The national eID signing infrastructure, simulated: a test CA, personal signing certificates, ASiC-E.

Why: a request signed with an Estonian ID-card / Mobile-ID (DigiDoc, ``.asice``/``.bdoc``) or
Latvian eParaksts (``.edoc``) is the one kind of request the pipeline can verify without a human.
The demo must be able to file such a request, and the pipeline must check it exactly as it checks
a real one; only the trust anchor differs. So the sandbox plays SK ID Solutions / LVRTC: it runs
its own certificate authority, issues each person a qualified-looking signing certificate and
signs documents into an ASiC-E container the way DigiDoc does (XAdES signature over the data
files, ``mimetype`` stored first, ``META-INF/manifest.xml``, ``META-INF/signatures0.xml``).

Like everything under ``sandbox/``, this is the *other side*: it never imports the pipeline.
The signature XML is written directly in its canonical (inclusive C14N) form rather than
canonicalised with the library the verifier uses, so a shared canonicalisation mistake cannot
make both sides agree on a wrong answer.

Per state directory, the CA is created once and kept (key ``<state>/eid/ca.key``, mode 0600;
certificate ``<state>/eid/trust/ca.pem``), so a restarted sandbox keeps verifying containers
it signed earlier and the pipeline's ``DSAR_TRUST_ANCHORS_DIR`` stays valid. Personal
certificates are issued on first use and kept in memory: like a new ID-card, a new one after a
restart is still trusted. Certificates use the real clock, not the population's ``as_of``,
because the verifier checks them against the real clock; they start ``SIGNATURE_HISTORY`` in the
past so that a test can sign a container "four days ago" that is consistent throughout.

Signatures are XAdES-LT by default, as DigiDoc makes them: the ``UnsignedProperties`` carry an
RFC 3161 signature time-stamp over the ``SignatureValue``, the CA, OCSP responder and TSA
certificates, and an OCSP response on the signer certificate produced a few seconds after the
time-stamp (:mod:`sandbox.eid_status` runs the responder, the TSA and the revocation list).
Baseline-B (no unsigned properties) is still available with ``level="B"``. A revoked person's
certificate keeps signing (a stolen card); its embedded OCSP response then says revoked.

Like a real ID-card, a person also holds an authentication/encryption certificate besides the
signing one (keyUsage digitalSignature + keyAgreement, clientAuth, same subject): a request may
carry it so that the package is encrypted to the card (CDOC). It is issued and kept like the
signing certificate, and its private key is handed out in process so a test can decrypt.

Not simulated: qualified-certificate statements and certificate policies; the pipeline's
verifier does not evaluate them either.
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
import os
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from sandbox.ca_store import CaPair, create_ca, load_ca
from sandbox.eid_status import OCSP_URL, StatusServices, state_lock

CA_COMMON_NAME = "Sandbox eID Root CA"
CA_ORGANIZATION = "DSAR sandbox (simulated, not a real CA)"
ASIC_E_MIMETYPE = "application/vnd.etsi.asic-e+zip"

CA_LIFETIME = timedelta(days=20 * 365)
CA_RENEW_BEFORE = timedelta(days=365)  # a CA this close to expiry is replaced at start-up
SIGNER_LIFETIME = timedelta(days=5 * 365)  # an ID-card certificate lives five years
SIGNER_RENEW_BEFORE = timedelta(days=1)
BACKDATE = timedelta(days=1)  # tolerate a verifier whose clock lags a little
# how far back a caller may date a signature: new CAs, service and signer certificates start this early
SIGNATURE_HISTORY = timedelta(days=30)
OCSP_DELAY = timedelta(seconds=3)  # DigiDoc asks the OCSP responder just after the TSA

MAX_DATA_FILES = 32  # the pipeline's reader allows 64 ZIP entries in all
MAX_DATA_FILE_BYTES = 16 * 1024 * 1024  # below the pipeline's 20 MiB per-entry limit
MAX_FILE_NAME_CHARS = 255

ASIC_NS = "http://uri.etsi.org/02918/v1.2.1#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
# Declared once on the root element; inclusive C14N of a signed sub-tree renders all three, in this order.
NS_DECLARATIONS = f'xmlns:asic="{ASIC_NS}" xmlns:ds="{DS_NS}" xmlns:xades="{XADES_NS}"'
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
ECDSA_METHODS: dict[int, tuple[str, type[hashes.HashAlgorithm]]] = {
    # key size in bytes: (XML-DSig signature method, hash)
    32: ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", hashes.SHA256),
    48: ("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", hashes.SHA384),
}
SIGNATURE_ID = "S0"  # DigiDoc numbers the signatures of a container S0, S1, ...
SignatureLevel = Literal["B", "LT"]
SIGNATURE_LEVELS: tuple[str, ...] = ("B", "LT")
CertificateUsage = Literal["signing", "encryption"]
CERTIFICATE_USAGES: tuple[str, ...] = ("signing", "encryption")

_FORBIDDEN_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f\\/:*?\"<>|]")
_EE_LT_CODE = re.compile(r"^[0-9]{11}$")
_LV_CODE = re.compile(r"^([0-9]{6})-?([0-9]{5})$")


class EidHolder(Protocol):
    """What a certificate needs to know about a person (``sandbox.records.Person`` has it)."""

    @property
    def first_name(self) -> str: ...

    @property
    def last_name(self) -> str: ...

    @property
    def personal_code(self) -> str: ...

    @property
    def country(self) -> str: ...


UnsignedProperties = Callable[[bytes], str]


class EidError(ValueError):
    """A document cannot be signed as asked (bad file name, too large, unknown code format)."""


@dataclass(frozen=True)
class SigningIdentity:
    """A person's signing key and the certificate the sandbox CA issued for it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


@dataclass(frozen=True)
class EncryptionIdentity:
    """A person's ID-card authentication/encryption key (ECDH for CDOC) and its certificate."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def semantics_identifier(country: str, personal_code: str) -> str:
    """The certificate subject serialNumber (ETSI EN 319 412-1) for a natural person.

    Why the real formats: the pipeline parses this value to find the signer's personal code, so
    it must see what real cards carry: ``PNOEE-38001085718`` (ID-card since 2018) and, for
    eParaksts, the code with its hyphen, ``PNOLV-161175-19997``.
    """
    code = personal_code.strip()
    if country in {"EE", "LT"}:
        if not _EE_LT_CODE.fullmatch(code):
            raise EidError(f"an {country} personal code must be 11 digits")
        return f"PNO{country}-{code}"
    if country == "LV":
        match = _LV_CODE.fullmatch(code)
        if not match:
            raise EidError("a Latvian personal code must be DDMMYY-NNNNN")
        return f"PNOLV-{match.group(1)}-{match.group(2)}"
    raise EidError("the sandbox eID issues certificates for EE, LV and LT personal codes only")


def signer_subject(person: EidHolder) -> x509.Name:
    """The subject of a personal signing certificate, laid out as the issuing country does.

    Estonian ID-cards (ESTEID2018): ``CN=SURNAME,GIVENNAME,CODE`` in capitals; Latvian
    eParaksts: ``CN=Givenname Surname``. Both carry SN, GN and the semantics identifier.
    """
    serial = semantics_identifier(person.country, person.personal_code)
    if person.country == "EE":
        first, last = person.first_name.upper(), person.last_name.upper()
        common_name = f"{last},{first},{person.personal_code.strip()}"
    else:
        first, last = person.first_name, person.last_name
        common_name = f"{first} {last}"
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, person.country),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.SURNAME, last),
        x509.NameAttribute(NameOID.GIVEN_NAME, first),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
    ])


def check_data_file_name(name: str) -> None:
    """Refuse names a container cannot carry as a top-level data file.

    Why this strict: real signing tools put data files at the container root, and the pipeline
    rejects traversal, control characters and names that collide with the container's own
    ``mimetype`` and ``META-INF/`` entries.
    """
    if not name or len(name) > MAX_FILE_NAME_CHARS:
        raise EidError(f"a data file name must be 1-{MAX_FILE_NAME_CHARS} characters")
    if _FORBIDDEN_NAME_CHARS.search(name) or name in {".", ".."} or name.strip() != name:
        raise EidError("a data file name must be a plain file name (no path, control or reserved characters)")
    if name == "mimetype" or name.upper().startswith("META-INF"):
        raise EidError("a data file name must not be 'mimetype' or start with 'META-INF'")


class SandboxEid:
    """The sandbox's eID: one CA per state directory, a signing certificate per person, ASiC-E signing."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir).resolve() / "eid"
        self.trust_dir = self.directory / "trust"
        self.ca_key_path = self.directory / "ca.key"
        self.ca_cert_path = self.trust_dir / "ca.pem"
        self._lock = threading.Lock()
        self._signers: dict[tuple[str, str, str, str], SigningIdentity] = {}
        self._encryption: dict[tuple[str, str, str, str], EncryptionIdentity] = {}
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # it holds the CA key
        with state_lock(self.directory):  # two processes on a fresh state dir must not create two CAs
            self._ca_key, self.ca_certificate = self._load_or_create_ca()
        self.status = StatusServices(self.directory, self._ca_key, self.ca_certificate,
                                     self.ca_certificate.not_valid_before_utc)

    # -- certificate authority -------------------------------------------------------------------

    def _load_or_create_ca(self) -> CaPair:
        self.trust_dir.mkdir(exist_ok=True)
        now = _now()
        return load_ca(self.ca_key_path, self.ca_cert_path, CA_RENEW_BEFORE) or create_ca(
            self.ca_key_path, self.ca_cert_path, common_name=CA_COMMON_NAME, organization=CA_ORGANIZATION,
            not_before=now - SIGNATURE_HISTORY - BACKDATE, not_after=now + CA_LIFETIME)

    def certificate_for(self, person: EidHolder) -> x509.Certificate:
        """The person's signing certificate (issued on first use)."""
        return self._identity(person).certificate

    def _identity(self, person: EidHolder) -> SigningIdentity:
        cache_key = _holder_key(person)
        with self._lock:
            identity = self._signers.get(cache_key)
            if identity is None or identity.certificate.not_valid_after_utc - SIGNER_RENEW_BEFORE < _now():
                identity = SigningIdentity(*self._issue(person, "signing"))
                self._signers[cache_key] = identity
            return identity

    def encryption_certificate_for(self, person: EidHolder) -> x509.Certificate:
        """The person's ID-card authentication/encryption certificate (issued on first use).

        Why a second certificate: a ticket may name the card to encrypt the package to (CDOC),
        and real cards encrypt with this key (keyAgreement), never with the signing one.
        """
        return self.encryption_identity_for(person).certificate

    def encryption_identity_for(self, person: EidHolder) -> EncryptionIdentity:
        """Key and certificate of the person's encryption identity: what the card holder decrypts with."""
        cache_key = _holder_key(person)
        with self._lock:
            identity = self._encryption.get(cache_key)
            if identity is None or identity.certificate.not_valid_after_utc - SIGNER_RENEW_BEFORE < _now():
                identity = EncryptionIdentity(*self._issue(person, "encryption"))
                self._encryption[cache_key] = identity
            return identity

    def certificate_der(self, person: EidHolder, usage: CertificateUsage) -> bytes:
        """The DER of the person's signing or encryption certificate (what the control API hands out)."""
        if usage not in CERTIFICATE_USAGES:
            raise EidError("the certificate usage must be 'signing' or 'encryption'")
        cert = self.certificate_for(person) if usage == "signing" else self.encryption_certificate_for(person)
        return cert.public_bytes(serialization.Encoding.DER)

    def _issue(self, person: EidHolder, usage: CertificateUsage) -> tuple[ec.EllipticCurvePrivateKey,
                                                                          x509.Certificate]:
        subject = signer_subject(person)
        # Estonian ID-cards since 2018 hold P-384 keys; the others get P-256 so that both curves are exercised.
        key = ec.generate_private_key(ec.SECP384R1() if person.country == "EE" else ec.SECP256R1())
        now = _now()
        not_after = min(now + SIGNER_LIFETIME, self.ca_certificate.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(max(now - SIGNATURE_HISTORY, self.ca_certificate.not_valid_before_utc))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if usage == "signing":
            # nonRepudiation only: a signing certificate, not the card's authentication certificate
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=True, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            # the card's authentication key: TLS client auth (digitalSignature) and ECDH for CDOC
            # (keyAgreement), never nonRepudiation, so it cannot pass for a signing certificate
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=True, key_cert_sign=False, crl_sign=False, encipher_only=False,
                decipher_only=False), critical=True).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = (
            builder
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            # like SK's certificates: where to ask for status (a verifier finds the answer embedded instead)
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(OCSP_URL))]), critical=False)
            .sign(self._ca_key, hashes.SHA384())
        )
        return key, cert

    # -- status services ------------------------------------------------------------------------------

    def revoke(self, person: EidHolder) -> datetime:
        """Revoke the person's signing certificate(s) now; returns the (first) revocation time.

        Kept in the state directory, so every process signing with it embeds "revoked" from now on.
        """
        return self.status.revoke(semantics_identifier(person.country, person.personal_code), _now())

    def revocation_time(self, person: EidHolder) -> datetime | None:
        """When the person's certificates were revoked (None: they are not)."""
        return self.status.revocation_time(semantics_identifier(person.country, person.personal_code))

    def ocsp_response(self, cert: x509.Certificate, at: datetime) -> bytes:
        """DER OCSPResponse on ``cert`` (good or revoked) as the sandbox responder answers at ``at``."""
        return self.status.ocsp_response(cert, at)

    def timestamp(self, message_imprint_digest: bytes, hash_algorithm: str, at: datetime) -> bytes:
        """DER RFC 3161 TimeStampToken over ``message_imprint_digest`` with genTime ``at``."""
        return self.status.timestamp(message_imprint_digest, hash_algorithm, at)

    # -- signing ------------------------------------------------------------------------------------

    def sign_container(self, data_files: list[tuple[str, bytes]], person: EidHolder, *,
                       signing_time: datetime | None = None, level: SignatureLevel = "LT") -> bytes:
        """An ASiC-E (BDOC / ``.edoc``) container holding ``data_files`` signed by ``person``.

        ``signing_time`` defaults to now; the pipeline refuses signing times in the future. It is
        also the time-stamp's genTime, and the OCSP response is produced ``OCSP_DELAY`` later, so a
        container dated in the past is consistent. ``level`` "LT" (DigiDoc's) embeds time-stamp,
        certificates and OCSP response; "B" writes the bare signature.
        """
        if level not in SIGNATURE_LEVELS:
            raise EidError("the signature level must be 'B' or 'LT'")
        files = _checked_data_files(data_files)
        identity = self._identity(person)
        moment = (signing_time or _now()).astimezone(UTC).replace(microsecond=0)
        unsigned = None if level == "B" else self._long_term_properties(identity, moment)
        signature = signature_document(identity, files, moment, unsigned)
        entries = [*files, ("META-INF/manifest.xml", manifest_document(files)),
                   ("META-INF/signatures0.xml", signature)]
        return zip_container(entries, moment)

    def _long_term_properties(self, identity: SigningIdentity, moment: datetime) -> UnsignedProperties:
        """What makes the signature LT: a time-stamp over the signature value, then certificates and OCSP."""
        certificates = [self.ca_certificate, self.status.ocsp.certificate, self.status.tsa.certificate]
        ocsp_der = self.ocsp_response(identity.certificate, moment + OCSP_DELAY)

        def render(signature_value_canonical: bytes) -> str:
            token = self.timestamp(hashlib.sha256(signature_value_canonical).digest(), "sha256", moment)
            values = "".join(
                "<xades:EncapsulatedX509Certificate>"
                f"{_b64(cert.public_bytes(serialization.Encoding.DER))}</xades:EncapsulatedX509Certificate>"
                for cert in certificates
            )
            sid = SIGNATURE_ID
            return (
                f'<xades:UnsignedProperties Id="{sid}-UnsignedProperties"><xades:UnsignedSignatureProperties>'
                f'<xades:SignatureTimeStamp Id="{sid}-T0">'
                f'<ds:CanonicalizationMethod Algorithm="{C14N11}"></ds:CanonicalizationMethod>'
                f"<xades:EncapsulatedTimeStamp>{_b64(token)}</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>"
                f"<xades:CertificateValues>{values}</xades:CertificateValues>"
                "<xades:RevocationValues><xades:OCSPValues>"
                f"<xades:EncapsulatedOCSPValue>{_b64(ocsp_der)}</xades:EncapsulatedOCSPValue>"
                "</xades:OCSPValues></xades:RevocationValues>"
                "</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
            )

        return render


def _checked_data_files(data_files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    if not data_files:
        raise EidError("at least one data file is needed")
    if len(data_files) > MAX_DATA_FILES:
        raise EidError(f"at most {MAX_DATA_FILES} data files can be signed in one container")
    seen: set[str] = set()
    for name, content in data_files:
        check_data_file_name(name)
        if name in seen:
            raise EidError("two data files have the same name")
        seen.add(name)
        if not isinstance(content, bytes):
            raise EidError("data file content must be bytes")
        if len(content) > MAX_DATA_FILE_BYTES:
            raise EidError(f"a data file may be at most {MAX_DATA_FILE_BYTES // (1024 * 1024)} MiB")
    return list(data_files)


def media_type(name: str) -> str:
    """The media type recorded for a data file (manifest and DataObjectFormat), from its name."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sha256_b64(data: bytes) -> str:
    return _b64(hashlib.sha256(data).digest())


def signature_document(identity: SigningIdentity, files: list[tuple[str, bytes]], signing_time: datetime,
                       unsigned: UnsignedProperties | None = None) -> bytes:
    """``META-INF/signatures0.xml``: one XAdES signature over ``files``, baseline-B unless ``unsigned`` is given.

    ``unsigned`` receives the canonical (C14N 1.1) bytes of the ``ds:SignatureValue`` element and
    returns the ``xades:UnsignedProperties`` element to append to the ``QualifyingProperties``;
    they lie outside ``SignedInfo``, so the signed bytes are the same either way.

    Every element inside ``SignedInfo`` and ``SignedProperties`` is written exactly as C14N
    renders it (no whitespace between elements, explicit end tags), so the digests and the
    signature value are computed over the very bytes a verifier reproduces. File names appear
    only percent-encoded (``URI``), media types come from ``mimetypes``, identifiers are fixed:
    nothing needs XML escaping inside the signed parts.
    """
    sid = SIGNATURE_ID
    cert_der = identity.certificate.public_bytes(serialization.Encoding.DER)
    formats = "".join(
        f'<xades:DataObjectFormat ObjectReference="#{sid}-RefId{index}">'
        f"<xades:MimeType>{media_type(name)}</xades:MimeType></xades:DataObjectFormat>"
        for index, (name, _) in enumerate(files)
    )
    properties_id = f"{sid}-SignedProperties"
    properties_inner = (
        f'<xades:SignedSignatureProperties Id="{sid}-SignedSignatureProperties">'
        f"<xades:SigningTime>{signing_time:%Y-%m-%dT%H:%M:%SZ}</xades:SigningTime>"
        "<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
        f'<ds:DigestMethod Algorithm="{SHA256_URI}"></ds:DigestMethod>'
        f"<ds:DigestValue>{_sha256_b64(cert_der)}</ds:DigestValue>"
        "</xades:CertDigest></xades:Cert></xades:SigningCertificateV2>"
        "</xades:SignedSignatureProperties>"
        f"<xades:SignedDataObjectProperties>{formats}</xades:SignedDataObjectProperties>"
    )
    properties_in_document = f'<xades:SignedProperties Id="{properties_id}">{properties_inner}</xades:SignedProperties>'
    properties_canonical = (
        f'<xades:SignedProperties {NS_DECLARATIONS} Id="{properties_id}">{properties_inner}</xades:SignedProperties>'
    ).encode()

    references = "".join(
        f'<ds:Reference Id="{sid}-RefId{index}" URI="{quote(name)}">'
        f'<ds:DigestMethod Algorithm="{SHA256_URI}"></ds:DigestMethod>'
        f"<ds:DigestValue>{_sha256_b64(content)}</ds:DigestValue></ds:Reference>"
        for index, (name, content) in enumerate(files)
    )
    references += (
        f'<ds:Reference Id="{sid}-RefId-SP" Type="{SIGNED_PROPERTIES_TYPE}" URI="#{properties_id}">'
        f'<ds:Transforms><ds:Transform Algorithm="{C14N11}"></ds:Transform></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{SHA256_URI}"></ds:DigestMethod>'
        f"<ds:DigestValue>{_sha256_b64(properties_canonical)}</ds:DigestValue></ds:Reference>"
    )
    size = (identity.key.curve.key_size + 7) // 8
    method_uri, hash_cls = ECDSA_METHODS[size]
    signed_info_inner = (
        f'<ds:CanonicalizationMethod Algorithm="{C14N11}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{method_uri}"></ds:SignatureMethod>{references}'
    )
    signed_info_canonical = f"<ds:SignedInfo {NS_DECLARATIONS}>{signed_info_inner}</ds:SignedInfo>".encode()
    der_signature = identity.key.sign(signed_info_canonical, ec.ECDSA(hash_cls()))
    r, s = decode_dss_signature(der_signature)
    signature_value = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # XML-DSig wants r || s, not DER
    _self_check(identity, signed_info_canonical, der_signature, hash_cls)
    value_id = f"{sid}-SIG"
    value_b64 = _b64(signature_value)
    value_canonical = f'<ds:SignatureValue {NS_DECLARATIONS} Id="{value_id}">{value_b64}</ds:SignatureValue>'
    unsigned_xml = "" if unsigned is None else unsigned(value_canonical.encode())
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        f"<asic:XAdESSignatures {NS_DECLARATIONS}>"
        f'<ds:Signature Id="{sid}"><ds:SignedInfo>{signed_info_inner}</ds:SignedInfo>'
        f'<ds:SignatureValue Id="{value_id}">{value_b64}</ds:SignatureValue>'
        f'<ds:KeyInfo Id="{sid}-KeyInfo"><ds:X509Data><ds:X509Certificate>{_b64(cert_der)}</ds:X509Certificate>'
        "</ds:X509Data></ds:KeyInfo>"
        f'<ds:Object><xades:QualifyingProperties Id="{sid}-QualifyingProperties" Target="#{sid}">'
        f"{properties_in_document}{unsigned_xml}</xades:QualifyingProperties></ds:Object>"
        "</ds:Signature></asic:XAdESSignatures>"
    ).encode()


def _self_check(identity: SigningIdentity, data: bytes, der_signature: bytes,
                hash_cls: type[hashes.HashAlgorithm]) -> None:
    """Verify our own signature once: a broken signer should fail here, not in a demo run."""
    public_key = identity.certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise RuntimeError("the sandbox eID certificate does not hold an EC key")
    try:
        public_key.verify(der_signature, data, ec.ECDSA(hash_cls()))
    except InvalidSignature:
        raise RuntimeError("the sandbox eID produced a signature its own certificate does not verify") from None


def manifest_document(files: list[tuple[str, bytes]]) -> bytes:
    """``META-INF/manifest.xml`` (OpenDocument manifest): the container's media type and each data file."""
    entries = "".join(
        f"<manifest:file-entry manifest:full-path={quoteattr(name)} manifest:media-type={quoteattr(media_type(name))}/>"
        for name, _ in files
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{ASIC_E_MIMETYPE}"/>'
        f"{entries}</manifest:manifest>"
    ).encode()


def zip_container(entries: list[tuple[str, bytes]], moment: datetime) -> bytes:
    """The ZIP: ``mimetype`` first and stored (so tools can sniff the type at offset 38), the rest deflated."""
    stamp = moment.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype", date_time=stamp), ASIC_E_MIMETYPE.encode(),
                         compress_type=zipfile.ZIP_STORED)
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.external_attr = 0o644 << 16  # unzip tools would otherwise extract files no one can read
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _holder_key(person: EidHolder) -> tuple[str, str, str, str]:
    """Certificates are kept per holder: a renamed person gets a new card, as in life."""
    return (person.country, person.personal_code, person.first_name, person.last_name)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


__all__ = [
    "ASIC_E_MIMETYPE",
    "CA_COMMON_NAME",
    "CERTIFICATE_USAGES",
    "SIGNATURE_LEVELS",
    "CertificateUsage",
    "EidError",
    "EidHolder",
    "EncryptionIdentity",
    "SandboxEid",
    "SigningIdentity",
    "check_data_file_name",
    "semantics_identifier",
    "signer_subject",
]
