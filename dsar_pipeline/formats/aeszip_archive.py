"""The archive's byte stream: headers, ciphertext and MACs written in order, the directory at the end.

This is the only stage that touches the output, and it runs in the caller's thread, so the
output is written sequentially and need not be seekable. It keeps one small central-directory
record per entry; everything else passes through. The local header gets the sizes when they are
known beforehand (the stored size of an AE-2 stored entry is size + 28); otherwise a data
descriptor follows the data. ZIP64 records are written when a size, an offset or the entry count
needs them (or always, with `force_zip64`).
"""

from __future__ import annotations

from datetime import datetime
from typing import BinaryIO

from dsar_pipeline.formats.aeszip_crypto import OVERHEAD
from dsar_pipeline.formats.aeszip_entries import ZippedEntry, ZipReport, ZipWriteError
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


class Output:
    """Counts the bytes written (the output need not be seekable) and insists on full writes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.offset = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        size = len(view)
        while view:
            written = self._out.write(view)
            if written is None:
                raise ZipWriteError("output stream is non-blocking and not ready")
            view = view[written:]
        self.offset += size


class ArchiveWriter:
    """Writes one entry at a time (`begin`, `data`..., `end`), then the central directory (`finish`)."""

    def __init__(self, out: BinaryIO, started: datetime, force_zip64: bool) -> None:
        self._out = Output(out)
        self._started = started
        self._force_zip64 = force_zip64
        self._records: list[CentralRecord] = []
        self._current: CentralRecord | None = None

    def begin(self, name: bytes, size: int | None, mtime: datetime | None, key_header: bytes) -> None:
        """Local header, then the entry's salt and password verifier."""
        moment = mtime or self._started
        dos_time, dos_date = dos_datetime(moment)
        known = size is not None
        declared = size or 0
        zip64 = self._force_zip64 or not known or declared + OVERHEAD >= MAX_U32
        flags = FLAG_ENCRYPTED | FLAG_UTF8 | (0 if known else FLAG_DATA_DESCRIPTOR)
        self._current = CentralRecord(name, dos_time, dos_date, int(moment.timestamp()), flags, declared,
                                      declared + OVERHEAD, self._out.offset, zip64)
        self._out.write(local_header(self._current) + key_header)

    def data(self, ciphertext: memoryview) -> None:
        self._out.write(ciphertext)

    def end(self, size: int, mac_code: bytes) -> None:
        """The MAC, and the data descriptor when the size was not known beforehand."""
        record = self._current
        assert record is not None
        if record.flags & FLAG_DATA_DESCRIPTOR:
            record = CentralRecord(record.name, record.dos_time, record.dos_date, record.unix_time, record.flags,
                                   size, size + OVERHEAD, record.offset, record.zip64)
            self._out.write(mac_code + data_descriptor(record))
        else:
            assert size == record.size, "the reading stage checks declared sizes"
            self._out.write(mac_code)
        self._records.append(record)
        self._current = None

    def finish(self) -> ZipReport:
        directory_offset = self._out.offset
        pending = bytearray()  # many small records: written in large pieces
        for record in self._records:
            pending += central_header(record, self._force_zip64)
            if len(pending) >= 1 << 20:
                self._out.write(pending)
                pending = bytearray()
        self._out.write(pending)
        directory_size = self._out.offset - directory_offset
        self._out.write(end_records(len(self._records), directory_offset, directory_size, self._force_zip64))
        entries = tuple(ZippedEntry(r.name.decode(), r.size, r.stored_size, r.offset) for r in self._records)
        return ZipReport(entries, self._out.offset)
