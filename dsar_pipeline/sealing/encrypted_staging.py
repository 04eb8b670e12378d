"""The production `Staging`: package files rest on disk only as envelopes, under opaque names.

Layout of the staging directory (mode 0700, files 0600):

    <32 hex>.obj    one envelope per completed file (a fresh data key each; context: request id +
                    the object's random id, so an object moved to another slot or request won't open)
    <32 hex>.part   a file being written; renamed to .obj when complete, deleted if the write failed
    index.key       the wrapped key of the index (context: request id + "index")
    index.log       the index: an append-only journal of AES-256-GCM records, one per completed file
                    {name, object, size, sha256}; each record's associated data is its byte offset, so
                    records cannot be reordered, spliced or moved between logs; a partial record at the
                    end (a power loss mid-append, or tampering) is an error, never silently skipped
    index.head      the index's sealed length: AES-256-GCM of (record count, log length), rewritten
                    atomically after every append under the same lock. A log shorter than its head says
                    (records cut off at a record boundary, which the records themselves cannot show) is
                    an error, as is a log with records but no head or no index key. The head is a lower
                    bound: a crash between an append and the head's rewrite leaves one record more, which
                    is a completed file. Rolling back log *and* head together to an older consistent pair
                    is beyond what the directory can show by itself: `assemble.seal_package` therefore
                    also checks the files against the list the export step handed over (sealed between
                    steps by the encrypted IO manager)

Package-internal names (e.g. `export/csv/billing/contacts.csv`) exist only inside the encrypted index.
A file appears in `files()` only after its envelope is sealed, renamed into place and its index
record appended, so a write that failed (or a process that died) never shows up. Appends take an
exclusive `flock` on the log, so several processes may stage files for the same request; readers
take a shared lock and see whole records only.

Not fsynced: after a power loss an object may be cut short, which the envelope reports as truncated
when read (never silently); the pipeline then rebuilds the package.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsar_pipeline.package.staging import StagedFile
from dsar_pipeline.sealing.envelope import CHUNK_SIZE, EnvelopeReader, EnvelopeWriter
from dsar_pipeline.sealing.keys import KeyProvider, KeyUnwrapError, provider_kind

INDEX_KEY = "index.key"
INDEX_LOG = "index.log"
INDEX_HEAD = "index.head"
_HEAD = struct.Struct(">QQ")  # record count, log length in bytes
_HEAD_AAD = b"dsar-staging-head/1\x00"
_OBJECT_RE = re.compile(r"^[0-9a-f]{32}\.(obj|part)$")
_TEMP_RE = re.compile(r"^\.tmp-[0-9a-f]{16}$")
_RECORD_LEN = struct.Struct(">I")
_INDEX_AAD = b"dsar-staging-index/1\x00"
_MAX_RECORD = 64 * 1024
_MAX_NAME = 1024


def _record_aad(offset: int, length: int) -> bytes:
    """Each index record is bound to its place in the log and its length: no reordering, splicing or resizing."""
    return _INDEX_AAD + offset.to_bytes(8, "big") + length.to_bytes(4, "big")


class StagingError(Exception):
    """The staging directory cannot be used (wrong request or key, or a tampered index)."""


def check_name(name: str) -> str:
    """Package-internal names are '/'-separated relative paths without empty, '.' or '..' parts."""
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        raise ValueError("staged file names are non-empty strings of at most 1024 characters")
    if "\\" in name or "\x00" in name or any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("staged file names are '/'-separated relative paths without empty, '.' or '..' parts")
    return name


class _StagedWriter(io.BufferedIOBase):
    """What `create` hands out: counts and hashes the plaintext on its way into the envelope."""

    def __init__(self, envelope: EnvelopeWriter) -> None:
        super().__init__()
        self._envelope = envelope
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed staged file")
        self._hash.update(data)
        written = self._envelope.write(data)
        self.size += written
        return written

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if not self.closed:
            self._envelope.close()
            super().close()

    def abort(self) -> None:
        if not self.closed:
            self._envelope.abort()
            super().close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # nothing useful to do during finalisation
            self.abort()


class EncryptedStaging:
    """`Staging` over a directory: envelope-encrypted objects, opaque file names, an encrypted index."""

    def __init__(self, directory: Path, provider: KeyProvider, request_id: str, *,
                 chunk_size: int = CHUNK_SIZE) -> None:
        self.directory = Path(directory)
        self._provider = provider
        self._request_id = request_id
        self._chunk_size = chunk_size
        self._lock = threading.RLock()
        self._aead: AESGCM | None = None
        self._entries: list[tuple[StagedFile, str]] = []  # (file, object id) in creation order
        self._by_name: dict[str, tuple[StagedFile, str]] = {}
        self._offset = 0  # bytes of index.log already parsed
        self._writing: set[str] = set()

    # --- the Staging protocol -------------------------------------------------------------------------------

    @contextmanager
    def create(self, name: str) -> Iterator[BinaryIO]:
        check_name(name)
        with self._lock:
            self._refresh()
            if name in self._by_name or name in self._writing:
                raise FileExistsError("staging: a file of that name is already staged or being written")
            self._writing.add(name)
        object_id = secrets.token_hex(16)
        part = self.directory / f"{object_id}.part"
        final = self.directory / f"{object_id}.obj"
        try:
            self._ensure_directory()
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "wb", buffering=0) as raw:
                writer = _StagedWriter(EnvelopeWriter(raw, self._provider, self._object_context(object_id),
                                                      chunk_size=self._chunk_size))
                try:
                    yield cast(BinaryIO, writer)
                except BaseException:
                    writer.abort()
                    raise
                writer.close()
            os.replace(part, final)
            self._commit(StagedFile(name=name, size=writer.size, sha256=writer.sha256), object_id)
        except BaseException:
            part.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                self._writing.discard(name)

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with self._lock:
            entry = self._by_name.get(name)
            if entry is None:
                self._refresh()
                entry = self._by_name.get(name)
        if entry is None:
            raise FileNotFoundError("staging: no completed file of that name")
        _, object_id = entry
        with open(self.directory / f"{object_id}.obj", "rb") as raw:
            reader = EnvelopeReader(raw, self._provider, self._object_context(object_id))
            try:
                yield cast(BinaryIO, reader)
            finally:
                reader.close()

    def files(self) -> list[StagedFile]:
        with self._lock:
            self._refresh()
            return [file for file, _ in self._entries]

    def remove_all(self) -> None:
        """Delete every object, part, and the index (only names this class makes), then the directory if empty."""
        with self._lock:
            if self.directory.is_dir():
                for path in self.directory.iterdir():
                    if path.name in (INDEX_KEY, INDEX_LOG, INDEX_HEAD) or _OBJECT_RE.match(path.name) \
                            or _TEMP_RE.match(path.name):
                        path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # something that is not ours is left there: keep the directory
                    self.directory.rmdir()
            self._aead = None
            self._entries, self._by_name, self._offset = [], {}, 0

    # --- helpers --------------------------------------------------------------------------------------------

    def _object_context(self, object_id: str) -> dict[str, str]:
        return {"request": self._request_id, "staging": object_id}

    def _index_context(self) -> dict[str, str]:
        return {"request": self._request_id, "staging": "index"}

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _index_aead(self, *, create: bool) -> AESGCM | None:
        """The index key: unwrapped from index.key, or made (and published atomically) on the first commit."""
        if self._aead is not None:
            return self._aead
        path = self.directory / INDEX_KEY
        if not path.exists():
            if not create:
                return None
            self._ensure_directory()
            key, wrapped = self._provider.new_data_key(self._index_context())
            record = json.dumps({"kp": self._provider.provider_id, "wk": base64.b64encode(wrapped).decode()})
            tmp = self.directory / f".tmp-{secrets.token_hex(8)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(record)
            try:
                os.link(tmp, path)  # fails if another process published its key first: then use theirs
                self._aead = AESGCM(key)
                return self._aead
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            provider_id, wrapped = stored["kp"], base64.b64decode(stored["wk"], validate=True)
        except (ValueError, KeyError, TypeError):
            raise StagingError("staging: the index key file is corrupt") from None
        if provider_kind(provider_id) != provider_kind(self._provider.provider_id):
            raise StagingError("staging: the index was sealed with another kind of key provider")
        try:
            self._aead = AESGCM(self._provider.unwrap(wrapped, self._index_context()))
        except KeyUnwrapError:
            raise StagingError("staging: the index key does not unwrap (another request id or key)") from None
        return self._aead

    def _refresh(self, handle: BinaryIO | None = None) -> None:
        """Read index records appended since the last look, and check the log against its sealed head
        (caller holds self._lock; `handle` is the log, already locked exclusively, when committing)."""
        aead = self._index_aead(create=False)
        if aead is None:
            if any((self.directory / name).exists() for name in (INDEX_LOG, INDEX_HEAD)):
                raise StagingError("staging: the index key is missing while the index exists (deleted or "
                                   "tampered); purge the staging and rebuild the package")
            return
        if handle is not None:
            self._parse(handle, aead)
            self._check_head(aead, os.fstat(handle.fileno()).st_size)
            return
        try:
            with open(self.directory / INDEX_LOG, "rb") as log:
                fcntl.flock(log.fileno(), fcntl.LOCK_SH)
                self._parse(log, aead)
                self._check_head(aead, os.fstat(log.fileno()).st_size)
        except FileNotFoundError:
            self._check_head(aead, 0)

    def _check_head(self, aead: AESGCM, log_size: int) -> None:
        """Refuse a log shorter than what was already read or than its sealed head says (records cut off)."""
        if log_size < self._offset:
            raise StagingError("staging: the index became shorter than already read (truncated); "
                               "purge the staging and rebuild the package")
        try:
            raw = (self.directory / INDEX_HEAD).read_bytes()
        except FileNotFoundError:
            if self._entries:
                raise StagingError("staging: the index head is missing (deleted or tampered); "
                                   "purge the staging and rebuild the package") from None
            return
        try:
            count, length = _HEAD.unpack(aead.decrypt(raw[:12], raw[12:], _HEAD_AAD))
        except (InvalidTag, ValueError, struct.error):
            raise StagingError("staging: the index head is corrupt or was tampered with") from None
        if self._offset < length or len(self._entries) < count:
            raise StagingError("staging: the index is shorter than its sealed head (records were cut off); "
                               "purge the staging and rebuild the package")

    def _write_head(self, aead: AESGCM) -> None:
        """Publish (count, length) atomically; caller holds the log's exclusive lock, so heads never go back."""
        nonce = secrets.token_bytes(12)
        sealed = nonce + aead.encrypt(nonce, _HEAD.pack(len(self._entries), self._offset), _HEAD_AAD)
        tmp = self.directory / f".tmp-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(sealed)
            os.replace(tmp, self.directory / INDEX_HEAD)
        finally:
            tmp.unlink(missing_ok=True)

    def _parse(self, log: BinaryIO, aead: AESGCM) -> None:
        log.seek(self._offset)
        data = log.read()
        pos = 0
        while pos + _RECORD_LEN.size <= len(data):
            (length,) = _RECORD_LEN.unpack_from(data, pos)
            if length > _MAX_RECORD:
                raise StagingError("staging: the index is corrupt")
            body = data[pos + _RECORD_LEN.size:pos + _RECORD_LEN.size + length]
            if len(body) < length:
                break
            offset = self._offset + pos
            try:
                plain = aead.decrypt(body[:12], body[12:], _record_aad(offset, length))
                record = json.loads(plain)
                file = StagedFile(name=check_name(record["name"]), size=int(record["size"]),
                                  sha256=str(record["sha256"]))
                object_id = str(record["object"])
            except (InvalidTag, ValueError, KeyError, TypeError):
                raise StagingError("staging: the index is corrupt or was tampered with") from None
            if not re.fullmatch(r"[0-9a-f]{32}", object_id):
                raise StagingError("staging: the index is corrupt")
            self._entries.append((file, object_id))
            self._by_name[file.name] = (file, object_id)
            pos += _RECORD_LEN.size + length
        self._offset += pos
        if pos < len(data):
            # appends happen whole under an exclusive lock and we read under a shared one, so a partial record
            # is a write cut by a power loss or tampering (e.g. a length made larger to hide what follows)
            raise StagingError("staging: the index ends in an incomplete record (interrupted or tampered); "
                               "purge the staging and rebuild the package")

    def _commit(self, file: StagedFile, object_id: str) -> None:
        """Append the file's index record under an exclusive lock; from now on it is in `files()`."""
        with self._lock:
            aead = self._index_aead(create=True)
            assert aead is not None
            fd = os.open(self.directory / INDEX_LOG, os.O_RDWR | os.O_CREAT, 0o600)
            with os.fdopen(fd, "r+b", buffering=0) as log:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._refresh(cast(BinaryIO, log))
                if file.name in self._by_name:
                    raise FileExistsError("staging: a file of that name is already staged")
                nonce = secrets.token_bytes(12)
                plain = json.dumps({"name": file.name, "object": object_id, "size": file.size,
                                    "sha256": file.sha256}, separators=(",", ":")).encode()
                length = len(nonce) + len(plain) + 16
                body = nonce + aead.encrypt(nonce, plain, _record_aad(self._offset, length))
                log.seek(self._offset)
                record = _RECORD_LEN.pack(length) + body
                if log.write(record) != len(record):  # one write(2) of a few hundred bytes: whole or not at all
                    raise OSError("staging: short write to the index")
                self._entries.append((file, object_id))
                self._by_name[file.name] = (file, object_id)
                self._offset += len(record)
                self._write_head(aead)
