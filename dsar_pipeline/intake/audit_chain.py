"""The audit trail's event format and hash chain, independent of where events are stored.

Choice: HMAC-SHA256 chain. Each event's ``hash`` is HMAC-SHA256(key, canonical JSON of the event
including the previous event's hash). A plain SHA-256 chain only detects clumsy edits: whoever
can write the table can also recompute every later hash. With a key kept outside the database
(``DSAR_AUDIT_KEY``), an edited, deleted, inserted or reordered event breaks the chain unless the
editor also holds the key. The cost: checking exported evidence needs the key, so evidence is
verified by the controller (or handed over with the key to an auditor), not by anyone.

Why payloads are restricted: the trail is kept for years as evidence of how a request was
handled, long after the personal data is purged, so it must hold NO personal values. Payload
keys and string values are limited to identifier-like tokens, hex hashes, dates and numbers;
an e-mail, phone number, personal code or free text is refused by construction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
ALGORITHM = "HMAC-SHA256"
MAX_PAYLOAD_CHARS = 8192
MAX_PAYLOAD_DEPTH = 3

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SAFE_STRINGS = (
    re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$"),  # statuses, codes, system names, request ids
    re.compile(r"^[0-9a-f]{64}$"),  # SHA-256 hex digests
    re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2}))?$"),
)
_REQUEST_ID = re.compile(r"^r-[0-9a-z]{26}$")


class AuditEventType(StrEnum):
    """What happened to a request."""

    RECEIVED = "received"
    VERIFIED = "verified"
    IDENTITY_CONFIRMED = "identity_confirmed"
    EXTENDED = "extended"
    SYSTEMS_QUERIED = "systems_queried"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    REJECTED = "rejected"
    DELIVERED = "delivered"
    PURGED = "purged"
    FAILED = "failed"


class AuditPayloadError(ValueError):
    """A payload would put something other than codes, counts, hashes or dates in the trail."""


def check_request_id(request_id: str) -> str:
    """Only opaque internal request ids key the trail."""
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise AuditPayloadError("audit events are keyed by an opaque request id (r-...)")
    return request_id


def _check_value(value: Any, where: str, depth: int) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise AuditPayloadError(f"{where}: number out of range")
        return
    if isinstance(value, str):
        if not any(p.fullmatch(value) for p in _SAFE_STRINGS):
            raise AuditPayloadError(f"{where}: only codes, hex hashes and dates may be stored as text")
        return
    if depth >= MAX_PAYLOAD_DEPTH:
        raise AuditPayloadError(f"{where}: nested too deeply")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise AuditPayloadError(f"{where}: keys must be lowercase identifiers")
            _check_value(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]", depth + 1)
        return
    raise AuditPayloadError(f"{where}: unsupported type {type(value).__name__}")


def canonical_payload(payload: Mapping[str, Any] | None) -> str:
    """Validate a payload and return its canonical JSON text (sorted keys, no spaces)."""
    payload = dict(payload or {})
    _check_value(payload, "payload", 0)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if len(text) > MAX_PAYLOAD_CHARS:
        raise AuditPayloadError("payload is too large")
    return text


def format_timestamp(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: one textual form so the MAC input never depends on the database."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AuditPayloadError("audit timestamps must carry a UTC offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_mac(
    key: bytes, *, request_id: str, seq: int, event_type: str, occurred_at: str, payload: str, prev_hash: str
) -> str:
    """HMAC-SHA256 over the canonical form of one event, chained to the previous one."""
    message = json.dumps(
        {
            "v": 1,
            "request_id": request_id,
            "seq": seq,
            "event_type": event_type,
            "occurred_at": occurred_at,
            "payload": payload,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    """One stored event, as read back."""

    request_id: str
    seq: int
    event_type: str
    occurred_at: str
    payload: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the payload as an object."""
        return {
            "request_id": self.request_id,
            "seq": self.seq,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "payload": json.loads(self.payload),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainVerification:
    """Whether one request's chain is intact, and the first problem found if not."""

    request_id: str
    ok: bool
    events: int
    head_hash: str | None
    problem: str | None = None


def check_events(
    key: bytes, request_id: str, events: Iterable[AuditEvent], head: tuple[int, str] | None
) -> ChainVerification:
    """Walk a chain in stored order and report the first break.

    ``head`` is the separately stored (seq, hash) of the last event; it catches deletion of
    events at the end of the chain, which the chain alone cannot see.
    """
    prev = GENESIS_HASH
    count = 0
    for expected_seq, event in enumerate(events, start=1):
        count = expected_seq
        if event.request_id != request_id:
            return ChainVerification(request_id, False, count, None, f"event {expected_seq} belongs to another request")
        if event.seq != expected_seq:
            return ChainVerification(
                request_id, False, count, None, f"event {expected_seq} is missing or out of order (found {event.seq})"
            )
        if event.prev_hash != prev:
            problem = f"event {event.seq} does not link to its predecessor"
            return ChainVerification(request_id, False, count, None, problem)
        mac = event_mac(
            key,
            request_id=event.request_id,
            seq=event.seq,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            payload=event.payload,
            prev_hash=event.prev_hash,
        )
        if not hmac.compare_digest(mac, event.hash):
            return ChainVerification(request_id, False, count, None, f"event {event.seq} was altered")
        if event.event_type not in AuditEventType.__members__.values():
            return ChainVerification(request_id, False, count, None, f"event {event.seq} has an unknown type")
        prev = event.hash
    head_hash = prev if count else None
    if head is None and count:
        return ChainVerification(request_id, False, count, head_hash, "chain head record is missing")
    if head is not None and (head[0] != count or head[1] != (head_hash or GENESIS_HASH)):
        return ChainVerification(
            request_id, False, count, head_hash, "chain head does not match the events (events deleted at the end?)"
        )
    return ChainVerification(request_id, True, count, head_hash)


__all__ = [
    "ALGORITHM",
    "GENESIS_HASH",
    "AuditEvent",
    "AuditEventType",
    "AuditPayloadError",
    "ChainVerification",
    "canonical_payload",
    "check_events",
    "check_request_id",
    "event_mac",
    "format_timestamp",
]
