"""The AES ZIP writer's engine: the MAC runs in its own thread beside reading, encrypting and writing.

Why this split: per byte, HMAC-SHA1 costs about as much as reading, encrypting (AES-CTR) and
writing together (here: ~0.55 ns against ~0.12 + 0.18 + 0.25), and all of it is C code that
releases the GIL (OpenSSL through `cryptography` and `hashlib`, numpy, the kernel's read/write).
So the caller's thread reads a chunk, encrypts it in place and writes it at once, while it is
still in this core's cache; the MAC thread authenticates the same buffer (read-only) on the other
core. Only the MAC's 10 bytes at the end of an entry wait for the MAC thread: meanwhile the caller
goes on reading and encrypting the next entry, and writes it once the MAC is out. The MAC of one
entry is sequential, so a large file's MAC of chunk n overlaps the encryption and writing of chunk
n+1. The PBKDF2 key derivation of each entry (~0.5 ms) runs ahead in a small thread pool
(`aeszip_keys`). Measured against a chain of three threads (read+encrypt -> MAC -> write), this
split took ~10% less CPU and ran ~20% faster: each chunk crosses between cores once, not twice.

    caller:      take a free slot -> read into it -> encrypt -> write (in archive order) -> to MAC
    MAC thread:  HMAC-SHA1 over the slot's ciphertext, the code on the entry's END slot -> back
    a slot is free again once it is both written and authenticated

Memory is bounded by the slots: `buffers` chunk buffers allocated once, whatever the file sizes.
Everything is written by one thread in one order, so the layout is deterministic. A failure in
the MAC thread is handed to the caller's thread and raised there; a failure in the caller's
thread stops the MAC thread. Either way every thread has ended when the error is raised.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import BinaryIO

from dsar_pipeline.formats.aeszip_archive import ArchiveWriter
from dsar_pipeline.formats.aeszip_crypto import EntryKeys, EntryMac, WinZipCtr
from dsar_pipeline.formats.aeszip_entries import EntryChecks, ZipEntry, ZipWriteError
from dsar_pipeline.formats.aeszip_keys import KeySource

_POLL_S = 0.1
_BEGIN, _CHUNK, _END, _FAILED = range(4)


class _Slot:
    """What passes between the stages: an entry's start or end, or a chunk in its own buffer."""

    __slots__ = ("buffer", "code", "declared", "error", "keys", "kind", "length", "maced", "mtime", "name", "total",
                 "view", "written")

    def __init__(self, chunk_size: int) -> None:
        self.buffer = bytearray(chunk_size)
        self.view = memoryview(self.buffer)
        self.kind = _CHUNK
        self.length = 0
        self.name = b""
        self.declared: int | None = None
        self.mtime: datetime | None = None
        self.keys: EntryKeys | None = None
        self.total = 0
        self.code = b""
        self.error: BaseException | None = None
        self.written = self.maced = True

    def data(self) -> memoryview:
        return self.view if self.length == len(self.buffer) else self.view[:self.length]


class Authenticator:
    """HMAC-SHA1 over each entry's ciphertext, in order; the code rides back on the END slot."""

    def __init__(self) -> None:
        self._mac: EntryMac | None = None

    def handle(self, slot: _Slot) -> None:
        if slot.kind == _CHUNK:
            assert self._mac is not None
            self._mac.update(slot.data())
        elif slot.kind == _BEGIN:
            assert slot.keys is not None
            self._mac = EntryMac(slot.keys.mac_key)
        elif slot.kind == _END:
            assert self._mac is not None
            slot.code, self._mac = self._mac.code(), None


class _MacThread:
    """The authenticator in a thread of its own: slots in, authenticated slots back out, in order."""

    def __init__(self) -> None:
        self._in: queue.SimpleQueue[_Slot | None] = queue.SimpleQueue()
        self._out: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aeszip-mac", daemon=True)
        self._thread.start()

    def put(self, slot: _Slot) -> None:
        self._in.put(slot)

    def get(self, block: bool) -> _Slot | None:
        if not block:
            return None if self._out.empty() else self._out.get_nowait()
        while True:
            try:
                return self._out.get(timeout=_POLL_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._out.empty():
                    raise ZipWriteError("the MAC thread ended without finishing the archive") from None

    def close(self) -> None:
        self._stop.set()
        self._in.put(None)
        self._thread.join()

    def _run(self) -> None:
        stage = Authenticator()
        try:
            while (slot := self._in.get()) is not None and not self._stop.is_set():
                stage.handle(slot)
                self._out.put(slot)
        except BaseException as error:  # handed to the caller's thread, which raises it
            failed = _Slot(0)
            failed.kind, failed.error = _FAILED, error
            self._out.put(failed)


class _MacInline:
    """The authenticator in the caller's thread (`threaded=False`)."""

    def __init__(self) -> None:
        self._stage = Authenticator()
        self._done: deque[_Slot] = deque()

    def put(self, slot: _Slot) -> None:
        self._stage.handle(slot)
        self._done.append(slot)

    def get(self, block: bool) -> _Slot | None:
        if self._done:
            return self._done.popleft()
        if block:
            raise RuntimeError("waiting for a MAC that was never asked for")
        return None

    def close(self) -> None:
        pass


def _fill(stream: BinaryIO, view: memoryview) -> int:
    """Fill `view` from `stream` (short reads are topped up); fewer bytes only at the end of the stream."""
    readinto = getattr(stream, "readinto", None)
    size = len(view)
    filled = 0
    while filled < size:
        if readinto is not None:
            got = readinto(view[filled:] if filled else view)
        else:
            data = stream.read(size - filled)
            got = len(data)
            view[filled:filled + got] = data
        if got is None:
            raise ZipWriteError("input stream is non-blocking and not ready")
        if got == 0:
            break
        filled += got
    return filled


class _Writer:
    """The caller's side: checks, reads, encrypts and writes in archive order; the MAC stage runs beside it."""

    def __init__(self, archive: ArchiveWriter, mac: _MacThread | _MacInline, chunk_size: int, buffers: int) -> None:
        self._archive = archive
        self._mac = mac
        self._chunk_size = chunk_size
        self._buffers = buffers
        self._free = [_Slot(chunk_size) for _ in range(buffers)]
        self._pending: deque[_Slot] = deque()  # handed to the MAC stage, not yet written

    def run(self, entries: Iterable[ZipEntry], keys: KeySource) -> None:
        checks = EntryChecks()
        ctr = WinZipCtr(self._chunk_size)
        for index, entry in enumerate(entries):
            name = checks.admit(index, entry)
            entry_keys = keys.next()
            slot = self._take()
            slot.kind, slot.name, slot.declared, slot.mtime = _BEGIN, name, entry.size, entry.mtime
            slot.keys = entry_keys
            self._submit(slot)
            ctr.start(entry_keys.aes_key)
            total = 0
            with entry.open() as stream:
                while True:
                    slot = self._take()
                    length = _fill(stream, slot.view)
                    total += length
                    checks.check_read(index, entry.size, total)
                    if length == 0:
                        self._free.append(slot)
                        break
                    slot.kind, slot.length = _CHUNK, length
                    ctr.encrypt_in_place(slot.data())
                    self._submit(slot)
                    if length < self._chunk_size:
                        break
            checks.check_complete(index, entry.size, total)
            slot = self._take()
            slot.kind, slot.total = _END, total
            self._submit(slot)
        while len(self._free) < self._buffers:  # the last MACs
            self._collect(block=True)
        assert not self._pending

    def _submit(self, slot: _Slot) -> None:
        slot.written = slot.maced = False
        self._mac.put(slot)
        self._pending.append(slot)
        self._flush()

    def _flush(self) -> None:
        """Write what is ready, in order: everything up to the first END whose MAC is not back yet."""
        pending = self._pending
        while pending and (pending[0].kind != _END or pending[0].maced):
            slot = pending.popleft()
            if slot.kind == _CHUNK:
                self._archive.data(slot.data())
            elif slot.kind == _BEGIN:
                assert slot.keys is not None
                self._archive.begin(slot.name, slot.declared, slot.mtime, slot.keys.header)
            else:
                self._archive.end(slot.total, slot.code)
            slot.written = True
            if slot.maced:
                self._free.append(slot)

    def _collect(self, block: bool) -> None:
        """Take back what the MAC stage has finished (waiting for one if `block`), then write what is ready."""
        while (slot := self._mac.get(block)) is not None:
            block = False
            if slot.kind == _FAILED:
                assert slot.error is not None
                raise slot.error
            slot.maced = True
            if slot.written:
                self._free.append(slot)
        self._flush()

    def _take(self) -> _Slot:
        """A free slot. Whatever is not free is at the MAC stage (or waits behind it), so waiting ends.

        Anything pending waits for an entry's MAC: look for it at once, so the chunks read meanwhile
        are written while they are still in the cache.
        """
        if self._pending or not self._free:
            self._collect(block=False)
        while not self._free:
            self._collect(block=True)
        slot = self._free.pop()
        slot.keys = None
        return slot


def run_inline(entries: Iterable[ZipEntry], derive: Callable[[], EntryKeys], chunk_size: int,
               archive: ArchiveWriter) -> None:
    """Everything in the calling thread, one buffer (for callers that want no threads)."""
    _Writer(archive, _MacInline(), chunk_size, 1).run(entries, KeySource(derive, workers=0))


def run_threaded(entries: Iterable[ZipEntry], derive: Callable[[], EntryKeys], chunk_size: int, buffers: int,
                 archive: ArchiveWriter) -> None:
    """MAC thread and key-derivation threads beside the caller's; returns once they have all ended."""
    keys = KeySource(derive)
    mac = _MacThread()
    try:
        _Writer(archive, mac, chunk_size, max(2, buffers)).run(entries, keys)
    finally:
        mac.close()
        keys.close()
