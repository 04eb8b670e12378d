"""CDOC 1.1 ("ENCDOC-XML|1.1"): the Estonian encrypted container that DigiDoc4 opens with an ID card.

Why our own writer: `pycdoc` wraps the native libcdoc and fetches certificates over LDAP; the package
already has the recipient's certificate from the signed request, and needs a streaming writer that
never holds the package in memory. The format follows SK's CDOC 1.1 specification as the open-eid
implementations write it (libcdoc `CDoc1Writer`, cdoc4j `XmlEnc11Composer`):

    <denc:EncryptedData MimeType="application/octet-stream" | DDOC mime>
      <denc:EncryptionMethod Algorithm="…xmlenc11#aes256-gcm"/>
      <ds:KeyInfo>
        <denc:EncryptedKey Recipient="<certificate CN>">        one per recipient certificate
          EC:  EncryptionMethod kw-aes256; ds:KeyInfo/denc:AgreementMethod ECDH-ES with
               xenc11:KeyDerivationMethod ConcatKDF (ConcatKDFParams AlgorithmID="00"+hex("ENCDOC-XML|1.1"),
               PartyUInfo="00"+hex(ephemeral public point, uncompressed), PartyVInfo="00"+hex(certificate DER),
               ds:DigestMethod sha384), denc:OriginatorKeyInfo (dsig11:ECKeyValue: NamedCurve urn:oid, PublicKey),
               denc:RecipientKeyInfo (ds:X509Data); CipherValue = AES key wrap (RFC 3394) of the content key
               under ConcatKDF-SHA384(Z, AlgorithmID || PartyUInfo || PartyVInfo)
          RSA: EncryptionMethod rsa-1_5; ds:KeyInfo/ds:X509Data; CipherValue = RSA PKCS#1 v1.5 of the key
        </denc:EncryptedKey>
      </ds:KeyInfo>
      <denc:CipherData><denc:CipherValue>base64(IV 12 bytes || AES-256-GCM ciphertext || tag 16 bytes)
      <denc:EncryptionProperties>  LibraryVersion, DocumentFormat, Filename, OriginalMimeType,
                                   orig_file "name|size|mime|D<i>" per file

One file is encrypted as it is. Several files go into a DIGIDOC-XML 1.3 container (`SignedDoc` of
`DataFile`s, EMBEDDED_BASE64), MimeType "http://www.sk.ee/DigiDoc/v1.3.0/digidoc.xsd", as both
reference implementations do. File names are flattened ('/' and '|' become '_'): DigiDoc4 saves each
file under its name, and '|' separates the fields of `orig_file`.

Streaming: file bytes → (DDOC base64 framing) → AES-GCM → base64 → XML, chunk by chunk; memory stays
at a few chunks whatever the payload size. Readers (DigiDoc4/libcdoc) do load the whole container
into memory when decrypting: a CDOC of a very large package is heavy for the recipient's computer.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from cryptography.x509.oid import NameOID
from lxml import etree

DENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
DDOC_NS = "http://www.sk.ee/DigiDoc/v1.3.0#"

AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
KW_AES256 = "http://www.w3.org/2001/04/xmlenc#kw-aes256"
RSA_1_5 = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
ECDH_ES = "http://www.w3.org/2009/xmlenc11#ECDH-ES"
CONCAT_KDF = "http://www.w3.org/2009/xmlenc11#ConcatKDF"
SHA384 = "http://www.w3.org/2001/04/xmlenc#sha384"
DOCUMENT_FORMAT = "ENCDOC-XML|1.1"
DDOC_MIME = "http://www.sk.ee/DigiDoc/v1.3.0/digidoc.xsd"
OCTET_STREAM = "application/octet-stream"
LIBRARY_VERSION = "dsar-pipeline|0.1"
CURVE_OIDS = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34", "secp521r1": "1.3.132.0.35"}

GCM_IV_BYTES = 12
_READ = 1 << 20  # plaintext read size; a multiple of 3 keeps base64 pieces aligned without carry
_READ -= _READ % 3

FileOpener = Callable[[], AbstractContextManager[BinaryIO]]


class CdocError(ValueError):
    """The container cannot be written (unsupported certificate, bad input); no personal data in messages."""


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def safe_name(name: str) -> str:
    """The name DigiDoc4 will save the file under: path and field separators flattened, no control chars."""
    flat = re.sub(r"[/\\|\x00-\x1f\x7f]", "_", name).strip()
    if not flat or flat in (".", ".."):
        raise CdocError("cdoc: a file name is empty after flattening")
    return flat


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _recipient_key(cert: x509.Certificate, cert_der: bytes, content_key: bytes) -> etree._Element:
    """One `denc:EncryptedKey` giving `content_key` to the holder of the certificate's private key."""
    public = cert.public_key()
    encrypted_key = etree.Element(_q(DENC, "EncryptedKey"), nsmap={"denc": DENC, "ds": DS},
                                  attrib={"Recipient": _common_name(cert)})
    if isinstance(public, ec.EllipticCurvePublicKey):
        oid = CURVE_OIDS.get(public.curve.name)
        if oid is None:
            raise CdocError("cdoc: unsupported elliptic curve in the recipient certificate")
        ephemeral = ec.generate_private_key(public.curve)
        shared = ephemeral.exchange(ec.ECDH(), public)
        party_u = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint)
        algorithm_id = DOCUMENT_FORMAT.encode()
        kek = ConcatKDFHash(algorithm=hashes.SHA384(), length=32,
                            otherinfo=algorithm_id + party_u + cert_der).derive(shared)
        cipher_value = aes_key_wrap(kek, content_key)
        etree.SubElement(encrypted_key, _q(DENC, "EncryptionMethod"), Algorithm=KW_AES256)
        key_info = etree.SubElement(encrypted_key, _q(DS, "KeyInfo"))
        agreement = etree.SubElement(key_info, _q(DENC, "AgreementMethod"), Algorithm=ECDH_ES)
        derivation = etree.SubElement(agreement, _q(XENC11, "KeyDerivationMethod"), nsmap={"xenc11": XENC11},
                                      Algorithm=CONCAT_KDF)
        params = etree.SubElement(derivation, _q(XENC11, "ConcatKDFParams"), AlgorithmID="00" + algorithm_id.hex(),
                                  PartyUInfo="00" + party_u.hex(), PartyVInfo="00" + cert_der.hex())
        etree.SubElement(params, _q(DS, "DigestMethod"), Algorithm=SHA384)
        originator = etree.SubElement(agreement, _q(DENC, "OriginatorKeyInfo"))
        key_value = etree.SubElement(originator, _q(DS, "KeyValue"))
        ec_key_value = etree.SubElement(key_value, _q(DSIG11, "ECKeyValue"), nsmap={"dsig11": DSIG11})
        etree.SubElement(ec_key_value, _q(DSIG11, "NamedCurve"), URI=f"urn:oid:{oid}")
        etree.SubElement(ec_key_value, _q(DSIG11, "PublicKey")).text = base64.b64encode(party_u).decode()
        recipient_info = etree.SubElement(agreement, _q(DENC, "RecipientKeyInfo"))
        x509_data = etree.SubElement(recipient_info, _q(DS, "X509Data"))
        etree.SubElement(x509_data, _q(DS, "X509Certificate")).text = base64.b64encode(cert_der).decode()
    elif isinstance(public, rsa.RSAPublicKey):
        cipher_value = public.encrypt(content_key, padding.PKCS1v15())
        etree.SubElement(encrypted_key, _q(DENC, "EncryptionMethod"), Algorithm=RSA_1_5)
        key_info = etree.SubElement(encrypted_key, _q(DS, "KeyInfo"))
        x509_data = etree.SubElement(key_info, _q(DS, "X509Data"))
        etree.SubElement(x509_data, _q(DS, "X509Certificate")).text = base64.b64encode(cert_der).decode()
    else:
        raise CdocError("cdoc: the recipient certificate has neither an EC nor an RSA key")
    cipher_data = etree.SubElement(encrypted_key, _q(DENC, "CipherData"))
    etree.SubElement(cipher_data, _q(DENC, "CipherValue")).text = base64.b64encode(cipher_value).decode()
    return encrypted_key


class _Base64Stream:
    """Base64 of a byte stream fed in pieces: a carry of < 3 bytes keeps the pieces joinable."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit
        self._carry = b""

    def feed(self, data: bytes) -> None:
        if self._carry:
            data = self._carry + data
        cut = len(data) - len(data) % 3
        self._carry = data[cut:]
        if cut:
            self._emit(base64.b64encode(data[:cut] if cut < len(data) else data))

    def finish(self) -> None:
        if self._carry:
            self._emit(base64.b64encode(self._carry))
            self._carry = b""


def _write_all(out: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = out.write(view)
        if written is None or written >= len(view):
            return
        view = view[written:]


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        data = stream.read(_READ)
        if not data:
            return
        yield data


def _known_size(stream: BinaryIO) -> int | None:
    """Plaintext size if the stream knows it (our envelope readers do) or can seek; None otherwise."""
    size = getattr(stream, "plaintext_size", None)
    if isinstance(size, int):
        return size
    try:
        if stream.seekable():
            here = stream.tell()
            end = stream.seek(0, 2)
            stream.seek(here)
            return end - here
    except (OSError, AttributeError):
        pass
    return None


def _counted_size(opener: FileOpener) -> int:
    with opener() as stream:
        return sum(len(chunk) for chunk in _chunks(stream))


def write_cdoc(files: list[tuple[str, Callable[[], AbstractContextManager[BinaryIO]]]], recipient_cert_der: bytes,
               out: BinaryIO, *, container_name: str = "package.ddoc") -> None:
    """Write a CDOC 1.1 container of `files` (name, opener) to `out`, encrypted to the certificate's holder.

    Each opener is called once (twice in a multi-file container if its stream neither knows its size
    nor can seek) and must yield the same bytes every time. `container_name` is the name shown for the DDOC
    of a multi-file container.
    """
    if not files:
        raise CdocError("cdoc: nothing to encrypt")
    names = [safe_name(name) for name, _ in files]
    if len(set(names)) != len(names):
        raise CdocError("cdoc: two files have the same name after flattening")
    try:
        cert = x509.load_der_x509_certificate(recipient_cert_der)
    except ValueError:
        raise CdocError("cdoc: the recipient certificate is not a DER X.509 certificate") from None
    multi = len(files) > 1
    mime = DDOC_MIME if multi else OCTET_STREAM
    content_key = secrets.token_bytes(32)
    iv = secrets.token_bytes(GCM_IV_BYTES)
    key_info = etree.Element(_q(DS, "KeyInfo"), nsmap={"ds": DS})
    key_info.append(_recipient_key(cert, recipient_cert_der, content_key))
    sizes: list[int] = []

    out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')  # the declaration as the reference writers put it
    with etree.xmlfile(out, encoding="UTF-8") as xf, \
            xf.element(_q(DENC, "EncryptedData"), nsmap={"denc": DENC}, MimeType=mime):
        with xf.element(_q(DENC, "EncryptionMethod"), Algorithm=AES256_GCM):
            pass
        xf.write(key_info)
        with xf.element(_q(DENC, "CipherData")), xf.element(_q(DENC, "CipherValue")):
            # base64 needs no escaping: once lxml has flushed the start tag, the text goes straight to `out`
            # (through lxml it would be decoded, re-encoded, and kept in lxml's buffer until the end)
            xf.flush()
            outer = _Base64Stream(lambda piece: _write_all(out, piece))
            outer.feed(iv)
            encryptor = Cipher(algorithms.AES(content_key), modes.GCM(iv)).encryptor()

            def seal(plain: bytes) -> None:
                outer.feed(encryptor.update(plain))

            if multi:
                _write_ddoc(files, names, seal, sizes)
            else:
                sizes.append(_stream_file(files[0][1], seal))
            outer.feed(encryptor.finalize() + encryptor.tag)
            outer.finish()
        properties = etree.Element(_q(DENC, "EncryptionProperties"), nsmap={"denc": DENC})
        for prop, value in [("LibraryVersion", LIBRARY_VERSION), ("DocumentFormat", DOCUMENT_FORMAT),
                            ("Filename", safe_name(container_name) if multi else names[0]),
                            ("OriginalMimeType", mime)]:
            etree.SubElement(properties, _q(DENC, "EncryptionProperty"), Name=prop).text = value
        for index, (name, size) in enumerate(zip(names, sizes, strict=True)):
            etree.SubElement(properties, _q(DENC, "EncryptionProperty"),
                             Name="orig_file").text = f"{name}|{size}|{OCTET_STREAM}|D{index}"
        xf.write(properties)
    out.flush()


def _stream_file(opener: FileOpener, sink: Callable[[bytes], None]) -> int:
    size = 0
    with opener() as stream:
        for chunk in _chunks(stream):
            size += len(chunk)
            sink(chunk)
    return size


def _write_ddoc(files: list[tuple[str, FileOpener]], names: list[str], seal: Callable[[bytes], None],
                sizes: list[int]) -> None:
    """DIGIDOC-XML 1.3 framing of several files, streamed into `seal` (the GCM encryptor)."""
    seal(f'<?xml version="1.0" encoding="UTF-8"?>\n<SignedDoc xmlns="{DDOC_NS}" format="DIGIDOC-XML" '
         f'version="1.3">\n'.encode())
    for index, ((_, opener), name) in enumerate(zip(files, names, strict=True)):
        with opener() as stream:
            size = _known_size(stream)
            if size is None:  # the DataFile tag carries the size before the content: count in a first pass
                size = _counted_size(opener)
            seal(f'<DataFile ContentType="EMBEDDED_BASE64" Filename="{html.escape(name, quote=True)}" '
                 f'Id="D{index}" MimeType="{OCTET_STREAM}" Size="{size}">'.encode())
            inner = _Base64Stream(seal)
            streamed = 0
            for chunk in _chunks(stream):
                streamed += len(chunk)
                inner.feed(chunk)
            inner.finish()
        if streamed != size:
            raise CdocError("cdoc: a file changed size while it was being encrypted")
        sizes.append(size)
        seal(b"</DataFile>\n")
    seal(b"</SignedDoc>\n")

