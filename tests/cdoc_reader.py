"""A CDOC 1.1 reader on `cryptography` + `lxml` alone: what the tests use to prove a container opens.

Written apart from the writer (its own XML walk, its own ConcatKDF on hashlib) so that a shared
misreading of the format does not cancel out. It handles what `cdoc.write_cdoc` and the open-eid
implementations write: AES-GCM (128/192/256) content, EC recipients (ECDH-ES + ConcatKDF + AES key
wrap) and RSA recipients (PKCS#1 v1.5), single files and DDOC containers. It holds the whole
container in memory, like DigiDoc4 does: for tests and checks, not for the delivery path.
"""

from __future__ import annotations

import base64
import hashlib
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from lxml import etree

DENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
DDOC_MIMES = ("http://www.sk.ee/DigiDoc/v1.3.0/digidoc.xsd", "http://www.sk.ee/DigiDoc/1.3.0/digidoc.xsd")
GCM_METHODS = {"http://www.w3.org/2009/xmlenc11#aes128-gcm": 16, "http://www.w3.org/2009/xmlenc11#aes192-gcm": 24,
               "http://www.w3.org/2009/xmlenc11#aes256-gcm": 32}
DIGESTS = {"http://www.w3.org/2001/04/xmlenc#sha256": "sha256", "http://www.w3.org/2001/04/xmlenc#sha384": "sha384",
           "http://www.w3.org/2001/04/xmlenc#sha512": "sha512"}
CURVES: dict[str, ec.EllipticCurve] = {"urn:oid:1.2.840.10045.3.1.7": ec.SECP256R1(),
                                       "urn:oid:1.3.132.0.34": ec.SECP384R1(), "urn:oid:1.3.132.0.35": ec.SECP521R1()}
NS = {"denc": DENC, "ds": DS, "xenc11": XENC11, "dsig11": DSIG11}

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CdocDecryptError(ValueError):
    """The container does not open with this key (no matching recipient, wrong key, or tampering)."""


def concat_kdf(digest: str, z: bytes, other_info: bytes, length: int) -> bytes:
    """NIST SP 800-56A single-step KDF: Hash(counter32 || Z || OtherInfo) repeated."""
    out = b""
    counter = 1
    while len(out) < length:
        out += hashlib.new(digest, counter.to_bytes(4, "big") + z + other_info).digest()
        counter += 1
    return out[:length]


def _bitstring(value: str) -> bytes:
    """ConcatKDFParams attributes: hex with a leading padding-bits byte (must be 00)."""
    raw = bytes.fromhex(value)
    if not raw or raw[0] != 0:
        raise CdocDecryptError("cdoc: ConcatKDF parameter without its 00 padding byte")
    return raw[1:]


def _spki(key: PrivateKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _unwrap_content_key(encrypted_key: etree._Element, private_key: PrivateKey) -> bytes:
    method = encrypted_key.find("denc:EncryptionMethod", NS).get("Algorithm")
    cipher_value = base64.b64decode(encrypted_key.findtext("denc:CipherData/denc:CipherValue", namespaces=NS))
    if method == "http://www.w3.org/2001/04/xmlenc#rsa-1_5":
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise CdocDecryptError("cdoc: an RSA recipient needs an RSA key")
        try:
            return private_key.decrypt(cipher_value, padding.PKCS1v15())
        except ValueError:
            raise CdocDecryptError("cdoc: the content key does not decrypt with this key") from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise CdocDecryptError("cdoc: an EC recipient needs an EC key")
    agreement = encrypted_key.find("ds:KeyInfo/denc:AgreementMethod", NS)
    if agreement is None or agreement.get("Algorithm") != "http://www.w3.org/2009/xmlenc11#ECDH-ES":
        raise CdocDecryptError("cdoc: unsupported key agreement")
    derivation = agreement.find("xenc11:KeyDerivationMethod", NS)
    if derivation is None or derivation.get("Algorithm") != "http://www.w3.org/2009/xmlenc11#ConcatKDF":
        raise CdocDecryptError("cdoc: unsupported key derivation")
    params = derivation.find("xenc11:ConcatKDFParams", NS)
    digest = DIGESTS[params.find("ds:DigestMethod", NS).get("Algorithm")]
    other_info = b"".join(_bitstring(params.get(name)) for name in ("AlgorithmID", "PartyUInfo", "PartyVInfo"))
    curve = CURVES[agreement.find("denc:OriginatorKeyInfo/ds:KeyValue/dsig11:ECKeyValue/dsig11:NamedCurve",
                                  NS).get("URI")]
    point = base64.b64decode(agreement.findtext(
        "denc:OriginatorKeyInfo/ds:KeyValue/dsig11:ECKeyValue/dsig11:PublicKey", namespaces=NS))
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    if type(private_key.curve) is not type(curve):
        raise CdocDecryptError("cdoc: the key is on another curve")
    shared = private_key.exchange(ec.ECDH(), ephemeral)
    sizes = {"http://www.w3.org/2001/04/xmlenc#kw-aes128": 16, "http://www.w3.org/2001/04/xmlenc#kw-aes192": 24,
             "http://www.w3.org/2001/04/xmlenc#kw-aes256": 32}
    if method not in sizes:
        raise CdocDecryptError("cdoc: unsupported key wrap")
    kek = concat_kdf(digest, shared, other_info, sizes[method])
    try:
        return aes_key_unwrap(kek, cipher_value)
    except InvalidUnwrap:
        raise CdocDecryptError("cdoc: the content key does not unwrap with this key") from None


def _recipient_certificate(encrypted_key: etree._Element) -> x509.Certificate | None:
    text = encrypted_key.findtext(".//ds:X509Certificate", namespaces=NS)
    return x509.load_der_x509_certificate(base64.b64decode(text)) if text else None


def parse(source: bytes | BinaryIO) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)
    if isinstance(source, bytes | bytearray):
        return etree.ElementTree(etree.fromstring(bytes(source), parser))
    return etree.parse(source, parser)


def properties(tree: etree._ElementTree) -> list[tuple[str, str]]:
    """The EncryptionProperties as (Name, text) pairs, in document order."""
    return [(p.get("Name"), p.text or "") for p in tree.getroot().iterfind(
        "denc:EncryptionProperties/denc:EncryptionProperty", NS)]


def decrypt_cdoc(source: bytes | BinaryIO, private_key: PrivateKey, *,
                 match_certificate: bool = True) -> list[tuple[str, bytes]]:
    """The files of a CDOC 1.x container as (name, content), opened with `private_key`.

    With `match_certificate` (the default) only the recipient whose certificate carries this key is
    tried; without it every recipient is tried, which proves a wrong key fails cryptographically.
    """
    tree = parse(source)
    root = tree.getroot()
    if root.tag != f"{{{DENC}}}EncryptedData":
        raise CdocDecryptError("cdoc: not an EncryptedData document")
    key_size = GCM_METHODS.get(root.find("denc:EncryptionMethod", NS).get("Algorithm"))
    if key_size is None:
        raise CdocDecryptError("cdoc: unsupported content encryption (only AES-GCM is read here)")
    candidates = root.findall("ds:KeyInfo/denc:EncryptedKey", NS)
    if match_certificate:
        mine = _spki(private_key)
        candidates = [k for k in candidates
                      if (cert := _recipient_certificate(k)) is not None and _spki(cert.public_key()) == mine]
        if not candidates:
            raise CdocDecryptError("cdoc: no recipient of this container holds this key")
    content_key = None
    for encrypted_key in candidates:
        try:
            content_key = _unwrap_content_key(encrypted_key, private_key)
            break
        except CdocDecryptError:
            continue
    if content_key is None or len(content_key) != key_size:
        raise CdocDecryptError("cdoc: the content key does not open with this key")
    blob = base64.b64decode(root.findtext("denc:CipherData/denc:CipherValue", namespaces=NS))
    try:
        payload = AESGCM(content_key).decrypt(blob[:12], blob[12:], None)
    except InvalidTag:
        raise CdocDecryptError("cdoc: the content fails authentication") from None
    props = dict(properties(tree))
    if root.get("MimeType") in DDOC_MIMES:
        ddoc = etree.fromstring(payload, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
        return [(f.get("Filename"), base64.b64decode(f.text or "")) for f in ddoc.iter("{*}DataFile")]
    return [(props.get("Filename", ""), payload)]
