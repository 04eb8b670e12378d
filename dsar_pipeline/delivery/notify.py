"""Messages that leave the pipeline: signed status callbacks to the helpdesk, the e-mail with the
download link, the SMS with the passphrase. Each goes through its own gateway, with retries and an
idempotency key so a retried send never reaches the customer twice; nothing here is logged.

Status callbacks are signed so the helpdesk can tell them from forgeries *and from replays* (a
captured "completed" callback re-sent later must not close a newer ticket state):

    X-OpenDSR-Timestamp: <unix seconds, decimal>
    X-OpenDSR-Nonce:     <32 lowercase hex digits: 128 random bits, new for every attempt>
    X-OpenDSR-Signature: base64(HMAC-SHA256(DSAR_HELPDESK_CALLBACK_SECRET,
                                            timestamp + "." + nonce + "." + body))

`body` is the exact bytes sent (compact JSON, UTF-8). The receiver recomputes the HMAC and compares
in constant time, then refuses (401) a timestamp more than 300 s old or more than 60 s ahead of its
clock, and a nonce it has already accepted within that window (it remembers nonces only as long as
their timestamp is acceptable, so its memory is bounded). Every retry is signed afresh (new
timestamp and nonce), so a retry after a lost answer is a new, valid callback, not a replay; the
status document itself is idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time as clock
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

import httpx

from connectors.http import JsonClient
from connectors.retry import RetryPolicy

STATUSES = ("pending", "in_progress", "completed", "cancelled")
SIGNATURE_HEADER = "X-OpenDSR-Signature"
TIMESTAMP_HEADER = "X-OpenDSR-Timestamp"
NONCE_HEADER = "X-OpenDSR-Nonce"


def callback_headers(secret: str, body: bytes, *, timestamp: int | None = None,
                     nonce: str | None = None) -> dict[str, str]:
    """The three signature headers of one callback attempt (see the module docstring for the scheme)."""
    stamp = str(int(clock.time()) if timestamp is None else timestamp)
    once = nonce if nonce is not None else secrets.token_hex(16)
    signed = f"{stamp}.{once}.".encode() + body
    signature = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return {TIMESTAMP_HEADER: stamp, NONCE_HEADER: once, SIGNATURE_HEADER: signature}


def _client(url: str, system: str) -> tuple[JsonClient, str]:
    """A client for the gateway's origin, and the endpoint's path (kept exact: no trailing slash)."""
    parsed = httpx.URL(url)
    origin = str(parsed.copy_with(path="/", query=None, fragment=None)).rstrip("/")
    return JsonClient(system, origin, policy=RetryPolicy(max_attempts=4, base_delay_s=0.2, deadline_s=30)), \
        parsed.path


def send_status(settings: Mapping[str, str], *, controller: str, subject_request_id: str, status: str,
                due: date | None = None, reason: str | None = None, results_url: str | None = None) -> None:
    """An OpenDSR status callback, signed with HMAC-SHA256 over timestamp, nonce and body (module docstring)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    expected = datetime.combine(due or datetime.now(UTC).date(), time(23, 59, 59), UTC)
    body: dict[str, Any] = {"controller_id": controller, "subject_request_id": subject_request_id,
                            "request_status": status, "api_version": "1.0",
                            "expected_completion_time": expected.isoformat().replace("+00:00", "Z")}
    if results_url:
        body["results_url"] = results_url
    if reason:
        body["extensions"] = {"reason": reason}
    raw = json.dumps(body, separators=(",", ":")).encode()
    secret = settings["DSAR_HELPDESK_CALLBACK_SECRET"]
    client, path = _client(settings["DSAR_HELPDESK_CALLBACK_URL"], "helpdesk")
    try:
        client.client.headers.update({"Content-Type": "application/json"})
        client.extra_headers = lambda: callback_headers(secret, raw)  # per attempt: a retry is no replay
        client.request("POST", path, "POST helpdesk status callback", content=raw)
    finally:
        client.close()


def send_mail(settings: Mapping[str, str], *, to: str, subject: str, text: str, idempotency_key: str) -> None:
    _send(settings["DSAR_MAIL_GATEWAY_URL"], "mail", settings["DSAR_GATEWAY_API_KEY"], idempotency_key,
          {"to": to, "subject": subject, "text": text})


def send_sms(settings: Mapping[str, str], *, to: str, text: str, idempotency_key: str) -> None:
    _send(settings["DSAR_SMS_GATEWAY_URL"], "sms", settings["DSAR_GATEWAY_API_KEY"], idempotency_key,
          {"to": to, "text": text})


def _send(url: str, system: str, api_key: str, idempotency_key: str, body: dict[str, str]) -> None:
    client, path = _client(url, system)
    try:
        client.client.headers.update({"Authorization": f"Bearer {api_key}", "Idempotency-Key": idempotency_key})
        client.request("POST", path, f"POST {system} message", json=body, ok_statuses=frozenset({200, 201, 202}))
    finally:
        client.close()
