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
  limits) and the object's key derived again. A key check value tells a wrong context from
  tampering, so opening under another object's context fails as `KeyUnwrapError`, as with the
  inner provider. The check value is 8 bytes of HMAC under a *check key* derived beside the data
  key (same root, salt and context, its own HKDF info label): the stored value then says nothing
  computed under the data key itself, so the key that encrypts is used for nothing else;
- forgetting: plaintext request keys live in `bytearray`s. Every access first sweeps out entries
  past their age or use limit, a daemon timer sweeps an idle process, and an evicted key's buffer
  is overwritten with zeros, so an expired key does not wait in memory for the next request.
  (Best effort: copies the inner provider or HKDF made as `bytes` cannot be wiped in Python.)

The "wrapped key" stored in the envelope header is `MAGIC | salt | check | inner wrapped request
key`. `MAGIC` says which check value follows: `DSARRK2` the check key's, `DSARRK1` (objects sealed
before the check key existed: work-store intermediates and staged files of requests in flight at
an upgrade, kept until purge) an HMAC under the data key itself, still accepted when opening, never
written. Contexts without a request id, and wrapped keys of the inner provider itself (objects
sealed before this cache existed), go to the inner provider unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dsar_pipeline.sealing.key_types import DATA_KEY_BYTES, KeyProvider, KeyUnwrapError, canonical_context

if TYPE_CHECKING:  # annotations only: importing keys.py (which imports this module) need not load botocore
    from dsar_pipeline.sealing.workstore import WorkStore

T = TypeVar("T")
ROOT_OBJECT = "request.key"
MAGIC = b"DSARRK2"  # no KMS ciphertext blob nor local wrap starts so (they start with 0x01)
LEGACY_MAGIC = b"DSARRK1"  # check value under the data key itself: read, never written
SALT_BYTES = 16
CHECK_BYTES = 8
_INFO = b"dsar/object-key/v1\x00"
_CHECK_KEY_INFO = b"dsar/key-check-key/v1\x00"
_CHECK = b"dsar/key-check/v1"


@dataclass
class _RequestKey:
    plaintext: bytearray  # overwritten with zeros when evicted
    wrapped: bytes
    born: float
    uses: int = 0

    def wipe(self) -> None:
        self.plaintext[:] = bytes(len(self.plaintext))


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
                 clock: Callable[[], float] = time.monotonic, sweep_timer: bool = True) -> None:
        self.max_age_s, self.max_uses, self.max_entries = max_age_s, max_uses, max_entries
        self.clock = clock
        self.sealing: OrderedDict[str, _RequestKey] = OrderedDict()  # request id -> key for new objects
        self.opened: OrderedDict[bytes, _RequestKey] = OrderedDict()  # inner wrapped key -> its plaintext
        self.lock = threading.Lock()
        self._sweep_timer = sweep_timer
        self._timer: threading.Timer | None = None
        self._timer_pid = 0

    def fresh(self, entry: _RequestKey) -> bool:
        return entry.uses < self.max_uses and self.clock() - entry.born < self.max_age_s

    def sweep(self) -> None:
        """Evict (and wipe) every entry past its limits, and the oldest beyond `max_entries`. Caller holds `lock`."""
        for entries in (self.sealing, self.opened):
            for name in [name for name, entry in entries.items() if not self.fresh(entry)]:
                entries.pop(name).wipe()
            while len(entries) > self.max_entries:
                entries.popitem(last=False)[1].wipe()

    def clear(self) -> None:
        """Forget (and wipe) every key, e.g. at shutdown."""
        with self.lock:
            for entries in (self.sealing, self.opened):
                while entries:
                    entries.popitem()[1].wipe()

    def arm_timer(self) -> None:
        """Make sure an idle process still sweeps: one daemon timer while keys are held. Caller holds `lock`."""
        if not self._sweep_timer or not (self.sealing or self.opened):
            return
        if self._timer is not None and self._timer_pid == os.getpid() and self._timer.is_alive():
            return  # (a forked child inherits the attribute, not the thread)
        self._timer = threading.Timer(max(self.max_age_s, 0.05), self._on_timer)
        self._timer.daemon = True
        self._timer_pid = os.getpid()
        self._timer.start()

    def _on_timer(self) -> None:
        with self.lock:
            self._timer = None
            self.sweep()
            self.arm_timer()


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
        salt = secrets.token_bytes(SALT_BYTES)
        (key, check), wrapped = self._with_sealing_key(request, lambda root: _derive_pair(root, salt, canonical))
        return key, MAGIC + salt + check + wrapped

    def unwrap(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        canonical = canonical_context(context)
        legacy = wrapped_key.startswith(LEGACY_MAGIC)
        if not legacy and not wrapped_key.startswith(MAGIC):
            return self.inner.unwrap(wrapped_key, context)
        request = context.get("request")
        head = len(MAGIC) + SALT_BYTES + CHECK_BYTES
        if not request or len(wrapped_key) <= head:
            raise KeyUnwrapError("derived data key without a request id or of the wrong length")
        salt, check = wrapped_key[len(MAGIC):len(MAGIC) + SALT_BYTES], wrapped_key[head - CHECK_BYTES:head]
        if legacy:
            key = self._with_opened_key(wrapped_key[head:], request, lambda root: _derive(root, salt, canonical))
            expected = _legacy_check(key)
        else:
            key, expected = self._with_opened_key(wrapped_key[head:], request,
                                                  lambda root: _derive_pair(root, salt, canonical))
        if not hmac.compare_digest(expected, check):
            raise KeyUnwrapError("data key does not derive under this context")
        return key

    def _with_sealing_key(self, request: str, use: Callable[[bytearray], T]) -> tuple[T, bytes]:
        """`use(request key)` under the lock (so no sweep wipes it midway), and the key's wrapped form."""
        with self.state.lock:
            self.state.sweep()
            root = self.state.sealing.get(request)
            if root is not None:
                root.uses += 1
                self.state.sealing.move_to_end(request)
                return use(root.plaintext), root.wrapped
        shared = self.roots.get(request) if self.roots is not None else None
        if shared is not None:
            plaintext, wrapped = self._unwrap_root(shared, request), shared
        else:
            plaintext, wrapped = self.inner.new_data_key({"request": request})
            if self.roots is not None:
                self.roots.put(request, wrapped)
        with self.state.lock:
            born = self.state.clock()
            root = _RequestKey(bytearray(plaintext), wrapped, born, uses=1)
            self.state.sealing[request] = root
            if wrapped not in self.state.opened:
                self.state.opened[wrapped] = _RequestKey(bytearray(plaintext), wrapped, born)
            self.state.sweep()
            self.state.arm_timer()
            return use(root.plaintext), wrapped

    def _with_opened_key(self, wrapped: bytes, request: str, use: Callable[[bytearray], T]) -> T:
        """`use(plaintext of the wrapped request key)` under the lock, unwrapping it first if not cached."""
        with self.state.lock:
            self.state.sweep()
            root = self.state.opened.get(wrapped)
            if root is not None:
                root.uses += 1
                self.state.opened.move_to_end(wrapped)
                return use(root.plaintext)
        plaintext = self._unwrap_root(wrapped, request)
        with self.state.lock:
            root = _RequestKey(bytearray(plaintext), wrapped, self.state.clock(), uses=1)
            previous = self.state.opened.pop(wrapped, None)
            if previous is not None:  # another thread unwrapped it meanwhile
                previous.wipe()
            self.state.opened[wrapped] = root
            self.state.sweep()
            self.state.arm_timer()
            return use(root.plaintext)

    def _unwrap_root(self, wrapped: bytes, request: str) -> bytes:
        plaintext = self.inner.unwrap(wrapped, {"request": request})
        if len(plaintext) != DATA_KEY_BYTES:
            raise KeyUnwrapError("request key of the wrong length")
        return plaintext


def _derive(root: bytes | bytearray, salt: bytes, canonical: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_BYTES, salt=salt, info=_INFO + canonical).derive(root)


def _derive_pair(root: bytes | bytearray, salt: bytes, canonical: bytes) -> tuple[bytes, bytes]:
    """The object's data key and its check value, the latter under a separately derived check key."""
    check_key = HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_BYTES, salt=salt,
                     info=_CHECK_KEY_INFO + canonical).derive(root)
    return _derive(root, salt, canonical), hmac.new(check_key, _CHECK, hashlib.sha256).digest()[:CHECK_BYTES]


def _legacy_check(key: bytes) -> bytes:
    """The check value of `DSARRK1` objects: an HMAC under the data key itself (opening only)."""
    return hmac.new(key, _CHECK, hashlib.sha256).digest()[:CHECK_BYTES]
