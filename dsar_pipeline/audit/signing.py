"""Who signs the audit trail's anchors: an AWS KMS asymmetric key, or a local EC key file.

Why asymmetric: the pipeline holds only the right to *sign* (KMS ``Sign``; it never sees the
private key), while anyone with the published public key can check an anchor, so an auditor
verifies the trail without any secret. Both signers produce the same thing: an ECDSA P-256
signature (DER) over the SHA-256 digest of the anchor statement, so anchors from KMS and from the
embedded default's key file are checked by the same code.

The local key file is for the embedded default only (no KMS there): created once, 0600, in a 0700
folder. Production sets ``DSAR_AUDIT_SIGNING_KEY_ID`` (KMS key, ECC_NIST_P256, SIGN_VERIFY).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

SIGNATURE_ALGORITHM = "ECDSA_P256_SHA256"
SIGNING_KEY_ID = "DSAR_AUDIT_SIGNING_KEY_ID"
SIGNING_KEY_FILE = "DSAR_AUDIT_SIGNING_KEY_FILE"
PUBLIC_KEY_FILE = "DSAR_AUDIT_PUBLIC_KEY_FILE"
DEFAULT_KEY_FILE_NAME = "keys/audit-signing-key.pem"

PublicKey = ec.EllipticCurvePublicKey


class SigningKeyError(RuntimeError):
    """The signing key is missing, unreadable or of the wrong kind (message names no secret)."""


class AnchorSigner(Protocol):
    """Signs anchor digests; ``key_id`` names the key in anchors, ``public_key`` checks them."""

    key_id: str

    def public_key(self) -> PublicKey: ...

    def sign_digest(self, digest: bytes) -> bytes: ...


def key_fingerprint(public_key: PublicKey) -> str:
    """``sha256:`` + hex SHA-256 of the DER SubjectPublicKeyInfo: names a public key unambiguously."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def public_key_pem(public_key: PublicKey) -> str:
    """The PEM text published for auditors."""
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public_keys(pem: bytes) -> list[PublicKey]:
    """Every P-256 public key in a PEM text (several after a key rotation)."""
    keys: list[PublicKey] = []
    marker = b"-----END PUBLIC KEY-----"
    for block in pem.split(marker):
        if b"-----BEGIN PUBLIC KEY-----" not in block:
            continue
        key = serialization.load_pem_public_key(block.strip() + b"\n" + marker + b"\n")
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise SigningKeyError("audit public keys must be EC P-256 keys")
        keys.append(key)
    if not keys:
        raise SigningKeyError("no PEM public key found")
    return keys


def signature_valid(public_key: PublicKey, digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is an ECDSA P-256 signature of the SHA-256 ``digest`` by this key."""
    try:
        public_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        return False
    return True


class LocalKeySigner:
    """An EC P-256 private key in a PEM file, created on first use (embedded default only)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._key = self._load(create)
        self.key_id = "file:" + key_fingerprint(self._key.public_key()).removeprefix("sha256:")[:16]

    def _load(self, create: bool) -> ec.EllipticCurvePrivateKey:
        if not self.path.exists():
            if not create:
                raise SigningKeyError(f"audit signing key file {self.path} does not exist")
            self._create()
        key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise SigningKeyError(f"audit signing key file {self.path} is not an EC P-256 key")
        return key

    def _create(self) -> None:
        """Write a new key atomically: 0600 temporary file, then a hard link that fails if another won."""
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        temporary = folder / f".{self.path.name}.{secrets.token_hex(6)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            with contextlib.suppress(FileExistsError):  # a concurrent process created it first: use theirs
                os.link(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)

    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign_digest(self, digest: bytes) -> bytes:
        return self._key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


class KmsSigner:
    """An AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY): ``Sign`` with ``MessageType=DIGEST``."""

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self.client = kms_client
        meta = kms_client.describe_key(KeyId=key_id)["KeyMetadata"]
        if meta.get("KeySpec") != "ECC_NIST_P256" or meta.get("KeyUsage") != "SIGN_VERIFY":
            raise SigningKeyError("the audit signing key must be a KMS ECC_NIST_P256 SIGN_VERIFY key")
        key = serialization.load_der_public_key(kms_client.get_public_key(KeyId=meta["Arn"])["PublicKey"])
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise SigningKeyError("the audit signing key must be a KMS ECC_NIST_P256 SIGN_VERIFY key")
        self._public = key
        self.key_id = str(meta["Arn"])  # the ARN, whatever alias or id was configured

    def public_key(self) -> PublicKey:
        return self._public

    def sign_digest(self, digest: bytes) -> bytes:
        answer = self.client.sign(KeyId=self.key_id, Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ECDSA_SHA_256")
        signature = answer.get("Signature")
        if not signature:  # a cut-short answer can come back without its fields
            raise SigningKeyError("KMS Sign answered without a signature")
        if not signature_valid(self._public, digest, signature):
            raise SigningKeyError("KMS Sign returned a signature that does not verify")
        return bytes(signature)


def default_key_file(settings: Mapping[str, str]) -> Path:
    """The embedded default's key file: ``$DAGSTER_HOME/keys/…``, else ``.dagster_home/keys/…``."""
    home = settings.get("DAGSTER_HOME") or os.environ.get("DAGSTER_HOME") or ".dagster_home"
    return Path(home) / DEFAULT_KEY_FILE_NAME


def signer_from_settings(settings: Mapping[str, str], kms_client: Callable[[], Any], *,
                         create: bool = True) -> AnchorSigner:
    """KMS when ``DSAR_AUDIT_SIGNING_KEY_ID`` is set; else the key file (never in production)."""
    key_id = (settings.get(SIGNING_KEY_ID) or "").strip()
    if key_id:
        return KmsSigner(kms_client(), key_id)
    if settings.get("DSAR_ENV") == "production":
        raise SigningKeyError(f"{SIGNING_KEY_ID} is not set (production signs audit anchors with KMS)")
    path = (settings.get(SIGNING_KEY_FILE) or "").strip()
    return LocalKeySigner(Path(path) if path else default_key_file(settings), create=create)


__all__ = [
    "PUBLIC_KEY_FILE",
    "SIGNATURE_ALGORITHM",
    "SIGNING_KEY_FILE",
    "SIGNING_KEY_ID",
    "AnchorSigner",
    "KmsSigner",
    "LocalKeySigner",
    "PublicKey",
    "SigningKeyError",
    "default_key_file",
    "key_fingerprint",
    "load_public_keys",
    "public_key_pem",
    "signature_valid",
    "signer_from_settings",
]
