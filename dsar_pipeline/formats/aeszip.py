"""Streaming AES-256 ZIP (WinZip AE-2) writer for the customer package.

Why not pyzipper: it runs at ~0.28x the speed of 7-Zip here. This writer uses the same primitives
through `cryptography` (AES) and `hashlib` (HMAC-SHA1) with buffers allocated once, and overlaps
the work in two threads: a worker reads each file and encrypts it in place, the calling thread
authenticates (HMAC) and writes. Both stages spend their time in C code that releases the GIL.

Streaming and memory: files are read in chunks (`chunk_size`, 256 KiB by default) from the streams
their `open` callables return, and written sequentially to `out`, which need not be seekable.
A file whose size is known beforehand gets its sizes in the local header (the stored size of an
AE-2 stored entry is size + 28); a file of unknown size gets a data descriptor after its data.
Memory is a fixed pool of `buffers` chunk buffers plus one small central-directory record per
entry, whatever the sizes of the files. ZIP64 records are written when a size, an offset or the
entry count needs them (or always, with `force_zip64`). Entries are stored (method 0): the
package's bulk is audio and Parquet, which do not compress, and storing is what 7-Zip is timed at.

Errors never carry entry names or contents (names may say whose data it is): they say the entry's
position in the archive.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import BinaryIO

from dsar_pipeline.formats.aeszip_crypto import OVERHEAD, EntryKeys, EntryMac, WinZipCtr, derive_keys
from dsar_pipeline.formats.aeszip_format import (
    FLAG_DATA_DESCRIPTOR,
    FLAG_ENCRYPTED,
    FLAG_UTF8,
    MAX_U32,
    CentralRecord,
    central_header,
    data_descriptor,
    dos_datetime,
    end_records,
    local_header,
)
from dsar_pipeline.package.staging import Staging

DEFAULT_CHUNK = 256 << 10  # measured here: ~15-25% less CPU than 1 MiB (stays in cache)
DEFAULT_BUFFERS = 8
_POLL_S = 0.1


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


def write_aes_zip(entries: Iterable[ZipEntry], out: BinaryIO, passphrase: str, *, chunk_size: int = DEFAULT_CHUNK,
                  buffers: int = DEFAULT_BUFFERS, force_zip64: bool = False, threaded: bool = True) -> ZipReport:
    """Write `entries` to `out` as an AES-256 (AE-2) ZIP that 7-Zip and WinZip open with `passphrase`.

    `out` is written sequentially from its current position (offsets in the archive count from
    there) and is not closed. With `threaded=False` everything runs in the calling thread.
    """
    password = _password_bytes(passphrase)
    if chunk_size <= 0 or chunk_size % 16:
        raise ValueError("chunk_size must be a positive multiple of 16")
    started = datetime.now(UTC)
    consumer = _Consumer(_Output(out), started, force_zip64)
    if threaded:
        _run_threaded(entries, password, chunk_size, max(2, buffers), consumer)
    else:
        pool = _InlinePool(chunk_size)
        _produce(entries, password, WinZipCtr(chunk_size), pool, lambda item: consumer.handle(item, pool))
    return consumer.finish()


def write_staging_as_zip(staging: Staging, out: BinaryIO, passphrase: str, *, chunk_size: int = DEFAULT_CHUNK,
                         buffers: int = DEFAULT_BUFFERS, force_zip64: bool = False,
                         threaded: bool = True) -> ZipReport:
    """Archive every completed file of `staging`, in creation order, with its declared size checked.

    Staged files are opened one at a time, in the worker thread when `threaded`.
    """
    entries = (ZipEntry(f.name, partial(staging.open, f.name), f.size) for f in staging.files())
    return write_aes_zip(entries, out, passphrase, chunk_size=chunk_size, buffers=buffers, force_zip64=force_zip64,
                         threaded=threaded)


# --- the two stages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Begin:
    index: int
    name: bytes
    size: int | None
    mtime: datetime | None
    keys: EntryKeys


@dataclass(frozen=True)
class _Chunk:
    buffer: bytearray
    length: int


@dataclass(frozen=True)
class _End:
    size: int


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_DONE = object()
_Item = _Begin | _Chunk | _End | _Failed | object


class _Stopped(Exception):
    """The consumer gave up; the producer unwinds quietly."""


class _InlinePool:
    """One buffer is enough when each chunk is consumed before the next is read."""

    def __init__(self, chunk_size: int) -> None:
        self._buffer = bytearray(chunk_size)

    def take(self) -> bytearray:
        return self._buffer

    def give(self, buffer: bytearray) -> None:
        pass


class _QueuePool:
    def __init__(self, chunk_size: int, count: int, stop: threading.Event) -> None:
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(count):
            self._free.put(bytearray(chunk_size))
        self._stop = stop

    def take(self) -> bytearray:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                return self._free.get(timeout=_POLL_S)
            except queue.Empty:
                continue

    def give(self, buffer: bytearray) -> None:
        self._free.put(buffer)


def _produce(entries: Iterable[ZipEntry], password: bytes, ctr: WinZipCtr, pool: _InlinePool | _QueuePool,
             emit: Callable[[_Item], None]) -> None:
    """Read, derive keys, encrypt in place; emit Begin, Chunk..., End per entry, then DONE."""
    seen: set[bytes] = set()
    for index, entry in enumerate(entries):
        name = _encode_name(entry.name, index)
        if name in seen:
            raise ZipWriteError(f"entry #{index}: duplicate name")
        seen.add(name)
        if entry.size is not None and entry.size < 0:
            raise ZipWriteError(f"entry #{index}: negative size")
        keys = derive_keys(password)
        emit(_Begin(index, name, entry.size, entry.mtime, keys))
        ctr.start(keys.aes_key)
        total = 0
        with entry.open() as stream:
            for buffer, length in _chunks(stream, pool):
                total += length
                if entry.size is not None and total > entry.size:
                    pool.give(buffer)
                    raise ZipWriteError(f"entry #{index}: more bytes than its declared size")
                ctr.encrypt_in_place(memoryview(buffer)[:length])
                emit(_Chunk(buffer, length))
        emit(_End(total))
    emit(_DONE)


def _chunks(stream: BinaryIO, pool: _InlinePool | _QueuePool) -> Iterator[tuple[bytearray, int]]:
    """Full buffers from `stream` (short reads are topped up, so every chunk but the last is full)."""
    readinto = getattr(stream, "readinto", None)
    while True:
        buffer = pool.take()
        view = memoryview(buffer)
        filled = 0
        while filled < len(buffer):
            if readinto is not None:
                got = readinto(view[filled:])
            else:
                data = stream.read(len(buffer) - filled)
                got = len(data)
                view[filled:filled + got] = data
            if got is None:
                raise ZipWriteError("input stream is non-blocking and not ready")
            if got == 0:
                break
            filled += got
        view.release()
        if filled == 0:
            pool.give(buffer)
            return
        yield buffer, filled
        if filled < len(buffer):
            return


class _Output:
    """Counts the bytes written (the output need not be seekable) and insists on full writes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.offset = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = self._out.write(view)
            if written is None:
                raise ZipWriteError("output stream is non-blocking and not ready")
            view = view[written:]
        self.offset += len(data)


class _Consumer:
    """Writes headers, authenticates and writes ciphertext, remembers the central directory."""

    def __init__(self, out: _Output, started: datetime, force_zip64: bool) -> None:
        self._out = out
        self._started = started
        self._force_zip64 = force_zip64
        self._records: list[CentralRecord] = []
        self._current: CentralRecord | None = None
        self._mac: EntryMac | None = None
        self._index = -1

    def handle(self, item: _Item, pool: _InlinePool | _QueuePool) -> None:
        if isinstance(item, _Chunk):
            assert self._mac is not None
            view = memoryview(item.buffer)[:item.length]
            self._mac.update(view)
            self._out.write(view)
            view.release()
            pool.give(item.buffer)
        elif isinstance(item, _Begin):
            self._begin(item)
        elif isinstance(item, _End):
            self._end(item)

    def _begin(self, item: _Begin) -> None:
        mtime = item.mtime or self._started
        dos_time, dos_date = dos_datetime(mtime)
        known = item.size is not None
        size = item.size or 0
        zip64 = self._force_zip64 or not known or size + OVERHEAD >= MAX_U32
        flags = FLAG_ENCRYPTED | FLAG_UTF8 | (0 if known else FLAG_DATA_DESCRIPTOR)
        self._index = item.index
        self._current = CentralRecord(item.name, dos_time, dos_date, int(mtime.timestamp()), flags, size,
                                      size + OVERHEAD, self._out.offset, zip64)
        self._out.write(local_header(self._current))
        self._out.write(item.keys.header)
        self._mac = EntryMac(item.keys.mac_key)

    def _end(self, item: _End) -> None:
        record, mac = self._current, self._mac
        assert record is not None and mac is not None
        self._out.write(mac.code())
        if record.flags & FLAG_DATA_DESCRIPTOR:
            record = CentralRecord(record.name, record.dos_time, record.dos_date, record.unix_time, record.flags,
                                   item.size, item.size + OVERHEAD, record.offset, record.zip64)
            self._out.write(data_descriptor(record))
        elif item.size != record.size:
            raise ZipWriteError(f"entry #{self._index}: fewer bytes than its declared size")
        self._records.append(record)
        self._current, self._mac = None, None

    def finish(self) -> ZipReport:
        directory_offset = self._out.offset
        for record in self._records:
            self._out.write(central_header(record, self._force_zip64))
        directory_size = self._out.offset - directory_offset
        self._out.write(end_records(len(self._records), directory_offset, directory_size, self._force_zip64))
        entries = tuple(ZippedEntry(r.name.decode(), r.size, r.stored_size, r.offset) for r in self._records)
        return ZipReport(entries, self._out.offset)


def _run_threaded(entries: Iterable[ZipEntry], password: bytes, chunk_size: int, buffers: int,
                  consumer: _Consumer) -> None:
    """Producer in a worker thread, consumer here; either side's failure stops both."""
    stop = threading.Event()
    pool = _QueuePool(chunk_size, buffers, stop)
    items: queue.Queue[_Item] = queue.Queue(maxsize=4 * buffers)

    def emit(item: _Item) -> None:
        while True:
            if stop.is_set():
                raise _Stopped
            try:
                items.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            _produce(entries, password, WinZipCtr(chunk_size), pool, emit)
        except _Stopped:
            pass
        except BaseException as error:  # handed to the calling thread, which raises it
            with suppress(_Stopped):
                emit(_Failed(error))

    worker = threading.Thread(target=work, name="aeszip-encrypt", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                break
            if isinstance(item, _Failed):
                raise item.error
            consumer.handle(item, pool)
    finally:
        stop.set()
        worker.join()


def _password_bytes(passphrase: str) -> bytes:
    """ASCII only: WinZip and 7-Zip agree on the bytes of an ASCII passphrase, not of others."""
    if not passphrase or not passphrase.isascii():
        raise ValueError("passphrase must be a non-empty ASCII string")
    return passphrase.encode("ascii")


def _encode_name(name: str, index: int) -> bytes:
    """A relative '/'-separated file path; no empty, '.' or '..' parts, no backslash or NUL."""
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts) or "\\" in name or "\x00" in name:
        raise ZipWriteError(f"entry #{index}: name is not a relative file path")
    encoded = name.encode("utf-8")
    if len(encoded) > 0xFFFF:
        raise ZipWriteError(f"entry #{index}: name longer than 65535 bytes")
    return encoded
