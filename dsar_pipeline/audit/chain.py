"""The audit trail's event format and hash chain, independent of where events are stored.

Choice: ONE keyless SHA-256 chain over every request's events (chain version 2). Each event has a
global ``seq``; its ``hash`` is SHA-256 over the previous event's hash (of any request) and the
SHA-256 of the event's canonical JSON body. The body also carries the event's position in its own
request (``request_seq``) and the hash of that request's previous event (``request_prev_hash``), so
one request's events can be read and checked on their own without walking the whole chain.

Why keyless: anyone holding the public signing key can check the chain, years later, without the
secret that writes it (the old HMAC chain needed its key to verify, so only the controller could).
A keyless chain alone proves nothing against someone who can rewrite the table, because they can
recompute every later hash; that is what the signed anchors are for (:mod:`.audit_anchor`): the
head (seq, hash) is signed asymmetrically and stored outside the database under S3 Object Lock,
so a rewrite, a deletion or a cut tail before the latest anchor no longer matches a signature.

Why ``hash = SHA-256(prev_hash | SHA-256(body))``: exported evidence of one request can then link
its events to a signed anchor through the other requests' events by their body digests alone,
without revealing those events.

Why payloads are restricted: the trail is kept for years as evidence of how a request was
handled, long after the personal data is purged, so it must hold NO personal values. Payload
keys and string values are limited to identifier-like tokens, hex hashes, dates and numbers;
an e-mail, phone number, personal code or free text is refused by construction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
ALGORITHM = "SHA-256-chain/2"
CHAIN_VERSION = 2
MAX_PAYLOAD_CHARS = 8192
MAX_PAYLOAD_DEPTH = 3

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CODE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SAFE_STRINGS = (
    _CODE,  # statuses, codes, system names, request ids
    _SHA256,  # SHA-256 hex digests
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
    REVIEW_OPENED = "review_opened"
    APPROVED = "approved"
    REJECTED = "rejected"
    DELIVERED = "delivered"
    PURGED = "purged"
    FAILED = "failed"


_KNOWN_TYPES = frozenset(t.value for t in AuditEventType)


class AuditPayloadError(ValueError):
    """A payload would put something other than codes, counts, hashes or dates in the trail."""


def check_request_id(request_id: str) -> str:
    """Only opaque internal request ids key the trail."""
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise AuditPayloadError("audit events are keyed by an opaque request id (r-...)")
    return request_id


def check_code(value: str, what: str) -> str:
    """A lowercase identifier-like code (controller ids and the like), never free text."""
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise AuditPayloadError(f"{what} must be a lowercase code")
    return value


def check_sha256(value: str, what: str) -> str:
    """A lowercase hex SHA-256 digest."""
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise AuditPayloadError(f"{what} must be a lowercase hex SHA-256 digest")
    return value


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


def canonical_json(value: Any) -> str:
    """The one JSON text form hashed and signed here: sorted keys, no spaces, ASCII."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_payload(payload: Mapping[str, Any] | None) -> str:
    """Validate a payload and return its canonical JSON text (sorted keys, no spaces)."""
    payload = dict(payload or {})
    _check_value(payload, "payload", 0)
    text = canonical_json(payload)
    if len(text) > MAX_PAYLOAD_CHARS:
        raise AuditPayloadError("payload is too large")
    return text


def format_timestamp(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: one textual form so the hash input never depends on the database."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AuditPayloadError("audit timestamps must carry a UTC offset")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link_hash(prev_hash: str, body_sha256: str) -> str:
    """An event's chain hash from its predecessor's hash and its own body digest."""
    return hashlib.sha256(f"dsar-audit/{CHAIN_VERSION}|{prev_hash}|{body_sha256}".encode("ascii")).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    """One stored event: ``seq`` is its place in the global chain, ``request_seq`` in its request."""

    seq: int
    request_id: str
    request_seq: int
    event_type: str
    occurred_at: str
    payload: str
    request_prev_hash: str
    prev_hash: str
    hash: str

    def body_sha256(self) -> str:
        """SHA-256 of the canonical body (everything but the global link and the hash)."""
        body = canonical_json({
            "v": CHAIN_VERSION,
            "seq": self.seq,
            "request_id": self.request_id,
            "request_seq": self.request_seq,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "payload": self.payload,
            "request_prev_hash": self.request_prev_hash,
        })
        return hashlib.sha256(body.encode("ascii")).hexdigest()

    def computed_hash(self) -> str:
        """What ``hash`` must be for this content and predecessor."""
        return link_hash(self.prev_hash, self.body_sha256())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the payload as an object."""
        return {
            "seq": self.seq,
            "request_id": self.request_id,
            "request_seq": self.request_seq,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "payload": json.loads(self.payload),
            "request_prev_hash": self.request_prev_hash,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> AuditEvent:
        """Inverse of :meth:`to_dict` (the payload is re-serialised canonically)."""
        return cls(
            seq=int(item["seq"]),
            request_id=str(item["request_id"]),
            request_seq=int(item["request_seq"]),
            event_type=str(item["event_type"]),
            occurred_at=str(item["occurred_at"]),
            payload=canonical_json(item["payload"]),
            request_prev_hash=str(item["request_prev_hash"]),
            prev_hash=str(item["prev_hash"]),
            hash=str(item["hash"]),
        )


def new_event(
    *, seq: int, prev_hash: str, request_id: str, request_seq: int, request_prev_hash: str,
    event_type: str, occurred_at: str, payload: str,
) -> AuditEvent:
    """Build the next event with its hash computed."""
    draft = AuditEvent(seq, request_id, request_seq, event_type, occurred_at, payload, request_prev_hash,
                       prev_hash, "")
    return AuditEvent(seq, request_id, request_seq, event_type, occurred_at, payload, request_prev_hash,
                      prev_hash, draft.computed_hash())


def broken_at(seq: int, reason: str) -> str:
    """The one-line form every chain problem takes."""
    return f"audit chain broken at event {seq}: {reason}"


@dataclass(frozen=True)
class ChainVerification:
    """Whether one request's chain is intact, and the first problem found if not."""

    request_id: str
    ok: bool
    events: int
    head_hash: str | None
    problem: str | None = None


def check_event_content(event: AuditEvent) -> str | None:
    """Problems visible in one event alone: an unknown type or a hash that does not match its content."""
    if event.hash != event.computed_hash():
        return broken_at(event.seq, f"event {event.request_seq} of {event.request_id} was altered")
    if event.event_type not in _KNOWN_TYPES:
        return broken_at(event.seq, "event has an unknown type")
    return None


def check_request_events(request_id: str, events: list[AuditEvent]) -> ChainVerification:
    """Walk one request's events (in ``request_seq`` order) along their per-request links."""
    prev = GENESIS_HASH
    last_seq = 0
    for position, event in enumerate(events, start=1):
        problem = None
        if event.request_id != request_id:
            problem = broken_at(event.seq, f"event belongs to another request than {request_id}")
        elif event.request_seq != position:
            problem = broken_at(event.seq, f"event {position} of {request_id} is missing or out of order "
                                           f"(found {event.request_seq})")
        elif event.seq <= last_seq:
            problem = broken_at(event.seq, f"events of {request_id} are out of order")
        elif event.request_prev_hash != prev:
            problem = broken_at(event.seq, f"event {position} of {request_id} does not link to its predecessor")
        else:
            problem = check_event_content(event)
        if problem:
            return ChainVerification(request_id, False, len(events), None, problem)
        prev, last_seq = event.hash, event.seq
    return ChainVerification(request_id, True, len(events), prev if events else None)


@dataclass
class ChainWalker:
    """Checks events fed in global order: contiguous seq, global links, content, per-request links.

    Memory is one (request_seq, hash) per request, so the whole trail can be streamed.
    """

    seq: int = 0
    head_hash: str = GENESIS_HASH
    requests: dict[str, tuple[int, str]] = field(default_factory=dict)

    def feed(self, event: AuditEvent) -> str | None:
        """Accept the next event, or return the first problem it shows."""
        expected = self.seq + 1
        if event.seq != expected:
            return broken_at(expected, f"event is missing (next stored event is {event.seq})")
        if event.prev_hash != self.head_hash:
            return broken_at(event.seq, "event does not link to its predecessor")
        last_request_seq, last_request_hash = self.requests.get(event.request_id, (0, GENESIS_HASH))
        if event.request_seq != last_request_seq + 1:
            return broken_at(event.seq, f"event {last_request_seq + 1} of {event.request_id} is missing or "
                                        f"out of order (found {event.request_seq})")
        if event.request_prev_hash != last_request_hash:
            return broken_at(event.seq, f"event {event.request_seq} of {event.request_id} does not link "
                                        "to its predecessor")
        problem = check_event_content(event)
        if problem:
            return problem
        self.seq, self.head_hash = event.seq, event.hash
        self.requests[event.request_id] = (event.request_seq, event.hash)
        return None


__all__ = [
    "ALGORITHM",
    "GENESIS_HASH",
    "AuditEvent",
    "AuditEventType",
    "AuditPayloadError",
    "ChainVerification",
    "ChainWalker",
    "broken_at",
    "canonical_json",
    "canonical_payload",
    "check_code",
    "check_event_content",
    "check_request_events",
    "check_request_id",
    "check_sha256",
    "format_timestamp",
    "link_hash",
    "new_event",
]
