"""What every source of data keys shares: the `KeyProvider` protocol, its error, the context's canonical form.

The providers themselves (keys.py: KMS, a local key file) and the request-key cache in front of them
(key_cache.py) both build on this module, so that keys.py can put a provider behind the cache
without the two importing each other. keys.py re-exports every name here: import them from there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

DATA_KEY_BYTES = 32


class KeyUnwrapError(Exception):
    """The wrapped data key cannot be opened: another key, another context, or tampering."""


@runtime_checkable
class KeyProvider(Protocol):
    @property
    def provider_id(self) -> str:
        """Non-secret id stored in envelope headers: '<kind>:<key reference>' (kind is 'kms' or 'local')."""
        ...

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A fresh data key: (plaintext 32 bytes, wrapped key to store beside the ciphertext)."""
        ...

    def unwrap(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext data key of `wrapped_key`; raises KeyUnwrapError if key or context do not match."""
        ...


def canonical_context(context: Mapping[str, str]) -> bytes:
    """One byte string per context (sorted keys, no whitespace), used as associated data."""
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("encryption context keys and values must be strings")
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
