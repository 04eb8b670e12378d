"""Opaque, tamper-evident pagination cursors.

A cursor names the sort key of the last item a client has seen, so a page always starts right
after it (keyset pagination: no skipped or repeated items). It is signed with an HMAC and bound to
the list it came from (a hash of path and filter, so no personal value travels in the cursor):
an edited cursor, or one replayed against another list, is refused instead of silently giving a
wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

SortKey = tuple[int, str]  # (time in microseconds since the epoch, id)


class CursorError(ValueError):
    """The cursor was not made by this server for this list."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"volt-pagination-cursor", hashlib.sha256).digest()

    @staticmethod
    def _scope_hash(scope: str) -> str:
        return hashlib.sha256(scope.encode()).hexdigest()[:16]

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, scope: str, key: SortKey) -> str:
        payload = json.dumps({"s": self._scope_hash(scope), "k": [key[0], key[1]]}, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, scope: str, cursor: str) -> SortKey:
        """The sort key inside `cursor`; CursorError unless this server made it for this list."""
        try:
            body, signature = cursor.split(".")
            payload, mac = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError):
            raise CursorError("malformed cursor") from None
        if not hmac.compare_digest(mac, self._sign(payload)):
            raise CursorError("cursor was not issued by this server")
        data = json.loads(payload)  # signed by us, so well-formed
        if data["s"] != self._scope_hash(scope):
            raise CursorError("cursor belongs to another list")
        return int(data["k"][0]), str(data["k"][1])
