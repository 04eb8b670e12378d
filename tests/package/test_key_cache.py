"""The request-key cache: one inner key per request and process, a distinct key bound to each object.

The inner provider is a real `LocalKeyProvider` that counts its calls (and, once, the sandbox's KMS
over HTTP): what is cached must still open only under its own request and object.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import boto3
import pytest

from dsar_pipeline.package.envelope import EnvelopeContextError, EnvelopeKeyError, decrypt_bytes, encrypt_bytes
from dsar_pipeline.package.key_cache import MAGIC, ROOT_OBJECT, SALT_BYTES, RequestKeyCache, RequestKeyFiles
from dsar_pipeline.package.keys import KeyUnwrapError, KmsKeyProvider, LocalKeyProvider
from dsar_pipeline.workstore import LocalWorkStore


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
