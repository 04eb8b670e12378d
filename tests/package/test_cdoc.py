"""CDOC 1.1: written to an EC P-384 or RSA certificate, opened with the matching key only."""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import os
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.x509.oid import NameOID

from dsar_pipeline.formats.cdoc import CdocError, write_cdoc
from dsar_pipeline.sealing.encrypted_staging import EncryptedStaging
from dsar_pipeline.sealing.keys import LocalKeyProvider
from tests.cdoc_reader import NS, CdocDecryptError, concat_kdf, decrypt_cdoc, parse, properties

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _certificate(key: Key | ed25519.Ed25519PrivateKey, ca_key: ec.EllipticCurvePrivateKey,
                 common_name: str) -> bytes:
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOEE-38001085718")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST of DSAR ID-card CA")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1825))
            .sign(ca_key, hashes.SHA384()))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def ca_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def ec_recipient(ca_key: ec.EllipticCurvePrivateKey) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP384R1())  # Estonian ID cards: ECC P-384
    return key, _certificate(key, ca_key, "TAMM,JAAN,38001085718")


@pytest.fixture(scope="module")
def rsa_recipient(ca_key: ec.EllipticCurvePrivateKey) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, _certificate(key, ca_key, "KASK,MARI,48001010007")


def _opener(data: bytes) -> Callable[[], AbstractContextManager[BinaryIO]]:
    @contextmanager
    def open_it() -> Iterator[BinaryIO]:
        yield io.BytesIO(data)
    return open_it


def _cdoc(files: dict[str, bytes], cert_der: bytes) -> bytes:
    out = io.BytesIO()
    write_cdoc([(name, _opener(data)) for name, data in files.items()], cert_der, out)
    return out.getvalue()


def test_single_file_to_an_ec_p384_certificate(ec_recipient: tuple[ec.EllipticCurvePrivateKey, bytes]) -> None:
    key, cert_der = ec_recipient
    data = os.urandom(100_003)
    blob = _cdoc({"dsar-package.zip": data}, cert_der)
    assert decrypt_cdoc(blob, key) == [("dsar-package.zip", data)]
    assert blob.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')

    root = parse(blob).getroot()
    assert root.tag == "{http://www.w3.org/2001/04/xmlenc#}EncryptedData"
    assert root.get("MimeType") == "application/octet-stream"
    assert root.find("denc:EncryptionMethod", NS).get("Algorithm") == "http://www.w3.org/2009/xmlenc11#aes256-gcm"
    (encrypted_key,) = root.findall("ds:KeyInfo/denc:EncryptedKey", NS)
    assert encrypted_key.get("Recipient") == "TAMM,JAAN,38001085718"
    assert encrypted_key.find("denc:EncryptionMethod", NS).get("Algorithm") == \
        "http://www.w3.org/2001/04/xmlenc#kw-aes256"
    agreement = encrypted_key.find("ds:KeyInfo/denc:AgreementMethod", NS)
    assert agreement.get("Algorithm") == "http://www.w3.org/2009/xmlenc11#ECDH-ES"
    derivation = agreement.find("xenc11:KeyDerivationMethod", NS)
    assert derivation.get("Algorithm") == "http://www.w3.org/2009/xmlenc11#ConcatKDF"
    params = derivation.find("xenc11:ConcatKDFParams", NS)
    point = base64.b64decode(agreement.findtext(
        "denc:OriginatorKeyInfo/ds:KeyValue/dsig11:ECKeyValue/dsig11:PublicKey", namespaces=NS))
    assert len(point) == 97 and point[0] == 4  # uncompressed P-384 point
    assert params.get("AlgorithmID") == "00" + b"ENCDOC-XML|1.1".hex()
    assert params.get("PartyUInfo") == "00" + point.hex()
    assert params.get("PartyVInfo") == "00" + cert_der.hex()
    assert params.find("ds:DigestMethod", NS).get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha384"
    assert agreement.find("denc:OriginatorKeyInfo/ds:KeyValue/dsig11:ECKeyValue/dsig11:NamedCurve",
                          NS).get("URI") == "urn:oid:1.3.132.0.34"
    assert base64.b64decode(agreement.findtext("denc:RecipientKeyInfo/ds:X509Data/ds:X509Certificate",
                                               namespaces=NS)) == cert_der
    props = properties(parse(blob))
    assert ("DocumentFormat", "ENCDOC-XML|1.1") in props
    assert ("Filename", "dsar-package.zip") in props
    assert ("OriginalMimeType", "application/octet-stream") in props
    assert ("orig_file", f"dsar-package.zip|{len(data)}|application/octet-stream|D0") in props
    assert data[:32] not in blob and base64.b64encode(data[:30]) not in blob


def test_several_files_go_into_a_ddoc(ec_recipient: tuple[ec.EllipticCurvePrivateKey, bytes]) -> None:
    key, cert_der = ec_recipient
    files = {"letter/letter-et.html": "<p>Lugupeetud klient, õäöü</p>".encode(),
             "export/csv/billing/contacts.csv": os.urandom(70_001), "empty.txt": b"", "a&b<c>.txt": b"xml-special"}
    blob = _cdoc(files, cert_der)
    got = decrypt_cdoc(blob, key)
    assert got == [(name.replace("/", "_"), data) for name, data in files.items()]
    root = parse(blob).getroot()
    assert root.get("MimeType") == "http://www.sk.ee/DigiDoc/v1.3.0/digidoc.xsd"
    props = properties(parse(blob))
    assert ("Filename", "package.ddoc") in props
    assert [v for n, v in props if n == "orig_file"] == [
        f"{name.replace('/', '_')}|{len(data)}|application/octet-stream|D{i}"
        for i, (name, data) in enumerate(files.items())]


def test_rsa_certificate_single_and_several(rsa_recipient: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, cert_der = rsa_recipient
    single = _cdoc({"report.html": b"<html>report</html>"}, cert_der)
    assert decrypt_cdoc(single, key) == [("report.html", b"<html>report</html>")]
    (encrypted_key,) = parse(single).getroot().findall("ds:KeyInfo/denc:EncryptedKey", NS)
    assert encrypted_key.find("denc:EncryptionMethod", NS).get("Algorithm") == \
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
    assert base64.b64decode(encrypted_key.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                                                   namespaces=NS)) == cert_der
    several = _cdoc({"a.txt": b"A" * 1000, "b.txt": b"B"}, cert_der)
    assert decrypt_cdoc(several, key) == [("a.txt", b"A" * 1000), ("b.txt", b"B")]


def test_another_ec_key_cannot_open_it(ec_recipient: tuple[ec.EllipticCurvePrivateKey, bytes]) -> None:
    _, cert_der = ec_recipient
    blob = _cdoc({"a.txt": b"secret"}, cert_der)
    other = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(CdocDecryptError, match="no recipient"):
        decrypt_cdoc(blob, other)
    with pytest.raises(CdocDecryptError, match="does not open"):  # and not by cryptography either
        decrypt_cdoc(blob, other, match_certificate=False)


def test_another_rsa_key_cannot_open_it(rsa_recipient: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    _, cert_der = rsa_recipient
    blob = _cdoc({"a.txt": b"secret"}, cert_der)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CdocDecryptError, match="no recipient"):
        decrypt_cdoc(blob, other)
    with pytest.raises(CdocDecryptError):
        decrypt_cdoc(blob, other, match_certificate=False)


def test_tampered_ciphertext_fails(ec_recipient: tuple[ec.EllipticCurvePrivateKey, bytes]) -> None:
    key, cert_der = ec_recipient
    blob = _cdoc({"a.txt": b"A" * 3000}, cert_der).decode()
    start = blob.rindex("<denc:CipherData><denc:CipherValue>") + 40  # the payload's, after the recipients
    flipped = blob[:start] + ("B" if blob[start] != "B" else "C") + blob[start + 1:]
    with pytest.raises(CdocDecryptError, match="authentication"):
        decrypt_cdoc(flipped.encode(), key)


def test_our_concat_kdf_matches_the_standard_one() -> None:
    z, info = os.urandom(48), os.urandom(600)
    assert concat_kdf("sha384", z, info, 32) == ConcatKDFHash(hashes.SHA384(), 32, info).derive(z)


def test_unusable_inputs_are_refused(ca_key: ec.EllipticCurvePrivateKey,
                                     ec_recipient: tuple[ec.EllipticCurvePrivateKey, bytes]) -> None:
    _, cert_der = ec_recipient
    with pytest.raises(CdocError, match="nothing to encrypt"):
        write_cdoc([], cert_der, io.BytesIO())
    with pytest.raises(CdocError, match="not a DER"):
        write_cdoc([("a", _opener(b"x"))], b"not a certificate", io.BytesIO())
    ed_cert = _certificate(ed25519.Ed25519PrivateKey.generate(), ca_key, "ED,KEY,1")
    with pytest.raises(CdocError, match="neither an EC nor an RSA"):
        write_cdoc([("a", _opener(b"x"))], ed_cert, io.BytesIO())
    with pytest.raises(CdocError, match="same name"):
        write_cdoc([("a/b", _opener(b"x")), ("a_b", _opener(b"y"))], cert_der, io.BytesIO())


def test_staged_files_are_streamed_once_each(tmp_path: Path,
                                             ec_recipient: tuple[ec.EllipticCurvePrivateKey, bytes]) -> None:
    """From the encrypted staging: sizes come from the envelopes, so each file is decrypted once."""
    key, cert_der = ec_recipient
    staging = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "k"), "req-cdoc")
    contents = {"letter.html": b"<p>Tere</p>" * 100, "export/consumption.csv": os.urandom(3 * 1024 * 1024 + 5)}
    for name, data in contents.items():
        with staging.create(name) as handle:
            handle.write(data)
    calls: list[str] = []

    def opener(name: str) -> Callable[[], AbstractContextManager[BinaryIO]]:
        def open_it() -> AbstractContextManager[BinaryIO]:
            calls.append(name)
            return staging.open(name)
        return open_it

    out_path = tmp_path / "package.cdoc"
    with out_path.open("wb") as out:
        write_cdoc([(f.name, opener(f.name)) for f in staging.files()], cert_der, out)
    assert calls == ["letter.html", "export/consumption.csv"]
    got = decrypt_cdoc(out_path.read_bytes(), key)
    assert [(n, hashlib.sha256(d).hexdigest()) for n, d in got] == \
        [(n.replace("/", "_"), hashlib.sha256(d).hexdigest()) for n, d in contents.items()]


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.count += len(data)
        return len(data)


@pytest.mark.parametrize("files", [1, 2])
def test_memory_does_not_grow_with_the_payload(ec_recipient: tuple[ec.EllipticCurvePrivateKey, bytes],
                                               files: int) -> None:
    _, cert_der = ec_recipient
    size = 40 * 1024 * 1024 // files
    sink = _Sink()
    tracemalloc.start()
    try:
        write_cdoc([(f"f{i}.bin", lambda: _Zeros(size)) for i in range(files)], cert_der, sink)  # type: ignore[misc]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.count > 40 * 1024 * 1024 * 4 // 3
    assert peak < 12 * 1024 * 1024, f"peak {peak} bytes for a 40 MiB payload"
