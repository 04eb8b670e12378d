"""Where the data keys of envelope encryption come from: KMS in production, a local key file otherwise.

Every object at rest gets a fresh 256-bit data key; only the *wrapped* data key is stored beside the
ciphertext. Wrapping binds an encryption context (opaque ids such as the request id and the object's
role, never personal values: KMS writes the context to CloudTrail in plaintext), so a ciphertext
moved to another request or slot cannot be unwrapped there.

- `KmsKeyProvider`: `GenerateDataKey` (`KeySpec=AES_256`) and `Decrypt`, the context as KMS
  EncryptionContext. The embedded sandbox serves the same API (moto), so the default run takes the
  same code path as production.
  `key_provider_from_settings` puts it behind a `RequestKeyCache` (key_cache.py): one KMS call
  per request and process, a key derived per object.
- `LocalKeyProvider`: a 32-byte key-encryption key in a file (created with mode 0600, missing
  folders 0700, if absent; an existing one must be this user's and 0600 or stricter) wraps data
  keys with AES-256-GCM, the canonical JSON of the context as associated data.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsar_pipeline.sealing.key_cache import KeyCacheState, RequestKeyCache

# Defined in key_types.py, which key_cache.py builds on too; the rest of the code imports them from here.
from dsar_pipeline.sealing.key_types import DATA_KEY_BYTES, KeyProvider, KeyUnwrapError, canonical_context

DEFAULT_LOCAL_KEY_FILE = ".dagster_home/dsar_local.key"
LOCAL_KEY_FILE_SETTING = "DSAR_LOCAL_KEY_FILE"
_LOCAL_WRAP_VERSION = b"\x01"
_LOCAL_WRAP_LEN = 1 + 12 + DATA_KEY_BYTES + 16


class LocalKeyProvider:
    """Data keys wrapped under a key-encryption key kept in a local file (the embedded default)."""

    kind = "local"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._kek = _load_or_create_kek(self.path)
        self._aead = AESGCM(self._kek)
        # A short fingerprint tells "sealed with another key file" apart from tampering; it reveals nothing usable.
        self._fingerprint = hashlib.sha256(b"dsar-kek-fingerprint\x00" + self._kek).hexdigest()[:16]

    @property
    def provider_id(self) -> str:
        return f"local:{self._fingerprint}"

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        key = secrets.token_bytes(DATA_KEY_BYTES)
        nonce = secrets.token_bytes(12)
        wrapped = _LOCAL_WRAP_VERSION + nonce + self._aead.encrypt(nonce, key, canonical_context(context))
        return key, wrapped

    def unwrap(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        if len(wrapped_key) != _LOCAL_WRAP_LEN or wrapped_key[:1] != _LOCAL_WRAP_VERSION:
            raise KeyUnwrapError("wrapped data key has an unknown format")
        try:
            return self._aead.decrypt(wrapped_key[1:13], wrapped_key[13:], canonical_context(context))
        except InvalidTag:
            raise KeyUnwrapError("data key does not open with this key file and context") from None


class KeyFileError(ValueError):
    """The local key file cannot be trusted or used; the message names the setting, never the key."""


def _load_or_create_kek(path: Path) -> bytes:
    """Read the 32-byte key; create it atomically with mode 0600 (missing folders 0700) if it does not exist.

    An existing file is used only if this user owns it and nobody else may read or write it: a key
    file others can read exposes every object at rest, and one others can write lets them plant a
    key they know, so both are refused, with one line naming the setting.
    """
    try:
        return _read_private_kek(path)
    except FileNotFoundError:
        pass
    _make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs (checked like any other)
        return _read_private_kek(path)
    data = secrets.token_bytes(DATA_KEY_BYTES)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return data


def private_file_problem(info: os.stat_result) -> str | None:
    """Why an opened file may not hold a secret (not a regular file, another owner, readable by others)."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != os.geteuid():
        return f"is owned by another user (uid {info.st_uid}); it must belong to the user running the pipeline"
    if info.st_mode & 0o077:
        return f"is accessible to group or others (mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it"
    return None


def _read_private_kek(path: Path) -> bytes:
    """The key of an existing file, after checking owner and mode on the opened descriptor (no race;
    a symbolic link is judged by the file it leads to)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise KeyFileError(f"{LOCAL_KEY_FILE_SETTING}: the key file cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        problem = private_file_problem(os.fstat(handle.fileno()))
        if problem:
            raise KeyFileError(f"{LOCAL_KEY_FILE_SETTING}: the key file {problem}")
        data = handle.read(DATA_KEY_BYTES + 1)
    if len(data) != DATA_KEY_BYTES:
        raise KeyFileError(f"{LOCAL_KEY_FILE_SETTING}: the key file must hold exactly 32 bytes")
    return data


def _make_private_dirs(folder: Path) -> None:
    """Create `folder` and any missing parents with mode 0700 (`mkdir(parents=True)` gives parents the umask's)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask


class KmsKeyProvider:
    """Data keys from AWS KMS (or the sandbox's KMS stand-in): one GenerateDataKey per object."""

    kind = "kms"

    def __init__(self, client: Any, key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    @property
    def provider_id(self) -> str:
        return f"kms:{self.key_id}"

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        canonical_context(context)  # type check only
        answer = self.client.generate_data_key(KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=dict(context))
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])

    def unwrap(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        from botocore.exceptions import ClientError

        canonical_context(context)
        try:
            answer = self.client.decrypt(CiphertextBlob=wrapped_key, EncryptionContext=dict(context), KeyId=self.key_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException"):
                raise KeyUnwrapError(f"KMS refused to unwrap the data key ({code})") from None
            raise
        key = bytes(answer["Plaintext"])
        if len(key) != DATA_KEY_BYTES:
            raise KeyUnwrapError("KMS returned a key of the wrong length")
        return key


def provider_kind(provider_id: str) -> str:
    return provider_id.split(":", 1)[0]


def key_provider_from_settings(settings: Mapping[str, str], roots: Any = None) -> KeyProvider:
    """KMS when DSAR_KMS_KEY_ID is set, else the local key file at DSAR_LOCAL_KEY_FILE (or the default path).

    Empty AWS credential settings leave boto3's default credential chain in charge (instance roles,
    web identity, the usual environment variables). KMS comes behind a `RequestKeyCache`: one KMS
    call per request and process instead of one per object, and with `roots` (a
    `key_cache.RootStore`, the work store's request keys) one request key shared by every process.
    The KMS client and the cached keys are built once per process and settings: a boto3 client
    costs tens of milliseconds to build, and the cache only pays off when shared.
    """
    key_id = settings.get("DSAR_KMS_KEY_ID") or ""
    if key_id:
        inner, state = _kms(os.getpid(), key_id, *(settings.get(name) or "" for name in _KMS_SETTINGS))
        return RequestKeyCache(inner, state=state, roots=roots)
    return LocalKeyProvider(Path(settings.get(LOCAL_KEY_FILE_SETTING) or DEFAULT_LOCAL_KEY_FILE))


_KMS_SETTINGS = ("DSAR_KMS_ENDPOINT_URL", "DSAR_AWS_REGION", "DSAR_AWS_ACCESS_KEY_ID", "DSAR_AWS_SECRET_ACCESS_KEY")


@functools.lru_cache(maxsize=8)
def _kms(pid: int, key_id: str, endpoint: str, region: str, access_key: str,
         secret_key: str) -> tuple[KeyProvider, Any]:
    """One client and key cache per process (`pid`: a forked child builds its own) and settings."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "kms", endpoint_url=endpoint or None, region_name=region or None, aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        config=Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4}))
    return KmsKeyProvider(client, key_id), KeyCacheState()
