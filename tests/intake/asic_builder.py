"""Test-only PKI and ASiC-E (BDOC/.edoc) signer.

Why hand-written canonical XML: if the tests signed with the same canonicalisation code the
verifier uses, a shared mistake would pass unnoticed. Here SignedInfo and SignedProperties are
written directly in their canonical (inclusive C14N) form, with the namespace declarations that
C14N renders for an element whose namespaces are declared on the root, as DigiDoc writes them.
The verifier must reproduce exactly these bytes from the document.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

ASIC = "http://uri.etsi.org/02918/v1.2.1#"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS_DECL = f'xmlns:asic="{ASIC}" xmlns:ds="{DS}" xmlns:xades="{XADES}"'
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

NOW = datetime.now(UTC).replace(microsecond=0)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(common_name: str, serial_number: str | None = None, country: str = "EE") -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial_number:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
    return x509.Name(attributes)


@dataclass
class CertificateAuthority:
    """A test CA (root or issuing) that can issue certificates."""

    key: PrivateKey
    cert: x509.Certificate

    def issue(
        self,
        subject: x509.Name,
        public_key: object,
        *,
        ca: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        non_repudiation: bool = True,
        key_encipherment: bool = False,
    ) -> x509.Certificate:
        """Issue a CA or end-entity certificate."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - timedelta(days=30))
            .not_valid_after(not_after or NOW + timedelta(days=365))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        else:
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            usage = x509.KeyUsage(
                digital_signature=not non_repudiation,
                content_commitment=non_repudiation,
                key_encipherment=key_encipherment,
                data_encipherment=False,
                key_agreement=key_encipherment,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            )
        builder = builder.add_extension(usage, critical=True)
        return builder.sign(self.key, hashes.SHA256())  # type: ignore[arg-type]


def make_root(common_name: str = "TEST of EE-GovCA") -> CertificateAuthority:
    """A self-signed root CA with a P-384 key."""
    key = ec.generate_private_key(ec.SECP384R1())
    subject = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=3650))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    return CertificateAuthority(key, cert)


def make_issuing_ca(root: CertificateAuthority, common_name: str = "TEST of ESTEID") -> CertificateAuthority:
    """An issuing CA below ``root``."""
    key = ec.generate_private_key(ec.SECP384R1())
    cert = root.issue(_name(common_name), key.public_key(), ca=True,
                      not_before=NOW - timedelta(days=1000), not_after=NOW + timedelta(days=1000))
    return CertificateAuthority(key, cert)


@dataclass
class Signer:
    """A person's signing key and certificate."""

    key: PrivateKey
    cert: x509.Certificate


def make_signer(
    ca: CertificateAuthority,
    serial_number: str = "PNOEE-38001085718",
    *,
    key_type: str = "ec256",
    country: str = "EE",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    non_repudiation: bool = True,
    key_encipherment: bool = False,
    key: PrivateKey | None = None,
) -> Signer:
    """A signer certificate with the given subject serialNumber (ETSI semantics identifier)."""
    if key is None:
        if key_type == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif key_type == "ec384":
            key = ec.generate_private_key(ec.SECP384R1())
        else:
            key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue(
        _name("TEST SIGNER", serial_number, country),
        key.public_key(),
        not_before=not_before,
        not_after=not_after,
        non_repudiation=non_repudiation,
        key_encipherment=key_encipherment,
    )
    return Signer(key, cert)


@dataclass
class SignatureOptions:
    """Knobs for building valid and deliberately broken signatures."""

    signing_time: datetime = field(default_factory=lambda: NOW - timedelta(minutes=5))
    signature_method: str = "auto"  # auto | rsa-pss | rsa-sha1
    signed_info_c14n: str = C14N11
    digest_uri: str = SHA256
    signing_certificate: x509.Certificate | None = None  # named in SignedProperties (default: signer)
    keyinfo_certificates: list[x509.Certificate] | None = None  # in KeyInfo (default: [signer])
    omit_references: tuple[str, ...] = ()
    signature_id: str = "S0"
    extra_signed_properties_id: bool = False
    doctype: bool = False


def _digest(data: bytes, uri: str = SHA256) -> str:
    algorithm = hashlib.sha1 if uri == SHA1 else hashlib.sha256
    return base64.b64encode(algorithm(data).digest()).decode()


def _method_and_sign(key: PrivateKey, options: SignatureOptions, data: bytes) -> tuple[str, bytes]:
    if isinstance(key, rsa.RSAPrivateKey):
        if options.signature_method == "rsa-pss":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            return "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1", key.sign(data, pss, hashes.SHA256())
        if options.signature_method == "rsa-sha1":
            return "http://www.w3.org/2000/09/xmldsig#rsa-sha1", key.sign(data, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - refused by design
        return "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    size = (key.curve.key_size + 7) // 8
    hash_cls, uri = (
        (hashes.SHA384, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384")
        if size == 48
        else (hashes.SHA256, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
    )
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_cls())))
    return uri, r.to_bytes(size, "big") + s.to_bytes(size, "big")


def signature_xml(signer: Signer, data_files: dict[str, bytes], options: SignatureOptions | None = None) -> bytes:
    """A ``signatures0.xml`` document holding one XAdES-BES signature over ``data_files``."""
    o = options or SignatureOptions()
    sid = o.signature_id
    named_cert = o.signing_certificate or signer.cert
    cert_digest = base64.b64encode(hashlib.sha256(named_cert.public_bytes(Encoding.DER)).digest()).decode()
    signing_time = o.signing_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sp_inner = (
        f'<xades:SignedSignatureProperties Id="{sid}-SignedSignatureProperties">'
        f"<xades:SigningTime>{signing_time}</xades:SigningTime>"
        "<xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
        f'<ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod>'
        f"<ds:DigestValue>{cert_digest}</ds:DigestValue>"
        "</xades:CertDigest></xades:Cert></xades:SigningCertificateV2>"
        "</xades:SignedSignatureProperties>"
    )
    sp_id = f"{sid}-SignedProperties"
    sp_doc = f'<xades:SignedProperties Id="{sp_id}">{sp_inner}</xades:SignedProperties>'
    sp_c14n = f'<xades:SignedProperties {NS_DECL} Id="{sp_id}">{sp_inner}</xades:SignedProperties>'.encode()

    references = ""
    for index, (name, content) in enumerate(data_files.items()):
        if name in o.omit_references:
            continue
        references += (
            f'<ds:Reference Id="{sid}-RefId{index}" URI="{quote(name)}">'
            f'<ds:DigestMethod Algorithm="{o.digest_uri}"></ds:DigestMethod>'
            f"<ds:DigestValue>{_digest(content, o.digest_uri)}</ds:DigestValue></ds:Reference>"
        )
    references += (
        f'<ds:Reference Id="{sid}-RefId-SP" Type="http://uri.etsi.org/01903#SignedProperties" URI="#{sp_id}">'
        f'<ds:Transforms><ds:Transform Algorithm="{C14N11}"></ds:Transform></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod>'
        f"<ds:DigestValue>{_digest(sp_c14n)}</ds:DigestValue></ds:Reference>"
    )
    # the signature method goes into SignedInfo, so pick it with a dry run on the key type
    method_uri, _ = _method_and_sign(signer.key, o, b"probe")
    si_inner = (
        f'<ds:CanonicalizationMethod Algorithm="{o.signed_info_c14n}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{method_uri}"></ds:SignatureMethod>'
        f"{references}"
    )
    if o.signed_info_c14n == EXC_C14N:
        si_c14n = f'<ds:SignedInfo xmlns:ds="{DS}">{si_inner}</ds:SignedInfo>'.encode()
    else:
        si_c14n = f"<ds:SignedInfo {NS_DECL}>{si_inner}</ds:SignedInfo>".encode()
    _, signature_value = _method_and_sign(signer.key, o, si_c14n)
    certs = o.keyinfo_certificates or [signer.cert]
    key_info = "".join(
        f"<ds:X509Certificate>{base64.b64encode(c.public_bytes(Encoding.DER)).decode()}</ds:X509Certificate>"
        for c in certs
    )
    decoy = f'<ds:Object><xades:SignedProperties Id="{sp_id}"></xades:SignedProperties></ds:Object>' if (
        o.extra_signed_properties_id
    ) else ""
    doctype = '<!DOCTYPE x [<!ENTITY e "boom">]>' if o.doctype else ""
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        f"{doctype}<asic:XAdESSignatures {NS_DECL}>"
        f'<ds:Signature Id="{sid}"><ds:SignedInfo>{si_inner}</ds:SignedInfo>'
        f'<ds:SignatureValue Id="{sid}-SIG">{base64.b64encode(signature_value).decode()}</ds:SignatureValue>'
        f'<ds:KeyInfo Id="{sid}-KeyInfo"><ds:X509Data>{key_info}</ds:X509Data></ds:KeyInfo>'
        f'<ds:Object><xades:QualifyingProperties Id="{sid}-QualifyingProperties" Target="#{sid}">'
        f"{sp_doc}</xades:QualifyingProperties></ds:Object>{decoy}</ds:Signature></asic:XAdESSignatures>"
    )
    return document.encode()


def manifest_xml(names: list[str]) -> bytes:
    """``META-INF/manifest.xml`` listing the container root and the data files."""
    entries = "".join(
        f'<manifest:file-entry manifest:full-path="{n}" manifest:media-type="application/octet-stream"/>'
        for n in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.etsi.asic-e+zip"/>'
        f"{entries}</manifest:manifest>"
    ).encode()


def zip_container(
    entries: list[tuple[str, bytes]],
    *,
    mimetype: bytes = b"application/vnd.etsi.asic-e+zip",
    mimetype_first: bool = True,
    mimetype_compressed: bool = False,
) -> bytes:
    """Write a ZIP with ``mimetype`` (stored, first unless told otherwise) and the given entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        compress = zipfile.ZIP_DEFLATED if mimetype_compressed else zipfile.ZIP_STORED
        if mimetype_first:
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=compress)
        for name, data in entries:
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        if not mimetype_first:
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=compress)
    return buffer.getvalue()


def build_container(
    signer: Signer,
    data_files: dict[str, bytes] | None = None,
    options: SignatureOptions | None = None,
    *,
    alter: dict[str, bytes] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> bytes:
    """A signed ASiC-E container; ``alter`` replaces data after signing, ``extra_files`` adds unsigned files."""
    files = dict(data_files or {"request.txt": "Palun väljastage minu andmed (GDPR art 15).\n".encode()})
    signature = signature_xml(signer, files, options)
    files.update(alter or {})
    files.update(extra_files or {})
    entries = [(name, data) for name, data in files.items()]
    entries.append(("META-INF/manifest.xml", manifest_xml(list(files))))
    entries.append(("META-INF/signatures0.xml", signature))
    return zip_container(entries)
