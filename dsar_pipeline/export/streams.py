"""A proper buffered file object over whatever binary stream a `Staging` hands out.

The staging's stream may be a minimal writer (`write` only: the encrypted staging seals chunks as
they come). Arrow's writers and `csv` want a full file object (`writable`, `tell`, `flush`); this
adapter gives them one, buffers writes into large chunks, and never closes the staging's stream:
the staging's context manager completes the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from dsar_pipeline.package.staging import Staging

BUFFER_BYTES = 1 << 20


class _Forward(io.RawIOBase):
    """Forwards writes to `target` and counts them (for `tell`); closing it leaves `target` open."""

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self._target = target
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)  # a copy: the caller reuses its buffer, the target may keep what it gets
        self._target.write(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position


@contextmanager
def buffered(stream: BinaryIO, buffer_size: int = BUFFER_BYTES) -> Iterator[io.BufferedWriter]:
    """A `BufferedWriter` over `stream`, flushed (not closing `stream`) when the block ends."""
    writer = io.BufferedWriter(_Forward(stream), buffer_size)
    try:
        yield writer
    finally:
        if not writer.closed:
            writer.flush()


@contextmanager
def staged_binary(staging: Staging, name: str) -> Iterator[io.BufferedWriter]:
    """Create `name` in `staging` and write it through a buffered file object."""
    with staging.create(name) as stream, buffered(stream) as writer:
        yield writer


class TextSink:
    """`write(str)` as UTF-8 into a binary file object: what `csv.writer` and JSON pieces need."""

    def __init__(self, binary: io.BufferedWriter) -> None:
        self._binary = binary

    def write(self, text: str) -> int:
        self._binary.write(text.encode("utf-8"))
        return len(text)
