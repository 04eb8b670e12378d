"""Validation the gateways apply before accepting anything: addresses, numbers, SMS length, callbacks.

A real provider refuses what it cannot deliver with a 400 the caller must handle; the stand-ins do
the same, so a connector that sends a malformed address fails in the tests, not in production.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from datetime import datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

SMS_MAX_CHARS = 612
SUBJECT_MAX_CHARS = 998  # RFC 5322 line limit
REQUEST_STATUSES = ("pending", "in_progress", "completed", "cancelled")
CALLBACK_REQUIRED = ("controller_id", "expected_completion_time", "subject_request_id", "request_status",
                     "api_version")
CALLBACK_OPTIONAL = ("results_url", "encoded_request", "extensions")
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# GSM 03.38 basic character set; the extension table's characters take two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


class Invalid(ValueError):
    """A request the gateway refuses; `field` names the offending member for the 400 answer."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def email_address(value: Any) -> str:
    """The address in normalised form, or Invalid (syntax only: the sandbox has no DNS)."""
    if not isinstance(value, str):
        raise Invalid("`to` must be a string", "to")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise Invalid(f"`to` is not a valid e-mail address: {exc}", "to") from None


def e164_number(value: Any) -> str:
    """An E.164 number that is a valid number of its country, or Invalid."""
    if not isinstance(value, str) or not E164.fullmatch(value):
        raise Invalid("`to` must be an E.164 number such as +37251234567", "to")
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise Invalid("`to` is not a valid phone number", "to")
    return value


def sms_segments(text: str) -> tuple[str, int]:
    """Encoding and number of concatenated SMS parts the text is billed as."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        septets = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return "GSM-7", 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else math.ceil(units / 67)


def text_field(body: dict[str, Any], name: str, max_chars: int | None = None, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"`{name}` must be a non-empty string", name)
    if max_chars is not None and len(value) > max_chars:
        raise Invalid(f"`{name}` is longer than {max_chars} characters", name)
    return value


def only_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}", unknown[0])


MAX_AGE_S = 300  # a callback signed longer ago than this is refused (replay window)
MAX_FUTURE_S = 60  # tolerated clock skew the other way
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
NONCE_RE = re.compile(r"[0-9a-f]{32}")


def signature(secret: str, timestamp: str, nonce: str, raw_body: bytes) -> str:
    """`X-OpenDSR-Signature` value: base64 of HMAC-SHA256 over `timestamp.nonce.` + the exact body bytes."""
    signed = f"{timestamp}.{nonce}.".encode() + raw_body
    return base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def signature_problem(secret: str, raw_body: bytes, header: str | None, timestamp: str | None,
                      nonce: str | None, now: float) -> str | None:
    """Why a callback's signature is not acceptable (bad, or signed too long ago / in the future), or None.

    The nonce's freshness is the caller's to check (it needs memory); this checks everything else, the
    HMAC first, so nobody without the secret learns anything about the clock window.
    """
    if not header or not timestamp or not nonce:
        return "missing signature"
    if not TIMESTAMP_RE.fullmatch(timestamp) or not NONCE_RE.fullmatch(nonce):
        return "bad signature"
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "bad signature"
    expected = base64.b64decode(signature(secret, timestamp, nonce, raw_body))
    if not hmac.compare_digest(given, expected):
        return "bad signature"
    age = now - int(timestamp)
    if age > MAX_AGE_S or age < -MAX_FUTURE_S:
        return "stale timestamp"
    return None


class NonceMemory:
    """Nonces of accepted callbacks, each kept only while its timestamp is still acceptable.

    Bounded: a nonce older than the window cannot be replayed anyway (its timestamp is refused), so
    it is forgotten; beyond `max_entries` live nonces new callbacks are refused rather than an
    accepted nonce forgotten early (that would reopen a replay).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._expiry: dict[str, float] = {}  # nonce -> when its timestamp leaves the window (insertion order)

    def __len__(self) -> int:
        return len(self._expiry)

    def admit(self, nonce: str, timestamp: int, now: float) -> str | None:
        """Remember `nonce`; the reason to refuse it (replayed, or memory full) or None. Not thread-safe."""
        for old, expires in list(self._expiry.items()):
            if expires > now:
                break  # insertion order is close to expiry order; stragglers go on a later call
            del self._expiry[old]
        if nonce in self._expiry:
            return "replayed nonce"
        if len(self._expiry) >= self.max_entries:
            self._expiry = {n: e for n, e in self._expiry.items() if e > now}
            if len(self._expiry) >= self.max_entries:
                return "too many callbacks"
        self._expiry[nonce] = timestamp + MAX_AGE_S
        return None


def status_callback(body: Any) -> dict[str, Any]:
    """An OpenDSR status document (the shape of a status response), or Invalid."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    only_fields(body, CALLBACK_REQUIRED + CALLBACK_OPTIONAL)
    for name in CALLBACK_REQUIRED:
        text_field(body, name)
    if not SAFE_ID.fullmatch(body["subject_request_id"]):
        raise Invalid("`subject_request_id` must be 1-128 characters of A-Z a-z 0-9 . _ -", "subject_request_id")
    if body["request_status"] not in REQUEST_STATUSES:
        raise Invalid(f"`request_status` must be one of {', '.join(REQUEST_STATUSES)}", "request_status")
    try:
        when = datetime.fromisoformat(body["expected_completion_time"].replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("`expected_completion_time` must be an RFC 3339 date-time", "expected_completion_time") from None
    if when.tzinfo is None:
        raise Invalid("`expected_completion_time` needs a time zone (e.g. Z)", "expected_completion_time")
    url = body.get("results_url")
    if url is not None and (not isinstance(url, str) or not re.match(r"https?://\S+$", url)):
        raise Invalid("`results_url` must be an http(s) URL", "results_url")
    if body.get("extensions") is not None and not isinstance(body["extensions"], dict):
        raise Invalid("`extensions` must be a JSON object", "extensions")
    return body
