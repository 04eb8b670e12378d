"""Envelope encryption: round trips, the stream format's defences, the key providers and memory."""

from __future__ import annotations

import io
import json
import os
import random
import stat
import struct
import tracemalloc
from pathlib import Path

import boto3
import pytest

from dsar_pipeline.sealing.envelope import (
    CHUNK_SIZE,
    TAG_SIZE,
    EnvelopeContextError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeKeyError,
    EnvelopeReader,
    EnvelopeTamperedError,
    EnvelopeTruncatedError,
    EnvelopeWriter,
    decrypt_bytes,
    encrypt_bytes,
)
from dsar_pipeline.sealing.key_cache import RequestKeyCache
from dsar_pipeline.sealing.keys import (
    KeyFileError,
    KeyProvider,
    KeyUnwrapError,
    KmsKeyProvider,
    LocalKeyProvider,
    key_provider_from_settings,
)

CTX = {"request": "req-0001", "asset": "export"}
CHUNK = 64  # small chunks so that a few hundred bytes span several


@pytest.fixture
def provider(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider(tmp_path / "keys" / "local.key")


def _layout(blob: bytes, chunk: int = CHUNK) -> tuple[int, list[tuple[int, int]]]:
    """Start of the chunks and the (start, end) of each sealed chunk."""
    (header_len,) = struct.unpack(">I", blob[8:12])
    start = 12 + header_len
    spans, pos = [], start
    while pos < len(blob):
        end = min(pos + chunk + TAG_SIZE, len(blob))
        spans.append((pos, end))
        pos = end
    return start, spans


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7, 10_000])
def test_round_trip_of_every_size_around_chunk_boundaries(provider: LocalKeyProvider, size: int) -> None:
    data = os.urandom(size)
    blob = encrypt_bytes(data, provider, CTX, chunk_size=CHUNK)
    assert decrypt_bytes(blob, provider, CTX) == data
    reader = EnvelopeReader(io.BytesIO(blob), provider, CTX)
    assert reader.plaintext_size == size
    # one chunk more than whole chunks when the size is a multiple: the last full chunk is the final one
    assert len(blob) - _layout(blob)[0] == size + TAG_SIZE * max(1, -(-size // CHUNK))


def test_streaming_writes_and_reads_of_random_sizes(provider: LocalKeyProvider) -> None:
    rng = random.Random(7)
    data = rng.randbytes(200_000)
    out = io.BytesIO()
    with EnvelopeWriter(out, provider, CTX, chunk_size=4096) as writer:
        pos = 0
        while pos < len(data):
            step = rng.choice([0, 1, 100, 4095, 4096, 4097, 30_000])
            assert writer.write(memoryview(data)[pos:pos + step]) == len(data[pos:pos + step])
            pos += step
    reader = EnvelopeReader(io.BytesIO(out.getvalue()), provider, CTX)
    got = bytearray()
    while chunk := reader.read(rng.choice([1, 333, 4096, 50_000])):
        got += chunk
    assert bytes(got) == data
    assert reader.read(10) == b""


def test_readinto_and_read_all(provider: LocalKeyProvider) -> None:
    data = os.urandom(5000)
    blob = encrypt_bytes(data, provider, CTX, chunk_size=1000)
    reader = EnvelopeReader(io.BytesIO(blob), provider, CTX)
    buffer = bytearray(1500)
    assert reader.readinto(buffer) == 1500 and bytes(buffer) == data[:1500]
    assert reader.read() == data[1500:]


def test_the_header_carries_no_plaintext_and_the_key_only_wrapped(provider: LocalKeyProvider) -> None:
    blob = encrypt_bytes(b"Mari Maasikas 48001010000", provider, CTX)
    assert blob.startswith(b"DSARENV\x01")
    assert b"Maasikas" not in blob and b"48001010000" not in blob
    header = json.loads(blob[12:12 + struct.unpack(">I", blob[8:12])[0]])
    assert header["ctx"] == CTX and header["kp"].startswith("local:") and header["chunk"] == CHUNK_SIZE


# --- tampering: every change to the stream structure is detected, with a clear error ---------------------------

def test_a_flipped_byte_in_a_chunk_is_detected(provider: LocalKeyProvider) -> None:
    blob = bytearray(encrypt_bytes(os.urandom(500), provider, CTX, chunk_size=CHUNK))
    _, spans = _layout(bytes(blob))
    blob[spans[2][0] + 5] ^= 0x01
    reader = EnvelopeReader(io.BytesIO(bytes(blob)), provider, CTX)
    assert reader.read(2 * CHUNK)  # the chunks before the damage are fine
    with pytest.raises(EnvelopeTamperedError, match="chunk 2 failed authentication"):
        reader.read()


def test_a_flipped_byte_in_the_header_is_detected(provider: LocalKeyProvider) -> None:
    blob = encrypt_bytes(os.urandom(300), provider, CTX, chunk_size=CHUNK)
    start, _ = _layout(blob)
    header = blob[12:start]
    # change the nonce prefix (still valid base64 of 8 bytes): the header digest in every chunk's AAD differs
    parsed = json.loads(header)
    parsed["nonce"] = "AAAAAAAAAAA="
    forged = json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    assert len(forged) == len(header)
    with pytest.raises(EnvelopeTamperedError):
        decrypt_bytes(blob[:12] + forged + blob[start:], provider, CTX)
    garbled = bytearray(blob)
    garbled[14] ^= 0x20
    with pytest.raises(EnvelopeError):
        decrypt_bytes(bytes(garbled), provider, CTX)


@pytest.mark.parametrize("cut", ["at a chunk boundary", "inside a chunk", "whole final chunk", "all chunks"])
def test_truncation_is_detected(provider: LocalKeyProvider, cut: str) -> None:
    blob = encrypt_bytes(os.urandom(5 * CHUNK + 10), provider, CTX, chunk_size=CHUNK)
    start, spans = _layout(blob)
    end = {"at a chunk boundary": spans[3][1], "inside a chunk": spans[3][0] + 20,
           "whole final chunk": spans[-2][1], "all chunks": start}[cut]
    with pytest.raises(EnvelopeTamperedError) as info:
        decrypt_bytes(blob[:end], provider, CTX)
    if cut in ("at a chunk boundary", "whole final chunk", "all chunks"):
        assert isinstance(info.value, EnvelopeTruncatedError)
        assert "truncated" in str(info.value)


def test_a_cut_exactly_at_a_multiple_of_the_chunk_size_is_detected(provider: LocalKeyProvider) -> None:
    blob = encrypt_bytes(os.urandom(4 * CHUNK), provider, CTX, chunk_size=CHUNK)  # last full chunk is final
    _, spans = _layout(blob)
    with pytest.raises(EnvelopeTruncatedError, match="final chunk missing"):
        decrypt_bytes(blob[:spans[2][1]], provider, CTX)


def test_appended_bytes_are_detected(provider: LocalKeyProvider) -> None:
    blob = encrypt_bytes(os.urandom(3 * CHUNK), provider, CTX, chunk_size=CHUNK)
    with pytest.raises(EnvelopeTamperedError, match="follows the final chunk"):
        decrypt_bytes(blob + b"\x00" * (CHUNK + TAG_SIZE), provider, CTX)


def test_swapped_and_duplicated_chunks_are_detected(provider: LocalKeyProvider) -> None:
    blob = encrypt_bytes(os.urandom(6 * CHUNK), provider, CTX, chunk_size=CHUNK)
    start, spans = _layout(blob)
    parts = [blob[a:b] for a, b in spans]
    swapped = blob[:start] + parts[0] + parts[2] + parts[1] + b"".join(parts[3:])
    with pytest.raises(EnvelopeTamperedError, match="chunk 1 failed"):
        decrypt_bytes(swapped, provider, CTX)
    duplicated = blob[:start] + parts[0] + parts[0] + b"".join(parts[2:])
    with pytest.raises(EnvelopeTamperedError):
        decrypt_bytes(duplicated, provider, CTX)


def test_chunks_from_another_envelope_are_detected(provider: LocalKeyProvider) -> None:
    one = encrypt_bytes(os.urandom(3 * CHUNK), provider, CTX, chunk_size=CHUNK)
    two = encrypt_bytes(os.urandom(3 * CHUNK), provider, CTX, chunk_size=CHUNK)
    _, spans_one = _layout(one)
    _, spans_two = _layout(two)
    spliced = one[:spans_one[1][0]] + two[spans_two[1][0]:spans_two[1][1]] + one[spans_one[1][1]:]
    with pytest.raises(EnvelopeTamperedError):
        decrypt_bytes(spliced, provider, CTX)


def test_wrong_context_is_refused(provider: LocalKeyProvider) -> None:
    blob = encrypt_bytes(b"data", provider, CTX)
    with pytest.raises(EnvelopeContextError, match="another context"):
        decrypt_bytes(blob, provider, {"request": "req-0002", "asset": "export"})
    # a header rewritten to claim the other context does not unwrap: the wrap is bound to the context
    start, _ = _layout(blob)
    header = json.loads(blob[12:start])
    header["ctx"] = {"request": "req-0002", "asset": "export"}
    forged = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    forged_blob = blob[:8] + struct.pack(">I", len(forged)) + forged + blob[start:]
    with pytest.raises(EnvelopeKeyError, match="does not unwrap"):
        decrypt_bytes(forged_blob, provider, {"request": "req-0002", "asset": "export"})


def test_wrong_key_is_refused(provider: LocalKeyProvider, tmp_path: Path) -> None:
    blob = encrypt_bytes(b"data", provider, CTX)
    other = LocalKeyProvider(tmp_path / "other.key")
    with pytest.raises(EnvelopeKeyError, match="does not unwrap"):
        decrypt_bytes(blob, other, CTX)


def test_not_an_envelope(provider: LocalKeyProvider) -> None:
    with pytest.raises(EnvelopeFormatError, match="bad magic"):
        decrypt_bytes(b"PK\x03\x04" + b"\x00" * 40, provider, CTX)
    with pytest.raises(EnvelopeFormatError, match="too short"):
        decrypt_bytes(b"DSAR", provider, CTX)


# --- atomicity: an interrupted writer never yields a readable object ---------------------------------------------

def test_a_writer_left_through_an_exception_is_not_sealed(provider: LocalKeyProvider) -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError), EnvelopeWriter(out, provider, CTX, chunk_size=CHUNK) as writer:
        writer.write(os.urandom(5 * CHUNK))
        raise RuntimeError("interrupted")
    with pytest.raises(EnvelopeTruncatedError):
        decrypt_bytes(out.getvalue(), provider, CTX)


def test_a_writer_never_closed_is_not_sealed(provider: LocalKeyProvider) -> None:
    out = io.BytesIO()
    writer = EnvelopeWriter(out, provider, CTX, chunk_size=CHUNK)
    writer.write(os.urandom(2 * CHUNK + 3))
    del writer  # garbage collection must not seal the final chunk
    with pytest.raises(EnvelopeTruncatedError):
        decrypt_bytes(out.getvalue(), provider, CTX)


def test_chunk_size_bounds(provider: LocalKeyProvider) -> None:
    with pytest.raises(ValueError, match="chunk size"):
        EnvelopeWriter(io.BytesIO(), provider, CTX, chunk_size=CHUNK_SIZE + 1)
    with pytest.raises(TypeError):
        encrypt_bytes(b"x", provider, {"request": 1})  # type: ignore[dict-item]


# --- memory: flat in the size of the object ------------------------------------------------------------------------

class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.count += len(data)
        return len(data)


def test_memory_does_not_grow_with_the_object(provider: LocalKeyProvider) -> None:
    piece = os.urandom(64 * 1024)
    total = 48 * 1024 * 1024
    blob_path_sink = _Sink()
    tracemalloc.start()
    try:
        writer = EnvelopeWriter(blob_path_sink, provider, CTX)
        for _ in range(total // len(piece)):
            writer.write(piece)
        writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob_path_sink.count == 12 + _header_len(provider) + total + TAG_SIZE * (total // CHUNK_SIZE)
    assert peak < 4 * CHUNK_SIZE, f"peak {peak} bytes while sealing {total} bytes"


def _header_len(provider: KeyProvider) -> int:
    blob = encrypt_bytes(b"", provider, CTX)
    return struct.unpack(">I", blob[8:12])[0]


def test_reading_memory_does_not_grow_with_the_object(provider: LocalKeyProvider, tmp_path: Path) -> None:
    path = tmp_path / "big.env"
    piece = os.urandom(1 << 20)
    with path.open("wb") as raw, EnvelopeWriter(raw, provider, CTX) as writer:
        for _ in range(32):
            writer.write(piece)
    tracemalloc.start()
    try:
        with path.open("rb") as raw:
            reader = EnvelopeReader(raw, provider, CTX)
            assert reader.plaintext_size == 32 << 20
            read = 0
            while chunk := reader.read(256 * 1024):
                read += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == 32 << 20
    assert peak < 5 * CHUNK_SIZE, f"peak {peak} bytes while reading 32 MiB"


# --- key providers ------------------------------------------------------------------------------------------------

def test_local_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "local.key"
    first = LocalKeyProvider(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32
    blob = encrypt_bytes(b"kept", first, CTX)
    assert decrypt_bytes(blob, LocalKeyProvider(path), CTX) == b"kept"  # a second process, same key file


def test_local_key_file_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(b"x" * 16)
    path.chmod(0o600)
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKeyProvider(path)


def test_missing_key_folders_are_all_created_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "local.key"
    LocalKeyProvider(path)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644, 0o660, 0o666])
def test_an_existing_key_file_others_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "local.key"
    LocalKeyProvider(path)
    secret = path.read_bytes()
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=r"^DSAR_LOCAL_KEY_FILE: .*group or others") as caught:
        LocalKeyProvider(path)
    assert secret.hex() not in str(caught.value) and "\n" not in str(caught.value)
    path.chmod(0o400)  # read-only for its owner is fine
    LocalKeyProvider(path)


def test_an_existing_key_file_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dsar_pipeline.sealing import keys

    path = tmp_path / "local.key"
    LocalKeyProvider(path)
    if os.geteuid() == 0:
        os.chown(path, 65534, -1)  # nobody
    else:  # cannot give a file away: pretend to be someone else instead
        real = os.geteuid()
        monkeypatch.setattr(keys.os, "geteuid", lambda: real + 1)
    with pytest.raises(KeyFileError, match=r"^DSAR_LOCAL_KEY_FILE: .*owned by another user"):
        LocalKeyProvider(path)


def test_a_symlinked_key_file_is_judged_by_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    LocalKeyProvider(real)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    assert LocalKeyProvider(link).provider_id == LocalKeyProvider(real).provider_id
    real.chmod(0o644)
    with pytest.raises(KeyFileError, match="DSAR_LOCAL_KEY_FILE"):
        LocalKeyProvider(link)


def test_local_unwrap_checks_key_and_context(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path / "k")
    key, wrapped = provider.new_data_key(CTX)
    assert len(key) == 32 and key not in wrapped
    assert provider.unwrap(wrapped, CTX) == key
    with pytest.raises(KeyUnwrapError):
        provider.unwrap(wrapped, {"request": "other"})
    with pytest.raises(KeyUnwrapError):
        provider.unwrap(wrapped[:-1] + bytes([wrapped[-1] ^ 1]), CTX)
    assert provider.new_data_key(CTX)[0] != key  # a fresh data key every time


@pytest.fixture
def kms(federation) -> object:
    """The sandbox's KMS over HTTP (moto's in-process mock would reset every backend of this process)."""
    settings = federation.settings
    return boto3.client("kms", endpoint_url=settings["DSAR_KMS_ENDPOINT_URL"], region_name=settings["DSAR_AWS_REGION"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_kms_provider_round_trip_and_context_binding(kms: object, provider: LocalKeyProvider) -> None:
    key_id = kms.create_key(Description="test")["KeyMetadata"]["KeyId"]  # type: ignore[attr-defined]
    kms_provider = KmsKeyProvider(kms, key_id)
    data = os.urandom(3 * CHUNK + 5)
    blob = encrypt_bytes(data, kms_provider, CTX, chunk_size=CHUNK)
    assert decrypt_bytes(blob, kms_provider, CTX) == data
    assert json.loads(blob[12:12 + struct.unpack(">I", blob[8:12])[0]])["kp"] == f"kms:{key_id}"
    with pytest.raises(EnvelopeContextError):
        decrypt_bytes(blob, kms_provider, {"request": "req-0002", "asset": "export"})
    with pytest.raises(KeyUnwrapError, match="KMS refused"):
        kms_provider.unwrap(kms_provider.new_data_key(CTX)[1], {"request": "req-0002"})
    other_key = kms.create_key(Description="other")["KeyMetadata"]["KeyId"]  # type: ignore[attr-defined]
    with pytest.raises(EnvelopeKeyError):
        decrypt_bytes(blob, KmsKeyProvider(kms, other_key), CTX)
    with pytest.raises(EnvelopeKeyError, match="'kms' key provider"):
        decrypt_bytes(blob, provider, CTX)  # sealed by KMS, opened with a local key file


def test_provider_from_settings(tmp_path: Path, federation) -> None:
    local = key_provider_from_settings({"DSAR_KMS_KEY_ID": "", "DSAR_LOCAL_KEY_FILE": str(tmp_path / "l.key")})
    assert isinstance(local, LocalKeyProvider) and (tmp_path / "l.key").exists()
    remote = key_provider_from_settings(federation.settings)
    assert isinstance(remote, RequestKeyCache) and isinstance(remote.inner, KmsKeyProvider)
    assert remote.inner.key_id == federation.settings["DSAR_KMS_KEY_ID"]
    again = key_provider_from_settings(dict(federation.settings))
    assert (again.inner, again.state) == (remote.inner, remote.state)  # one client and cache per process
    assert decrypt_bytes(encrypt_bytes(b"x", remote, CTX), remote, CTX) == b"x"
