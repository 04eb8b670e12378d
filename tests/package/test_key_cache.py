"""The request-key cache: one inner key per request and process, a distinct key bound to each object.

The inner provider is a real `LocalKeyProvider` that counts its calls (and, once, the sandbox's KMS
over HTTP): what is cached must still open only under its own request and object.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dsar_pipeline.sealing.envelope import EnvelopeContextError, EnvelopeKeyError, decrypt_bytes, encrypt_bytes
from dsar_pipeline.sealing.key_cache import (
    CHECK_BYTES,
    LEGACY_MAGIC,
    MAGIC,
    ROOT_OBJECT,
    SALT_BYTES,
    RequestKeyCache,
    RequestKeyFiles,
)
from dsar_pipeline.sealing.keys import KeyUnwrapError, KmsKeyProvider, LocalKeyProvider
from dsar_pipeline.sealing.workstore import LocalWorkStore


class CountingLocalKeys(LocalKeyProvider):
    """A real local key provider that counts how often it is asked."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sealed: list[dict[str, str]] = []
        self.opened: list[dict[str, str]] = []

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        self.sealed.append(dict(context))
        return super().new_data_key(context)

    def unwrap(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        self.opened.append(dict(context))
        return super().unwrap(wrapped_key, context)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ctx(request: str, name: str) -> dict[str, str]:
    return {"request": request, "staging": name}


@pytest.fixture
def inner(tmp_path: Path) -> CountingLocalKeys:
    return CountingLocalKeys(tmp_path / "kek")


def test_one_inner_key_per_request_each_object_its_own_key(inner: CountingLocalKeys) -> None:
    cache = RequestKeyCache(inner)
    blobs = {f"file-{n}": encrypt_bytes(f"content {n}".encode(), cache, ctx("req-1", f"file-{n}")) for n in range(25)}
    encrypt_bytes(b"other", cache, ctx("req-2", "file-0"))
    assert inner.sealed == [{"request": "req-1"}, {"request": "req-2"}]
    keys = {cache.new_data_key(ctx("req-1", f"f{n}"))[0] for n in range(50)}
    assert len(keys) == 50  # a fresh derived key for every object
    reader = RequestKeyCache(CountingLocalKeys(inner.path))  # another process: its own cache, same key file
    for name, blob in blobs.items():
        assert decrypt_bytes(blob, reader, ctx("req-1", name)) == f"content {name.split('-')[1]}".encode()
    assert reader.inner.opened == [{"request": "req-1"}]  # type: ignore[attr-defined]


def test_a_cached_key_opens_only_its_own_request_and_object(inner: CountingLocalKeys) -> None:
    cache = RequestKeyCache(inner)
    key, wrapped = cache.new_data_key(ctx("req-1", "a"))
    assert cache.unwrap(wrapped, ctx("req-1", "a")) == key
    with pytest.raises(KeyUnwrapError, match="does not derive"):
        cache.unwrap(wrapped, ctx("req-1", "b"))  # same request key, another object
    with pytest.raises(KeyUnwrapError):
        RequestKeyCache(inner).unwrap(wrapped, ctx("req-2", "a"))  # the request key is bound to req-1
    salt_at = len(MAGIC)
    flipped = wrapped[:salt_at] + bytes([wrapped[salt_at] ^ 1]) + wrapped[salt_at + 1:]
    with pytest.raises(KeyUnwrapError):
        cache.unwrap(flipped, ctx("req-1", "a"))
    with pytest.raises(KeyUnwrapError, match="wrong length"):
        cache.unwrap(wrapped[:len(MAGIC) + SALT_BYTES], ctx("req-1", "a"))
    blob = encrypt_bytes(b"x", cache, ctx("req-1", "a"))
    with pytest.raises(EnvelopeContextError):
        decrypt_bytes(blob, cache, ctx("req-1", "b"))
    with pytest.raises(EnvelopeKeyError):
        decrypt_bytes(blob, RequestKeyCache(LocalKeyProvider(inner.path.with_name("other-kek"))), ctx("req-1", "a"))


def test_request_keys_are_renewed_by_age_and_by_use(inner: CountingLocalKeys) -> None:
    clock = Clock()
    cache = RequestKeyCache(inner, max_age_s=60, max_uses=3, clock=clock)
    for _ in range(7):
        cache.new_data_key(ctx("req-1", "a"))
    assert len(inner.sealed) == 3  # 3 + 3 + 1 uses
    clock.now = 61
    cache.new_data_key(ctx("req-1", "a"))
    assert len(inner.sealed) == 4


def test_the_cache_is_bounded_and_forgets_the_oldest_first(inner: CountingLocalKeys) -> None:
    cache = RequestKeyCache(inner, max_entries=2)
    wrapped = {r: cache.new_data_key(ctx(r, "a"))[1] for r in ("req-1", "req-2", "req-3")}
    cache.new_data_key(ctx("req-1", "b"))
    assert [c["request"] for c in inner.sealed] == ["req-1", "req-2", "req-3", "req-1"]
    inner.opened.clear()
    cache.unwrap(wrapped["req-3"], ctx("req-3", "a"))
    cache.unwrap(wrapped["req-2"], ctx("req-2", "a"))  # evicted: opened again by the inner provider
    assert inner.opened == [{"request": "req-2"}]


def test_objects_sealed_by_the_inner_provider_and_contexts_without_a_request_pass_through(
        inner: CountingLocalKeys) -> None:
    old = encrypt_bytes(b"sealed before the cache", inner, ctx("req-1", "a"))
    cache = RequestKeyCache(inner)
    assert decrypt_bytes(old, cache, ctx("req-1", "a")) == b"sealed before the cache"
    key, wrapped = cache.new_data_key({"purpose": "audit"})
    assert not wrapped.startswith(MAGIC) and inner.unwrap(wrapped, {"purpose": "audit"}) == key


def test_over_the_sandbox_kms_one_generate_and_one_decrypt_per_request(federation) -> None:
    settings = federation.settings
    kms = boto3.client("kms", endpoint_url=settings["DSAR_KMS_ENDPOINT_URL"], region_name=settings["DSAR_AWS_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    calls: list[str] = []
    kms.meta.events.register("before-call.kms.*", lambda model, **_: calls.append(model.name))
    provider = KmsKeyProvider(kms, settings["DSAR_KMS_KEY_ID"])
    writer, reader = RequestKeyCache(provider), RequestKeyCache(provider)
    blobs = [encrypt_bytes(bytes([n]) * 100, writer, ctx("req-kms", str(n))) for n in range(10)]
    assert [decrypt_bytes(b, reader, ctx("req-kms", str(n))) for n, b in enumerate(blobs)] == \
        [bytes([n]) * 100 for n in range(10)]
    assert calls == ["GenerateDataKey", "Decrypt"]
    with pytest.raises(EnvelopeKeyError):
        decrypt_bytes(blobs[0].replace(b'"req-kms"', b'"req-kmz"'), RequestKeyCache(provider), ctx("req-kmz", "0"))


def test_a_request_key_kept_in_the_work_store_serves_every_process(inner: CountingLocalKeys, tmp_path: Path) -> None:
    store = LocalWorkStore(tmp_path / "work")
    first = RequestKeyCache(inner, roots=RequestKeyFiles(lambda: store))
    blobs = {f"a{n}": encrypt_bytes(b"first", first, ctx("req-1", f"a{n}")) for n in range(3)}
    assert store.exists(f"req-1/{ROOT_OBJECT}") and len(inner.sealed) == 1
    other = CountingLocalKeys(inner.path)  # another process: own caches, same store
    second = RequestKeyCache(other, roots=RequestKeyFiles(lambda: store))
    blobs |= {f"b{n}": encrypt_bytes(b"second", second, ctx("req-1", f"b{n}")) for n in range(3)}
    assert (other.sealed, other.opened) == ([], [{"request": "req-1"}])  # reused, opened once
    reader_keys = CountingLocalKeys(inner.path)
    reader = RequestKeyCache(reader_keys)
    assert {decrypt_bytes(blob, reader, ctx("req-1", name)) for name, blob in blobs.items()} == {b"first", b"second"}
    assert reader_keys.opened == [{"request": "req-1"}]  # one request key behind all six objects
    store.delete_prefix("req-1")  # purge: the request key goes with the intermediates
    assert not store.exists(f"req-1/{ROOT_OBJECT}")
    RequestKeyCache(other, roots=RequestKeyFiles(lambda: store)).new_data_key(ctx("req-1", "c"))
    assert other.sealed == [{"request": "req-1"}] and store.exists(f"req-1/{ROOT_OBJECT}")


# --- the check value and forgetting expired keys ------------------------------------------------------------


def _parts(wrapped: bytes) -> tuple[bytes, bytes, bytes]:
    head = len(MAGIC) + SALT_BYTES
    return wrapped[len(MAGIC):head], wrapped[head:head + CHECK_BYTES], wrapped[head + CHECK_BYTES:]


def test_the_check_value_is_under_a_check_key_not_the_data_key(inner: CountingLocalKeys) -> None:
    cache = RequestKeyCache(inner)
    key, wrapped = cache.new_data_key(ctx("req-1", "a"))
    assert wrapped.startswith(MAGIC) and MAGIC != LEGACY_MAGIC
    salt, check, inner_wrapped = _parts(wrapped)
    under_data_key = hmac.new(key, b"dsar/key-check/v1", hashlib.sha256).digest()[:CHECK_BYTES]
    assert check != under_data_key
    root = inner.unwrap(inner_wrapped, {"request": "req-1"})
    canonical = b'{"request":"req-1","staging":"a"}'
    check_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                     info=b"dsar/key-check-key/v1\x00" + canonical).derive(root)
    assert check_key != key
    assert check == hmac.new(check_key, b"dsar/key-check/v1", hashlib.sha256).digest()[:CHECK_BYTES]


def test_objects_sealed_with_the_old_check_value_still_open(inner: CountingLocalKeys) -> None:
    cache = RequestKeyCache(inner)
    key, wrapped = cache.new_data_key(ctx("req-1", "a"))
    salt, _, inner_wrapped = _parts(wrapped)
    old_check = hmac.new(key, b"dsar/key-check/v1", hashlib.sha256).digest()[:CHECK_BYTES]
    legacy = LEGACY_MAGIC + salt + old_check + inner_wrapped  # what the previous version wrote
    assert RequestKeyCache(inner).unwrap(legacy, ctx("req-1", "a")) == key
    with pytest.raises(KeyUnwrapError, match="does not derive"):
        RequestKeyCache(inner).unwrap(legacy, ctx("req-1", "b"))
    with pytest.raises(KeyUnwrapError, match="does not derive"):  # the versions are not interchangeable
        RequestKeyCache(inner).unwrap(MAGIC + salt + old_check + inner_wrapped, ctx("req-1", "a"))


def test_an_expired_key_is_gone_after_any_other_access_and_its_buffer_wiped(inner: CountingLocalKeys) -> None:
    clock = Clock()
    cache = RequestKeyCache(inner, max_age_s=60, clock=clock, sweep_timer=False)
    _, wrapped = cache.new_data_key(ctx("req-1", "a"))
    sealing = cache.state.sealing["req-1"].plaintext
    opened = cache.state.opened[_parts(wrapped)[2]].plaintext
    assert any(sealing) and any(opened) and sealing is not opened
    clock.now = 61
    blob = encrypt_bytes(b"other request", cache, ctx("req-2", "a"))  # any access, to another request
    assert "req-1" not in cache.state.sealing and _parts(wrapped)[2] not in cache.state.opened
    assert sealing == bytearray(32) and opened == bytearray(32)  # overwritten, not just dropped
    assert decrypt_bytes(blob, cache, ctx("req-2", "a")) == b"other request"
    clock.now = 200
    cache.unwrap(cache.new_data_key(ctx("req-3", "a"))[1], ctx("req-3", "a"))
    assert list(cache.state.sealing) == ["req-3"]


def test_keys_evicted_by_use_or_by_size_are_wiped(inner: CountingLocalKeys) -> None:
    cache = RequestKeyCache(inner, max_uses=2, max_entries=1, sweep_timer=False)
    cache.new_data_key(ctx("req-1", "a"))
    first = cache.state.sealing["req-1"].plaintext
    cache.new_data_key(ctx("req-2", "a"))  # one entry at most: req-1 goes
    assert first == bytearray(32) and list(cache.state.sealing) == ["req-2"]
    second = cache.state.sealing["req-2"].plaintext
    cache.new_data_key(ctx("req-2", "b"))  # second use: used up
    cache.new_data_key(ctx("req-2", "c"))
    assert second == bytearray(32) and any(cache.state.sealing["req-2"].plaintext)
    live = cache.state.sealing["req-2"].plaintext
    cache.state.clear()
    assert live == bytearray(32) and not cache.state.sealing and not cache.state.opened


def test_an_idle_process_forgets_expired_keys_on_a_timer(inner: CountingLocalKeys) -> None:
    cache = RequestKeyCache(inner, max_age_s=0.2)
    cache.new_data_key(ctx("req-1", "a"))
    buffer = cache.state.sealing["req-1"].plaintext
    deadline = time.monotonic() + 5
    while (cache.state.sealing or cache.state.opened) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cache.state.sealing and not cache.state.opened and buffer == bytearray(32)
