"""Fewer KMS calls: one KMS data key per request and process, a derived key per object.

Every object at rest used to cost one KMS call to seal (`GenerateDataKey`) and one to open
(`Decrypt`). The export stages some 25 files per request and the package reads them all back, so a
backlog of 100 requests made thousands of calls: a round trip each, CPU on both sides, and money.
This provider wraps another (KMS in production) the way the AWS Encryption SDK's caching materials
manager does, with the same kind of limits:

- sealing: the first object of a request asks the inner provider for a *request key*, bound to the
  request alone (`{"request": id}`). Each object's data key is then derived from it with
  HKDF-SHA256 over a fresh 16-byte salt and the object's whole context, so every object still has
  its own key, bound to its own context. Its plaintext stays in this process's memory for at most
  `max_uses` objects and `max_age_s` seconds, then is asked for (or unwrapped) again;
- sharing: given `roots` (the work store), the wrapped request key is also kept beside the
  request's intermediates (`<request>/request.key`). Any process sealing for that request reuses
  it, so every object of the request carries the same wrapped key and each step process opens it
  with one `Decrypt`, however many objects it reads. Two processes racing to create it both work:
  each object's header holds the wrapped key it was sealed under. Purging the request's prefix
  deletes it with the rest;
- opening: the wrapped request key in an object's header is unwrapped once (then cached, same
  limits) and the object's key derived again. A key check value (8 bytes of HMAC under the derived
  key) tells a wrong context from tampering, so opening under another object's context fails as
  `KeyUnwrapError`, as with the inner provider.

The "wrapped key" stored in the envelope header is `MAGIC | salt | check | inner wrapped request
key`; contexts without a request id, and wrapped keys of the inner provider itself (objects sealed
before this existed), go to the inner provider unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dsar_pipeline.package.keys import DATA_KEY_BYTES, KeyProvider, KeyUnwrapError, canonical_context
from dsar_pipeline.workstore import WorkStore

ROOT_OBJECT = "request.key"
MAGIC = b"DSARRK1"  # no KMS ciphertext blob nor local wrap starts so (they start with 0x01)
SALT_BYTES = 16
CHECK_BYTES = 8
_INFO = b"dsar/object-key/v1\x00"
_CHECK = b"dsar/key-check/v1"


@dataclass
class _RequestKey:
    plaintext: bytes
    wrapped: bytes
    born: float
    uses: int = 0


class RootStore(Protocol):
    def get(self, request: str) -> bytes | None: ...

    def put(self, request: str, wrapped: bytes) -> None: ...


class RequestKeyFiles:
    """Wrapped request keys beside the request's intermediates in the work store (built on first
    use: most callers find the key already in this process's cache)."""

    def __init__(self, store: Callable[[], WorkStore]) -> None:
        self._make = store

    @functools.cached_property
    def store(self) -> WorkStore:
        return self._make()

    def get(self, request: str) -> bytes | None:
        name = f"{request}/{ROOT_OBJECT}"
        return self.store.get(name) if self.store.exists(name) else None

    def put(self, request: str, wrapped: bytes) -> None:
        self.store.put(f"{request}/{ROOT_OBJECT}", wrapped)


class KeyCacheState:
    """The plaintext request keys of one process, shared by every provider built on them."""

    def __init__(self, *, max_age_s: float = 300.0, max_uses: int = 1000, max_entries: int = 512,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s, self.max_uses, self.max_entries = max_age_s, max_uses, max_entries
        self.clock = clock
        self.sealing: OrderedDict[str, _RequestKey] = OrderedDict()  # request id -> key for new objects
        self.opened: OrderedDict[bytes, _RequestKey] = OrderedDict()  # inner wrapped key -> its plaintext
        self.lock = threading.Lock()


class RequestKeyCache:
    """A `KeyProvider`: `inner` keys one per request (and process, or shared through `roots`),
    HKDF-derived keys per object. Limits apply when `state` is not given."""

    def __init__(self, inner: KeyProvider, *, state: KeyCacheState | None = None, roots: RootStore | None = None,
                 **limits: Any) -> None:
        self.inner = inner
        self.roots = roots
        self.state = state or KeyCacheState(**limits)

    @property
    def provider_id(self) -> str:
        return self.inner.provider_id

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        canonical = canonical_context(context)
        request = context.get("request")
        if not request:
            return self.inner.new_data_key(context)
        root = self._sealing_key(request)
        salt = secrets.token_bytes(SALT_BYTES)
        key = _derive(root.plaintext, salt, canonical)
        return key, MAGIC + salt + _check(key) + root.wrapped

    def unwrap(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        canonical = canonical_context(context)
        if not wrapped_key.startswith(MAGIC):
            return self.inner.unwrap(wrapped_key, context)
        request = context.get("request")
        head = len(MAGIC) + SALT_BYTES + CHECK_BYTES
        if not request or len(wrapped_key) <= head:
            raise KeyUnwrapError("derived data key without a request id or of the wrong length")
        salt, check = wrapped_key[len(MAGIC):len(MAGIC) + SALT_BYTES], wrapped_key[head - CHECK_BYTES:head]
        key = _derive(self._opened_key(wrapped_key[head:], request), salt, canonical)
        if not hmac.compare_digest(_check(key), check):
            raise KeyUnwrapError("data key does not derive under this context")
        return key

    def _sealing_key(self, request: str) -> _RequestKey:
        with self.state.lock:
            root = self.state.sealing.get(request)
            if root is not None and self._fresh(root):
                root.uses += 1
                self.state.sealing.move_to_end(request)
                return root
        shared = self.roots.get(request) if self.roots is not None else None
        if shared is not None:
            plaintext, wrapped = self._opened_key(shared, request), shared
        else:
            plaintext, wrapped = self.inner.new_data_key({"request": request})
            if self.roots is not None:
                self.roots.put(request, wrapped)
        root = _RequestKey(plaintext, wrapped, self.state.clock(), uses=1)
        with self.state.lock:
            self.state.sealing[request] = root
            self.state.opened.setdefault(wrapped, _RequestKey(plaintext, wrapped, root.born))
            self._trim()
        return root

    def _opened_key(self, wrapped: bytes, request: str) -> bytes:
        with self.state.lock:
            root = self.state.opened.get(wrapped)
            if root is not None and self._fresh(root):
                root.uses += 1
                self.state.opened.move_to_end(wrapped)
                return root.plaintext
        plaintext = self.inner.unwrap(wrapped, {"request": request})
        if len(plaintext) != DATA_KEY_BYTES:
            raise KeyUnwrapError("request key of the wrong length")
        with self.state.lock:
            self.state.opened[wrapped] = _RequestKey(plaintext, wrapped, self.state.clock(), uses=1)
            self._trim()
        return plaintext

    def _fresh(self, root: _RequestKey) -> bool:
        return root.uses < self.state.max_uses and self.state.clock() - root.born < self.state.max_age_s

    def _trim(self) -> None:
        for entries in (self.state.sealing, self.state.opened):
            while len(entries) > self.state.max_entries:
                entries.popitem(last=False)


def _derive(root: bytes, salt: bytes, canonical: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_BYTES, salt=salt, info=_INFO + canonical).derive(root)


def _check(key: bytes) -> bytes:
    return hmac.new(key, _CHECK, hashlib.sha256).digest()[:CHECK_BYTES]
