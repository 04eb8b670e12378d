"""Envelope encryption at rest: a fresh AES-256-GCM data key per object, sealed in chunks so it streams.

Why chunks: a single GCM message must be held whole to verify before any byte may be trusted, and
the package holds objects of hundreds of MB. Each chunk is its own GCM message, so a reader verifies
as it goes with memory bounded by one chunk, and the chunk layout makes every attack on the stream
structure fail authentication:

    magic "DSARENV" | version 0x01 | header length (u32 BE) | header (canonical JSON)
    chunk 0 | chunk 1 | ... | final chunk            each = AES-256-GCM(plaintext ≤ chunk size) + 16-byte tag

- header: `alg`, `chunk` (plaintext bytes per chunk, ≤ 1 MiB), `ctx` (the encryption context),
  `kp` (key-provider id), `nonce` (8 random bytes, base64), `wk` (the wrapped data key, base64);
- nonce of chunk i = the 8-byte prefix || i as u32 BE, so reordered or swapped chunks fail;
- associated data of every chunk = SHA-256 of magic+version+length+header || final flag (0 or 1), so
  a changed header fails, a file cut at a chunk boundary fails (its last chunk was sealed non-final),
  and bytes appended after the final chunk fail (the final chunk then reads as non-final);
- every chunk but the last holds exactly `chunk` plaintext bytes; the last holds 0..`chunk`
  (there is always a final chunk, so even an empty object is authenticated).

The context (opaque ids only: it is not secret and KMS logs it) is bound twice: the key provider
wraps the data key under it, and a reader given the expected context refuses any other.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import secrets
import struct
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsar_pipeline.sealing.keys import KeyProvider, KeyUnwrapError, canonical_context, provider_kind

MAGIC = b"DSARENV"
VERSION = 1
ALGORITHM = "AES-256-GCM/chunked"
CHUNK_SIZE = 1 << 20  # 1 MiB of plaintext per chunk (the maximum)
MIN_CHUNK_SIZE = 16
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 8
MAX_CHUNKS = 1 << 32
MAX_HEADER_SIZE = 64 * 1024
_PREAMBLE = struct.Struct(">7sBI")  # magic, version, header length


class EnvelopeError(ValueError):
    """The object is not a readable envelope (messages never contain plaintext or context values)."""


class EnvelopeFormatError(EnvelopeError):
    """Not an envelope, an unknown version, or a corrupt header."""


class EnvelopeContextError(EnvelopeError):
    """The envelope was sealed for another context (another request or object)."""


class EnvelopeKeyError(EnvelopeError):
    """The data key does not unwrap: another key provider, another key, or a tampered header."""


class EnvelopeTamperedError(EnvelopeError):
    """A chunk failed authentication: changed, reordered, swapped or spliced data."""


class EnvelopeTruncatedError(EnvelopeTamperedError):
    """The stream ends before its final chunk."""


def _chunk_nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _chunk_aad(header_digest: bytes, final: bool) -> bytes:
    return header_digest + (b"\x01" if final else b"\x00")


class EnvelopeWriter(io.BufferedIOBase):
    """A write-only binary stream that seals what is written to it into `stream` as an envelope.

    `close()` seals the final chunk; leaving through an exception (or never closing) does not, so an
    interrupted object can never be read as complete. The underlying stream is flushed, not closed.
    """

    def __init__(self, stream: IO[bytes], provider: KeyProvider, context: Mapping[str, str], *,
                 chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__()
        if not MIN_CHUNK_SIZE <= chunk_size <= CHUNK_SIZE:
            raise ValueError(f"chunk size must be between {MIN_CHUNK_SIZE} and {CHUNK_SIZE} bytes")
        canonical_context(context)
        key, wrapped = provider.new_data_key(context)
        self._stream = stream
        self._aead = AESGCM(key)
        self._chunk = chunk_size
        self._prefix = secrets.token_bytes(NONCE_PREFIX_SIZE)
        header = json.dumps({
            "alg": ALGORITHM, "chunk": chunk_size, "ctx": dict(context), "kp": provider.provider_id,
            "nonce": base64.b64encode(self._prefix).decode(), "wk": base64.b64encode(wrapped).decode(),
        }, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        preamble = _PREAMBLE.pack(MAGIC, VERSION, len(header)) + header
        self._digest = hashlib.sha256(preamble).digest()
        self._index = 0
        # fixed buffers, reused for every chunk: no reallocation, memory flat at two chunks
        self._plain = bytearray(chunk_size)
        self._plain_view = memoryview(self._plain)
        self._fill = 0
        self._sealed_view = memoryview(bytearray(chunk_size + TAG_SIZE))
        self._aborted = False
        self.plaintext_bytes = 0
        stream.write(preamble)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # bytes-like
        if self.closed:
            raise ValueError("write to a closed envelope")
        size = len(data) if isinstance(data, bytes | bytearray) else memoryview(data).nbytes
        self.plaintext_bytes += size
        chunk, fill = self._chunk, self._fill
        if fill + size <= chunk:  # the common small write: copy into the fixed buffer
            self._plain[fill:fill + size] = data
            self._fill = fill + size
            return size
        view = memoryview(data).cast("B")
        take = chunk - fill  # top the buffer up to one chunk: more data follows, so it is not final
        self._plain[fill:chunk] = view[:take]
        self._seal(self._plain_view, final=False)
        pos = take
        while size - pos > chunk:  # whole chunks straight from the caller's buffer while more follows
            self._seal(view[pos:pos + chunk], final=False)
            pos += chunk
        rest = size - pos
        self._plain[:rest] = view[pos:]
        self._fill = rest
        return size

    def _seal(self, plaintext: Any, *, final: bool) -> None:
        if self._index >= MAX_CHUNKS:
            raise EnvelopeError("object too large for one envelope")
        length = len(plaintext) + TAG_SIZE
        self._aead.encrypt_into(_chunk_nonce(self._prefix, self._index), plaintext,
                                _chunk_aad(self._digest, final), self._sealed_view[:length])
        _write_all(self._stream, self._sealed_view[:length])
        self._index += 1

    def close(self) -> None:
        if self.closed:
            return
        if not self._aborted:
            # a full buffer that was never followed by more data is the final chunk itself
            self._seal(self._plain_view[:self._fill], final=True)
            self._fill = 0
            self._stream.flush()
        super().close()

    def abort(self) -> None:
        """Stop without sealing the final chunk: what was written stays unreadable (truncated)."""
        if not self.closed:
            self._aborted = True
            self._fill = 0
            super().close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # never seal on garbage collection: an object nobody closed is an interrupted object
        with contextlib.suppress(Exception):  # nothing useful to do during finalisation
            self.abort()


class EnvelopeReader(io.BufferedIOBase):
    """A read-only binary stream of the plaintext of an envelope, verified chunk by chunk.

    With `context`, an envelope sealed for any other context is refused before its key is unwrapped.
    Errors surface when the faulty chunk is reached: consume to EOF before trusting the whole.
    """

    def __init__(self, stream: IO[bytes], provider: KeyProvider, context: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._stream = stream
        preamble = _read_exact(stream, _PREAMBLE.size)
        if len(preamble) < _PREAMBLE.size:
            raise EnvelopeFormatError("envelope: not an envelope (too short)")
        magic, version, header_len = _PREAMBLE.unpack(preamble)
        if magic != MAGIC:
            raise EnvelopeFormatError("envelope: not an envelope (bad magic)")
        if version != VERSION:
            raise EnvelopeFormatError(f"envelope: unsupported version {version}")
        if header_len > MAX_HEADER_SIZE:
            raise EnvelopeFormatError("envelope: header too large")
        header_bytes = _read_exact(stream, header_len)
        if len(header_bytes) < header_len:
            raise EnvelopeTruncatedError("envelope: truncated inside the header")
        header = _parse_header(header_bytes)
        if context is not None and canonical_context(context) != canonical_context(header["ctx"]):
            raise EnvelopeContextError("envelope: sealed for another context (request or object)")
        if provider_kind(header["kp"]) != provider_kind(provider.provider_id):
            raise EnvelopeKeyError(f"envelope: sealed with a '{provider_kind(header['kp'])}' key provider, "
                                   f"this one is '{provider_kind(provider.provider_id)}'")
        try:
            key = provider.unwrap(header["wk"], header["ctx"])
        except KeyUnwrapError as exc:
            raise EnvelopeKeyError(f"envelope: the data key does not unwrap ({exc})") from None
        self.context: dict[str, str] = dict(header["ctx"])
        self._aead = AESGCM(key)
        self._chunk: int = header["chunk"]
        self._block = self._chunk + TAG_SIZE
        self._prefix: bytes = header["nonce"]
        self._digest = hashlib.sha256(preamble + header_bytes).digest()
        self._index = 0
        self._carry = b""
        self._plain: bytes = b""
        self._pos = 0
        self._done = False
        self.plaintext_size = self._size_from_length(len(preamble) + header_len)

    def _size_from_length(self, data_start: int) -> int | None:
        """Plaintext size derived from the ciphertext length (seekable streams only; verified while reading)."""
        try:
            if not self._stream.seekable():
                return None
            here = self._stream.tell()
            end = self._stream.seek(0, io.SEEK_END)
            self._stream.seek(here)
        except (OSError, AttributeError):
            return None
        body = end - data_start
        chunks = max(1, -(-body // self._block))
        return max(0, body - chunks * TAG_SIZE)

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        if self._done:
            return False
        block = self._carry + _read_exact(self._stream, self._block - len(self._carry))
        self._carry = b""
        if len(block) == self._block:
            self._carry = self._stream.read(1) or b""
            final = not self._carry
        else:
            final = True
        if len(block) < TAG_SIZE:
            raise EnvelopeTruncatedError(f"envelope: truncated (chunk {self._index} is missing or cut)")
        nonce = _chunk_nonce(self._prefix, self._index)
        try:
            self._plain = self._aead.decrypt(nonce, block, _chunk_aad(self._digest, final))
        except InvalidTag:
            raise self._diagnose(nonce, block, final) from None
        self._pos = 0
        self._index += 1
        self._done = final
        return True

    def _diagnose(self, nonce: bytes, block: bytes, final: bool) -> EnvelopeError:
        """Tell a cut or an appended tail from other tampering (only on the error path)."""
        try:
            self._aead.decrypt(nonce, block, _chunk_aad(self._digest, not final))
        except InvalidTag:
            return EnvelopeTamperedError(
                f"envelope: chunk {self._index} failed authentication (tampered, reordered or corrupted)")
        if final:
            return EnvelopeTruncatedError(f"envelope: truncated after chunk {self._index} (final chunk missing)")
        return EnvelopeTamperedError("envelope: data follows the final chunk")

    def read1(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed envelope")
        while self._pos >= len(self._plain):
            if not self._next_chunk():
                return b""
        if size is None or size < 0:
            size = len(self._plain) - self._pos
        if self._pos == 0 and size >= len(self._plain):
            self._pos = len(self._plain)
            return self._plain
        out = self._plain[self._pos:self._pos + size]
        self._pos += len(out)
        return out

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while part := self.read1():
                parts.append(part)
            return b"".join(parts)
        parts = []
        remaining = size
        while remaining > 0:
            part = self.read1(remaining)
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            part = self.read1(len(view) - filled)
            if not part:
                break
            view[filled:filled + len(part)] = part
            filled += len(part)
        return filled

    def readinto1(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        part = self.read1(len(view))
        view[:len(part)] = part
        return len(part)


def _write_all(stream: IO[bytes], data: memoryview) -> None:
    """Write every byte (raw streams may write less than asked); the bytes are copied before returning."""
    written = stream.write(data)
    while written is not None and written < len(data):
        data = data[written:]
        written = stream.write(data)


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    """Read `size` bytes unless the stream ends first (raw streams may return short reads)."""
    if size <= 0:
        return b""
    first = stream.read(size) or b""
    if len(first) == size or not first:
        return first
    parts = [first]
    got = len(first)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
        chunk = header["chunk"]
        prefix = base64.b64decode(header["nonce"], validate=True)
        wrapped = base64.b64decode(header["wk"], validate=True)
        ctx = header["ctx"]
        provider = header["kp"]
        alg = header["alg"]
    except (ValueError, KeyError, TypeError):
        raise EnvelopeFormatError("envelope: header is corrupt") from None
    if (alg != ALGORITHM or not isinstance(chunk, int) or not MIN_CHUNK_SIZE <= chunk <= CHUNK_SIZE
            or len(prefix) != NONCE_PREFIX_SIZE or not isinstance(ctx, dict) or not isinstance(provider, str)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in ctx.items())):
        raise EnvelopeFormatError("envelope: header is corrupt or of an unknown kind")
    return {"chunk": chunk, "nonce": prefix, "wk": wrapped, "ctx": ctx, "kp": provider}


def encrypt_bytes(data: bytes, provider: KeyProvider, context: Mapping[str, str], *,
                  chunk_size: int = CHUNK_SIZE) -> bytes:
    """Seal a small object in memory (same format as the streaming writer)."""
    out = io.BytesIO()
    writer = EnvelopeWriter(out, provider, context, chunk_size=chunk_size)
    writer.write(data)
    writer.close()
    return out.getvalue()


def decrypt_bytes(blob: bytes, provider: KeyProvider, context: Mapping[str, str] | None) -> bytes:
    """Open a small sealed object; `context` must equal the one it was sealed with (None skips the check)."""
    reader = EnvelopeReader(io.BytesIO(blob), provider, context)
    data = reader.read()
    reader.close()
    return data
