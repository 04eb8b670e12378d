"""Cryptographic verification of the XAdES signatures in an ASiC-E ``signatures*.xml`` file.

Why our own implementation instead of pyasice: pyasice 1.2.0 depends on oscrypto, which does
not load on OpenSSL >= 3.0.10, and its ``verify_signatures()`` accepted a container whose data
file had been altered. Here every step is explicit and tested with altered containers:

1. every data file's digest is recomputed and compared with its ``ds:Reference`` (a mismatch is
   a tampered file), every data file must be referenced and every reference must name a file;
2. the ``SignedProperties`` reference is resolved to the element inside this very signature's
   ``QualifyingProperties`` (no XML-signature-wrapping via a second element with the same Id),
   canonicalised and its digest compared;
3. the ``SignatureValue`` is checked over the canonicalised ``SignedInfo`` with the key of the
   certificate in ``KeyInfo`` (RSA PKCS#1 v1.5, RSA-PSS, ECDSA);
4. the certificate in ``KeyInfo`` must be the one the signed ``SigningCertificate(V2)`` digest
   names, so it cannot be swapped after signing.

SHA-1 digests and signature methods are refused. Certificate trust, validity and key usage are
checked by the caller (:mod:`.certificates`).

The unsigned properties of an LT-level signature (signature time-stamps, ``CertificateValues``,
``OCSPValues``) are only *collected* here, for :mod:`.long_term` to evaluate: they are not covered
by the signature, so they cannot make it invalid, and a verdict on them belongs to the revocation
check. Malformed unsigned material (bad base64, an unparsable certificate, an unknown
canonicalisation, too many items) therefore never raises; it sets
``SignatureCheck.unsigned_malformed`` and the long-term check reports it as unverifiable.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
ASIC_NAMESPACES = ("http://uri.etsi.org/02918/v1.2.1#", "http://uri.etsi.org/2918/v1.2.1#")
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

CANONICALIZATIONS: dict[str, tuple[bool, bool]] = {
    # algorithm URI: (exclusive, with comments)
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    "http://www.w3.org/2006/12/xml-c14n11": (False, False),
    "http://www.w3.org/2006/12/xml-c14n11#WithComments": (False, True),
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
}

DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "http://www.w3.org/2001/04/xmldsig-more#sha224": hashes.SHA224,
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
    "http://www.w3.org/2007/05/xmldsig-more#sha3-256": hashes.SHA3_256,
    "http://www.w3.org/2007/05/xmldsig-more#sha3-384": hashes.SHA3_384,
    "http://www.w3.org/2007/05/xmldsig-more#sha3-512": hashes.SHA3_512,
}

_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_MORE07 = "http://www.w3.org/2007/05/xmldsig-more#"
SIGNATURE_METHODS: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    _MORE + "rsa-sha224": ("rsa", hashes.SHA224),
    _MORE + "rsa-sha256": ("rsa", hashes.SHA256),
    _MORE + "rsa-sha384": ("rsa", hashes.SHA384),
    _MORE + "rsa-sha512": ("rsa", hashes.SHA512),
    _MORE07 + "sha256-rsa-MGF1": ("rsa-pss", hashes.SHA256),
    _MORE07 + "sha384-rsa-MGF1": ("rsa-pss", hashes.SHA384),
    _MORE07 + "sha512-rsa-MGF1": ("rsa-pss", hashes.SHA512),
    _MORE + "ecdsa-sha224": ("ecdsa", hashes.SHA224),
    _MORE + "ecdsa-sha256": ("ecdsa", hashes.SHA256),
    _MORE + "ecdsa-sha384": ("ecdsa", hashes.SHA384),
    _MORE + "ecdsa-sha512": ("ecdsa", hashes.SHA512),
}

MAX_SIGNATURES_PER_FILE = 8
MAX_REFERENCES = 64


class XadesError(ValueError):
    """A signature is invalid; ``code`` classifies it, the message names no personal data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


MAX_UNSIGNED_ITEMS = 16  # time-stamps, certificates or OCSP responses per signature; real ones carry 1-4
DEFAULT_TIMESTAMP_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"  # XAdES: absent means inclusive C14N


@dataclass(frozen=True)
class EmbeddedTimeStamp:
    """One ``xades:SignatureTimeStamp`` token and the bytes its message imprint must cover.

    ``covered`` is the ``ds:SignatureValue`` element canonicalised as the time-stamp's own
    ``CanonicalizationMethod`` says, so the checker needs no XML.
    """

    token: bytes  # DER TimeStampToken (CMS ContentInfo)
    covered: bytes


@dataclass(frozen=True)
class SignatureCheck:
    """One cryptographically intact signature and what the caller still has to judge.

    The last four fields hold the unsigned LT material, unverified; empty for a baseline-B signature.
    """

    signature_id: str
    signer_certificate: x509.Certificate
    extra_certificates: tuple[x509.Certificate, ...]
    signing_time: datetime | None
    timestamps: tuple[EmbeddedTimeStamp, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()  # DER OCSPResponse values from RevocationValues/OCSPValues
    embedded_certificates: tuple[x509.Certificate, ...] = ()  # from CertificateValues
    unsigned_malformed: bool = False


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _digest(algorithm_uri: str | None, data: bytes) -> bytes:
    if algorithm_uri == "http://www.w3.org/2000/09/xmldsig#sha1":
        raise XadesError("unsupported_algorithm", "SHA-1 digests are not accepted")
    algorithm = DIGESTS.get(algorithm_uri or "")
    if algorithm is None:
        raise XadesError("unsupported_algorithm", "unsupported digest algorithm")
    h = hashes.Hash(algorithm())
    h.update(data)
    return h.finalize()


def canonicalize(element: etree._Element, algorithm_uri: str) -> bytes:
    """Canonical bytes of ``element`` in its document context (inherited namespaces included)."""
    try:
        exclusive, comments = CANONICALIZATIONS[algorithm_uri]
    except KeyError:
        raise XadesError("unsupported_algorithm", "unsupported canonicalisation algorithm") from None
    return bytes(etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=comments))


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise XadesError("malformed_signature", f"{what} is not valid base64") from None


def _one(parent: etree._Element, path: str, what: str) -> etree._Element:
    found = parent.findall(path, namespaces={"ds": DS, "xades": XADES})
    if len(found) != 1:
        raise XadesError("malformed_signature", f"signature must contain exactly one {what}")
    return found[0]


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise XadesError("malformed_signature", "SigningTime is not a valid date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _verify_signature_value(
    cert: x509.Certificate, method_uri: str | None, signed_info: bytes, value: bytes
) -> None:
    if method_uri in {"http://www.w3.org/2000/09/xmldsig#rsa-sha1", _MORE + "ecdsa-sha1"}:
        raise XadesError("unsupported_algorithm", "SHA-1 signatures are not accepted")
    method = SIGNATURE_METHODS.get(method_uri or "")
    if method is None:
        raise XadesError("unsupported_algorithm", "unsupported signature method")
    kind, hash_cls = method
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise XadesError("malformed_signature", "signer certificate key cannot be read") from None
    try:
        if kind in {"rsa", "rsa-pss"}:
            if not isinstance(key, rsa.RSAPublicKey):
                raise XadesError("bad_signature", "signature method does not match the signer's key type")
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if kind == "rsa"
                else padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
            )
            key.verify(value, signed_info, pad, hash_cls())
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise XadesError("bad_signature", "signature method does not match the signer's key type")
            size = (key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise XadesError("bad_signature", "ECDSA signature value has the wrong length")
            r = int.from_bytes(value[:size], "big")
            s = int.from_bytes(value[size:], "big")
            key.verify(encode_dss_signature(r, s), signed_info, ec.ECDSA(hash_cls()))
    except InvalidSignature:
        raise XadesError("bad_signature", "signature value does not match the signed content") from None


def _ids(root: etree._Element) -> dict[str, etree._Element]:
    seen: dict[str, etree._Element] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        value = element.get("Id")
        if value is None:
            continue
        if value in seen:
            raise XadesError("malformed_signature", "two elements share one Id (signature wrapping?)")
        seen[value] = element
    return seen


def _check_signing_certificate(signed_properties: etree._Element, cert: x509.Certificate) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    ns = {"ds": DS, "xades": XADES}
    digests = signed_properties.findall(
        "xades:SignedSignatureProperties/xades:SigningCertificateV2/xades:Cert/xades:CertDigest", ns
    ) + signed_properties.findall(
        "xades:SignedSignatureProperties/xades:SigningCertificate/xades:Cert/xades:CertDigest", ns
    )
    if len(digests) != 1:
        raise XadesError("malformed_signature", "SignedProperties must name exactly one signing certificate")
    method = _one(digests[0], "ds:DigestMethod", "CertDigest DigestMethod").get("Algorithm")
    expected = _b64(_one(digests[0], "ds:DigestValue", "CertDigest DigestValue").text, "CertDigest")
    if _digest(method, cert.public_bytes(Encoding.DER)) != expected:
        raise XadesError("certificate_mismatch", "signer certificate is not the one named in the signed properties")


def _verify_one(
    signature: etree._Element, ids: dict[str, etree._Element], data_files: dict[str, bytes]
) -> SignatureCheck:
    ns = {"ds": DS, "xades": XADES}
    signature_id = signature.get("Id") or ""
    signed_info = _one(signature, "ds:SignedInfo", "SignedInfo")
    c14n_uri = _one(signed_info, "ds:CanonicalizationMethod", "CanonicalizationMethod").get("Algorithm") or ""
    method_uri = _one(signed_info, "ds:SignatureMethod", "SignatureMethod").get("Algorithm")
    references = signed_info.findall("ds:Reference", ns)
    if not references or len(references) > MAX_REFERENCES:
        raise XadesError("malformed_signature", "signature has no or too many references")

    qualifying = _one(signature, "ds:Object/xades:QualifyingProperties", "QualifyingProperties")
    if signature_id and qualifying.get("Target") != f"#{signature_id}":
        raise XadesError("malformed_signature", "QualifyingProperties do not target this signature")
    signed_properties = _one(qualifying, "xades:SignedProperties", "SignedProperties")

    referenced: set[str] = set()
    signed_properties_refs = 0
    tampered = False
    for reference in references:
        uri = reference.get("URI")
        digest_method = _one(reference, "ds:DigestMethod", "DigestMethod").get("Algorithm")
        expected = _b64(_one(reference, "ds:DigestValue", "DigestValue").text, "DigestValue")
        transforms = reference.findall("ds:Transforms/ds:Transform", ns)
        if uri is None or uri == "":
            raise XadesError("malformed_signature", "reference without a URI")
        if uri.startswith("#"):
            if reference.get("Type") != SIGNED_PROPERTIES_TYPE or ids.get(uri[1:]) is not signed_properties:
                raise XadesError("malformed_signature", "unexpected same-document reference")
            algorithms = [t.get("Algorithm") or "" for t in transforms]
            if any(a not in CANONICALIZATIONS for a in algorithms) or len(algorithms) > 1:
                raise XadesError("unsupported_algorithm", "unsupported transform on SignedProperties")
            c14n = algorithms[0] if algorithms else "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
            if _digest(digest_method, canonicalize(signed_properties, c14n)) != expected:
                raise XadesError("bad_signature", "signed properties were altered after signing")
            signed_properties_refs += 1
            continue
        if transforms:
            raise XadesError("unsupported_algorithm", "transforms on data file references are not supported")
        name = unquote(uri)
        if name.startswith("./"):
            name = name[2:]
        if name not in data_files:
            raise XadesError("malformed_signature", "a reference names a file that is not in the container")
        if name in referenced:
            raise XadesError("malformed_signature", "a data file is referenced twice")
        referenced.add(name)
        if _digest(digest_method, data_files[name]) != expected:
            tampered = True
    if tampered:
        raise XadesError("tampered_data_file", "a data file was altered after signing (digest mismatch)")
    if signed_properties_refs != 1:
        raise XadesError("malformed_signature", "SignedProperties must be referenced exactly once")
    if referenced != set(data_files):
        raise XadesError("unreferenced_data_file", "the container holds a data file the signature does not cover")

    certificates = signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", ns)
    if not certificates:
        raise XadesError("malformed_signature", "signature carries no signer certificate")
    try:
        parsed = [x509.load_der_x509_certificate(_b64(c.text, "X509Certificate")) for c in certificates]
    except ValueError as exc:
        if isinstance(exc, XadesError):
            raise
        raise XadesError("malformed_signature", "signer certificate cannot be parsed") from None
    signer = parsed[0]
    value = _b64(_one(signature, "ds:SignatureValue", "SignatureValue").text, "SignatureValue")
    _verify_signature_value(signer, method_uri, canonicalize(signed_info, c14n_uri), value)
    _check_signing_certificate(signed_properties, signer)
    signing_time = _parse_time(
        signed_properties.findtext("xades:SignedSignatureProperties/xades:SigningTime", namespaces=ns)
    )
    unsigned = _unsigned_material(qualifying, _one(signature, "ds:SignatureValue", "SignatureValue"))
    return SignatureCheck(signature_id, signer, tuple(parsed[1:]), signing_time, *unsigned)


class _Malformed(Exception):
    """Unsigned material that cannot be read; collected as a flag, never raised to the caller."""


def _unsigned_b64(element: etree._Element) -> bytes:
    try:
        data = base64.b64decode("".join((element.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise _Malformed from None
    if not data:
        raise _Malformed
    return data


def _unsigned_material(
    qualifying: etree._Element, signature_value: etree._Element
) -> tuple[tuple[EmbeddedTimeStamp, ...], tuple[bytes, ...], tuple[x509.Certificate, ...], bool]:
    """(time-stamps, OCSP responses, certificates, malformed) from ``UnsignedSignatureProperties``."""
    ns = {"ds": DS, "xades": XADES}
    containers = qualifying.findall("xades:UnsignedProperties/xades:UnsignedSignatureProperties", ns)
    if not containers:
        return (), (), (), False
    try:
        if len(containers) != 1 or len(qualifying.findall("xades:UnsignedProperties", ns)) != 1:
            raise _Malformed
        properties = containers[0]
        timestamps: list[EmbeddedTimeStamp] = []
        for stamp in properties.findall("xades:SignatureTimeStamp", ns):
            methods = stamp.findall("ds:CanonicalizationMethod", ns)
            if len(methods) > 1:
                raise _Malformed
            c14n = (methods[0].get("Algorithm") if methods else None) or DEFAULT_TIMESTAMP_C14N
            if c14n not in CANONICALIZATIONS:
                raise _Malformed
            covered = canonicalize(signature_value, c14n)
            tokens = stamp.findall("xades:EncapsulatedTimeStamp", ns)
            if not tokens:
                raise _Malformed
            timestamps.extend(EmbeddedTimeStamp(_unsigned_b64(token), covered) for token in tokens)
        ocsps = [_unsigned_b64(v) for v in properties.findall(
            "xades:RevocationValues/xades:OCSPValues/xades:EncapsulatedOCSPValue", ns)]
        certificates = [
            x509.load_der_x509_certificate(_unsigned_b64(v))
            for v in properties.findall("xades:CertificateValues/xades:EncapsulatedX509Certificate", ns)
        ]
        if max(len(timestamps), len(ocsps), len(certificates)) > MAX_UNSIGNED_ITEMS:
            raise _Malformed
    except (_Malformed, ValueError):  # ValueError: an unparsable certificate
        return (), (), (), True
    return tuple(timestamps), tuple(ocsps), tuple(certificates), False


def verify_signature_file(document: bytes, data_files: dict[str, bytes]) -> list[SignatureCheck]:
    """Verify every ``ds:Signature`` in one ``signatures*.xml``; raise :class:`XadesError` on the first failure."""
    from dsar_pipeline.signatures.safe_xml import XmlError, parse_xml

    try:
        root = parse_xml(document)
    except XmlError as exc:
        raise XadesError("malformed_signature", str(exc)) from None
    if root.tag == _q(DS, "Signature"):
        signatures = [root]
    elif any(root.tag == _q(ns, "XAdESSignatures") for ns in ASIC_NAMESPACES):
        signatures = root.findall(_q(DS, "Signature"))
    else:
        raise XadesError("malformed_signature", "signature file has an unexpected root element")
    if not signatures or len(signatures) > MAX_SIGNATURES_PER_FILE:
        raise XadesError("malformed_signature", "signature file holds no or too many signatures")
    ids = _ids(root)
    return [_verify_one(signature, ids, data_files) for signature in signatures]


__all__ = [
    "CANONICALIZATIONS",
    "DIGESTS",
    "SIGNATURE_METHODS",
    "EmbeddedTimeStamp",
    "SignatureCheck",
    "XadesError",
    "canonicalize",
    "verify_signature_file",
]
