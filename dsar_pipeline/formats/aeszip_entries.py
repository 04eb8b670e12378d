"""What goes into the AES ZIP and what is refused: the entry types and every entry check, in one place.

The writer's stages (`aeszip_parallel`) and the public functions (`aeszip`) both use these, so a
name or size rule is written once whichever engine runs. Errors never carry entry names or
contents (names may say whose data it is): they give the entry's position in the archive.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO


@dataclass(frozen=True)
class ZipEntry:
    """One file to archive: `open` returns a fresh readable binary stream of its plaintext."""

    name: str  # '/'-separated path inside the archive
    open: Callable[[], AbstractContextManager[BinaryIO]]
    size: int | None = None  # when known, checked against the bytes read; None: data descriptor
    mtime: datetime | None = None  # None: the time the archive was started


@dataclass(frozen=True)
class ZippedEntry:
    name: str
    size: int  # plaintext bytes
    stored_size: int  # bytes in the archive: salt + verifier + ciphertext + MAC
    offset: int  # of the local header


@dataclass(frozen=True)
class ZipReport:
    entries: tuple[ZippedEntry, ...]
    archive_size: int


class ZipWriteError(ValueError):
    """The input does not make a valid archive (bad name, size differs from the declared one...)."""


def password_bytes(passphrase: str) -> bytes:
    """ASCII only: WinZip and 7-Zip agree on the bytes of an ASCII passphrase, not of others."""
    if not passphrase or not passphrase.isascii():
        raise ValueError("passphrase must be a non-empty ASCII string")
    return passphrase.encode("ascii")


def encode_name(name: str, index: int) -> bytes:
    """A relative '/'-separated file path; no empty, '.' or '..' parts, no backslash or NUL."""
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts) or "\\" in name or "\x00" in name:
        raise ZipWriteError(f"entry #{index}: name is not a relative file path")
    encoded = name.encode("utf-8")
    if len(encoded) > 0xFFFF:
        raise ZipWriteError(f"entry #{index}: name longer than 65535 bytes")
    return encoded


class EntryChecks:
    """Checks each entry as it is taken from the caller (names, duplicates, declared sizes)."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def admit(self, index: int, entry: ZipEntry) -> bytes:
        """The entry's encoded name, once its name and declared size pass."""
        name = encode_name(entry.name, index)
        if name in self._seen:
            raise ZipWriteError(f"entry #{index}: duplicate name")
        self._seen.add(name)
        if entry.size is not None and entry.size < 0:
            raise ZipWriteError(f"entry #{index}: negative size")
        return name

    @staticmethod
    def check_read(index: int, declared: int | None, total: int) -> None:
        """Called after every chunk: more bytes than declared is refused before they are written."""
        if declared is not None and total > declared:
            raise ZipWriteError(f"entry #{index}: more bytes than its declared size")

    @staticmethod
    def check_complete(index: int, declared: int | None, total: int) -> None:
        """Called at the end of the entry's stream, before its MAC is written."""
        if declared is not None and total != declared:
            raise ZipWriteError(f"entry #{index}: fewer bytes than its declared size")
