"""The ZIP records an AE-2 archive needs, packed byte by byte (APPNOTE 6.3.x + WinZip AES).

Kept apart from the writer so the layout decisions sit in one place:
- compression method 99 in the headers, the real method (0 = store) in the 0x9901 extra field
  with vendor "AE", version 2 (AE-2: CRC is not used and written as 0), strength 3 (AES-256);
- flag bit 0 (encrypted) and bit 11 (names are UTF-8) on every entry;
- sizes in the local header when known beforehand; otherwise flag bit 3 and a data descriptor
  after the data, so the output never has to be seekable;
- ZIP64 extra fields and end records only when a value does not fit (or when forced);
- the modification time both as DOS date/time (UTC) and as an extended timestamp (0x5455, Unix
  seconds), which 7-Zip and Info-ZIP prefer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_U16 = 0xFFFF
MAX_U32 = 0xFFFFFFFF

METHOD_AES = 99
METHOD_STORE = 0
FLAG_ENCRYPTED = 0x0001
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800
VERSION_MADE_BY = (3 << 8) | 63  # Unix, APPNOTE 6.3
VERSION_NEEDED = 51  # AES encryption (WinZip) — above 4.5 for ZIP64
EXTERNAL_ATTRIBUTES = (0o100644 << 16)  # regular file, rw-r--r--

_AES_EXTRA = struct.pack("<HHH2sBH", 0x9901, 7, 2, b"AE", 3, METHOD_STORE)


@dataclass(frozen=True)
class CentralRecord:
    """What the central directory needs to remember about a written entry."""

    name: bytes
    dos_time: int
    dos_date: int
    unix_time: int
    flags: int
    size: int
    stored_size: int
    offset: int
    zip64: bool


def dos_datetime(moment: datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS format, in UTC; clamped to the format's 1980–2107 range."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if utc.year < 1980:
        utc = datetime(1980, 1, 1, tzinfo=UTC)
    elif utc.year > 2107:
        utc = datetime(2107, 12, 31, 23, 59, 58, tzinfo=UTC)
    return ((utc.hour << 11) | (utc.minute << 5) | (utc.second // 2),
            ((utc.year - 1980) << 9) | (utc.month << 5) | utc.day)


def _timestamp_extra(unix_time: int) -> bytes:
    return struct.pack("<HHBI", 0x5455, 5, 1, min(max(unix_time, 0), MAX_U32))


def local_header(record: CentralRecord) -> bytes:
    """The local file header. With a data descriptor and ZIP64 the sizes are written later."""
    descriptor = bool(record.flags & FLAG_DATA_DESCRIPTOR)
    size, stored = (0, 0) if descriptor else (record.size, record.stored_size)
    extra = b""
    if record.zip64:
        extra += struct.pack("<HHQQ", 0x0001, 16, size, stored)
        size = stored = MAX_U32
    extra += _timestamp_extra(record.unix_time) + _AES_EXTRA
    head = struct.pack("<IHHHHHIIIHH", 0x04034B50, VERSION_NEEDED, record.flags, METHOD_AES, record.dos_time,
                       record.dos_date, 0, stored, size, len(record.name), len(extra))
    return head + record.name + extra


def data_descriptor(record: CentralRecord) -> bytes:
    """Signature, CRC (0 for AE-2), sizes: 8 bytes each when the local header had a ZIP64 extra."""
    if record.zip64:
        return struct.pack("<IIQQ", 0x08074B50, 0, record.stored_size, record.size)
    return struct.pack("<IIII", 0x08074B50, 0, record.stored_size, record.size)


def central_header(record: CentralRecord, force_zip64: bool = False) -> bytes:
    """A central directory header; ZIP64 extra carries exactly the fields that overflow."""
    size, stored, offset = record.size, record.stored_size, record.offset
    zip64_values: list[int] = []
    if force_zip64 or size >= MAX_U32:
        zip64_values.append(size)
        size = MAX_U32
    if force_zip64 or stored >= MAX_U32:
        zip64_values.append(stored)
        stored = MAX_U32
    if force_zip64 or offset >= MAX_U32:
        zip64_values.append(offset)
        offset = MAX_U32
    extra = b""
    if zip64_values:
        extra += struct.pack(f"<HH{len(zip64_values)}Q", 0x0001, 8 * len(zip64_values), *zip64_values)
    extra += _timestamp_extra(record.unix_time) + _AES_EXTRA
    head = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, VERSION_MADE_BY, VERSION_NEEDED, record.flags, METHOD_AES,
                       record.dos_time, record.dos_date, 0, stored, size, len(record.name), len(extra), 0, 0, 0,
                       EXTERNAL_ATTRIBUTES, offset)
    return head + record.name + extra


def end_records(entries: int, directory_offset: int, directory_size: int, force_zip64: bool = False) -> bytes:
    """ZIP64 end record and locator when anything overflows (or forced), then the classic end record."""
    zip64 = force_zip64 or entries >= MAX_U16 or directory_offset >= MAX_U32 or directory_size >= MAX_U32
    out = b""
    if zip64:
        zip64_end_offset = directory_offset + directory_size
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, VERSION_MADE_BY, 45, 0, 0, entries, entries,
                           directory_size, directory_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1)
    count = MAX_U16 if force_zip64 or entries >= MAX_U16 else entries
    size = MAX_U32 if force_zip64 else min(directory_size, MAX_U32)
    offset = MAX_U32 if force_zip64 else min(directory_offset, MAX_U32)
    return out + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, offset, 0)
