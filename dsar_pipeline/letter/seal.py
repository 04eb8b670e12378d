"""Seal the PDF letter with the controller's e-seal: a PAdES baseline signature (B-B) made by pyHanko.

Why a seal: the letter is the controller's formal answer under Art. 15. Sealed, anyone the person
shows it to can check, with an ordinary PDF reader or any PAdES validator, that it comes from the
controller named in the seal certificate and that not one byte changed since. The seal is a
*certification* signature that permits no changes (DocMDP level 1): an annotation or a form fill
added later breaks it too, not only an edited page.

Where the seal comes from: the directory named by ``DSAR_LETTER_SEAL_DIR``
(:func:`dsar_pipeline.settings.letter_seal_dir`) holds, per controller id, ``<id>.crt.pem`` (the seal
certificate), ``<id>.key.pem`` (its unencrypted private key: protect the directory, 0700) and
optionally ``<id>.chain.pem`` (the issuing CA certificates, embedded so that a validator can build
the path). Production must set it; the embedded default gets one from the harness (the sandbox's
e-seal CA). Errors name the setting and the file, never key material.

Not done here: a time-stamp (PAdES B-T) and embedded revocation data (B-LT) — they need the trust
service's TSA and OCSP endpoints, which are a production decision; B-B is the baseline the letter
carries until then.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pyhanko.keys import load_cert_from_pemder, load_certs_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from dsar_pipeline.sealing.keys import private_file_problem
from dsar_pipeline.settings import LETTER_SEAL_DIR

SEAL_FIELD = "ControllerSeal"
DIGEST = "sha256"
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


class _LoadedKeySigner(signers.SimpleSigner):
    """pyHanko's `SimpleSigner` with the private key parsed once.

    Why: `SimpleSigner.sign_raw` re-parses the key on every signature, and pyHanko signs twice per
    PDF (a dry run sizes the signature's placeholder); parsing an RSA key checks its primes, ~0.1 s
    each time, which was most of the seal's cost. RSA PKCS#1 v1.5 uses the parsed key; any other
    mechanism goes to pyHanko's own path.
    """

    def __init__(self, *, private_key: PrivateKeyTypes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        try:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        except ValueError:  # e.g. RSASSA-PSS, whose parameters pyHanko reads itself
            mechanism = ""
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._private_key, rsa.RSAPrivateKey):
            return self._private_key.sign(data, padding.PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        return super().sign_raw(data, digest_algorithm)


class SealError(RuntimeError):
    """The controller's seal cannot be loaded or used; one line naming the setting and the file."""


@dataclass(frozen=True)
class LetterSeal:
    """A controller's loaded e-seal: its certificate (for the record) and a signer ready to seal."""

    controller_id: str
    certificate: asn1_x509.Certificate
    signer: signers.Signer

    @property
    def subject(self) -> str:
        """The seal certificate's subject, as a person's PDF reader shows it."""
        return str(self.certificate.subject.human_friendly)


def seal_files(directory: Path, controller_id: str) -> tuple[Path, Path, Path]:
    """Certificate, key and chain file of a controller's seal in ``directory`` (the chain may be absent)."""
    if not _ID.fullmatch(controller_id):
        raise SealError("the controller id has an invalid format")  # it becomes a file name
    return (directory / f"{controller_id}.crt.pem", directory / f"{controller_id}.key.pem",
            directory / f"{controller_id}.chain.pem")


def _private_bytes(path: Path) -> bytes:
    """The seal's key, refused when others could read or replace it (as the data key file is)."""
    with path.open("rb") as handle:
        problem = private_file_problem(os.fstat(handle.fileno()))
        if problem:
            raise SealError(f"{LETTER_SEAL_DIR}: {path.name} {problem}")
        return handle.read()


_LOADED: dict[tuple[str, str], tuple[tuple[object, ...], LetterSeal]] = {}


def _fingerprint(paths: tuple[Path, ...]) -> tuple[object, ...]:
    """What changes when any of the seal's files is replaced, rewritten or re-permissioned (inode, size,
    modification and change times, mode); None for a file that is not there."""
    marks: list[object] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            marks.append(None)
            continue
        marks.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, st.st_uid))
    return tuple(marks)


def load_seal(directory: Path, controller_id: str) -> LetterSeal:
    """The controller's seal from ``directory``; `SealError` when a file is missing, unreadable or the key
    does not belong to the certificate.

    A process that seals many letters loads a seal once: loading checks the RSA key's primes and its match
    with the certificate, a twentieth of a second each time. The loaded seal is reused only while its three
    files are exactly as they were (`_fingerprint`), so a rotated key or a key file others can now read is
    seen on the next letter, as before."""
    paths = seal_files(directory, controller_id)
    fingerprint = _fingerprint(paths)
    cached = _LOADED.get((str(directory), controller_id))
    if cached is not None and cached[0] == fingerprint and None not in fingerprint[:2]:
        return cached[1]
    seal = _load_seal(directory, controller_id, paths)
    _LOADED[(str(directory), controller_id)] = (fingerprint, seal)
    return seal


def _load_seal(directory: Path, controller_id: str, paths: tuple[Path, Path, Path]) -> LetterSeal:
    cert_path, key_path, chain_path = paths
    for path in (cert_path, key_path):
        if not path.is_file():
            raise SealError(f"{LETTER_SEAL_DIR}: no {path.name} in {directory}")
    try:
        certificate = load_cert_from_pemder(str(cert_path))
    except (OSError, ValueError, TypeError) as exc:
        raise SealError(f"{LETTER_SEAL_DIR}: {cert_path.name} is not a certificate ({type(exc).__name__})") from None
    try:
        private = serialization.load_pem_private_key(_private_bytes(key_path), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SealError(f"{LETTER_SEAL_DIR}: {key_path.name} is not an unencrypted PEM private key "
                        f"({type(exc).__name__})") from None
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    if public != certificate.public_key.dump():
        raise SealError(f"{LETTER_SEAL_DIR}: {key_path.name} is not the key of {cert_path.name}")
    key = asn1_keys.PrivateKeyInfo.load(private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    try:
        chain = list(load_certs_from_pemder([str(chain_path)])) if chain_path.is_file() else []
    except (OSError, ValueError, TypeError) as exc:
        raise SealError(f"{LETTER_SEAL_DIR}: {chain_path.name} is not a list of certificates "
                        f"({type(exc).__name__})") from None
    signer = _LoadedKeySigner(private_key=private, signing_cert=certificate, signing_key=key,
                              cert_registry=SimpleCertificateStore.from_certs(chain))
    return LetterSeal(controller_id, certificate, signer)


def seal_pdf(pdf: bytes, seal: LetterSeal) -> bytes:
    """``pdf`` sealed (an incremental update: the original bytes stay as they are, the seal covers them all)."""
    meta = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD, md_algorithm=DIGEST, subfilter=fields.SigSeedSubFilter.PADES,
        certify=True, docmdp_permissions=fields.MDPPerm.NO_CHANGES)
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    out = signers.sign_pdf(writer, meta, signer=seal.signer)
    return out.getvalue()


__all__ = ["SEAL_FIELD", "LetterSeal", "SealError", "load_seal", "seal_files", "seal_pdf"]
