"""Streaming copy of one recording into a sink, hashed on the way: memory stays flat at any size.

The object is read in chunks (`iter_chunks`) and each chunk is written and hashed before the next
is read, so a 2 GB recording costs one chunk of memory. A copy is complete only when the byte count
equals the object's Content-Length (and the size the record announced). A transient failure
retries the whole copy: the sink is rewound to where it started and truncated first, which needs a
seekable sink; a sink that cannot be rewound is refused a retry rather than handed a spliced file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from connectors.errors import PermanentError, TruncatedPage
from connectors.recordings.store import Bucket

DEFAULT_CHUNK_BYTES = 1024 * 1024
OPERATION = "GetObject audio/{date}/{call-id}.wav (copy)"


@dataclass(frozen=True)
class CopyResult:
    """What was written to the sink: its length and SHA-256 (hex), for the package's manifest."""

    bytes: int
    sha256: str


def copy_object(bucket: Bucket, key: str, size: int, sink: BinaryIO,
                chunk_size: int = DEFAULT_CHUNK_BYTES) -> CopyResult:
    """Copy `key` (announced as `size` bytes) into `sink` from where it stands; retried whole."""
    start = sink.tell() if _seekable(sink) else None
    dirty = False  # did a failed attempt leave bytes in the sink?

    def attempt() -> CopyResult:
        nonlocal dirty
        if dirty:
            if start is None:
                raise PermanentError("the copy failed part-way and the sink cannot be rewound to retry it")
            sink.seek(start)
            sink.truncate()
            dirty = False
        answer = bucket.client.get_object(Bucket=bucket.name, Key=key)
        body = answer["Body"]
        length = int(answer["ContentLength"])
        try:
            if length != size:
                raise PermanentError(f"object is {length} bytes, the record announced {size}")
            digest = hashlib.sha256()
            copied = 0
            for chunk in body.iter_chunks(chunk_size):
                copied += len(chunk)
                if copied > length:
                    raise TruncatedPage(f"answer longer than its Content-Length ({length})")
                dirty = True
                _write_all(sink, chunk)
                digest.update(chunk)
        finally:
            body.close()
        if copied != length:
            raise TruncatedPage(f"answer cut short ({copied} of {length} bytes)")
        return CopyResult(copied, digest.hexdigest())

    return bucket.call(OPERATION, attempt)


def _seekable(sink: BinaryIO) -> bool:
    try:
        return bool(sink.seekable())
    except (AttributeError, ValueError):
        return False


def _write_all(sink: BinaryIO, chunk: bytes) -> None:
    """Write every byte: a raw (unbuffered) sink may take fewer than it was given."""
    view = memoryview(chunk)
    while view:
        written = sink.write(view)
        if written is None:  # a non-blocking raw sink that could take nothing now
            raise OSError("sink accepted no bytes")
        view = view[written:]
