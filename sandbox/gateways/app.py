"""Outbound gateways: e-mail, SMS and the helpdesk's status-callback receiver, on one HTTP service.

Connector author: these stand in for the mail provider, the SMS provider and the helpdesk that
filed the request ticket. They deliver nothing; they WRITE WHAT THEY ARE ASKED TO SEND to an outbox
directory (`sandbox.gateways.outbox.read_outbox`), one JSON file per message, before answering.

Auth
    Mail and SMS: `Authorization: Bearer <api_key>`. Missing or wrong key: 401
    `{"error": ..., "code": "unauthorized"}` with `WWW-Authenticate: Bearer`. Callbacks are not
    bearer-authenticated: they are signed (below). The callback listing is open (read-only, like
    the helpdesk's status page; the sandbox's readiness probe and the demo read it).

Common rules
    Request bodies are JSON objects (`Content-Type: application/json`, else 415), at most 1 MiB
    (413). Unknown members are refused (400), so a misspelt field fails loudly. Errors are
    `{"error": "<message>", "code": "<code>", "field": "<member>"|null}` with 400
    (`invalid_request`), 401, 404, 405, 413, 415. The outbox file exists before the answer is
    sent, so an answer lost on the way (timeout, cut-short body) may hide a message that WAS
    sent. No rate limits. `Idempotency-Key: <token>` (mail and SMS, optional): a repeated key
    within the service's lifetime returns the first answer (same id, header
    `Idempotent-Replayed: true`) and writes nothing; send one and reuse it when retrying, or the
    customer gets the message twice. `GET /healthz` answers 200 `{"status": "ok"}`.

Mail: `POST /mail/v1/messages`
    `{"to": "<address>", "subject": "<1-998 chars, one line>", "text": "<plain text>",
    "html": "<optional HTML alternative>"}` -> 202 `{"id": "msg_<hex>", "status": "queued"}`.
    `to` must be a syntactically valid address (no DNS check), else 400 with `field: "to"`.
    Outbox: `mail/<seq>-<id>.json` = `{"seq", "id", "received_at", "to" (normalised), "subject",
    "text", "html"}`.

SMS: `POST /sms/v1/messages`
    `{"to": "+372…" (E.164, a valid number of its country), "text": "<1-612 chars>"}` -> 202
    `{"id": "sms_<hex>", "status": "queued", "encoding": "GSM-7"|"UCS-2", "segments": n}`
    (parts billed: GSM-7 160/153 per part, UCS-2 70/67; õ, š, ž and Cyrillic force UCS-2).
    Outbox: `sms/<seq>-<id>.json` = `{"seq", "id", "received_at", "to", "text", "encoding",
    "segments"}`.

Helpdesk status callbacks: `POST /helpdesk/v1/callbacks`
    The body is an OpenDSR status document: `{"controller_id", "expected_completion_time"
    (RFC 3339 with zone), "subject_request_id" (1-128 of A-Z a-z 0-9 . _ -), "request_status":
    "pending"|"in_progress"|"completed"|"cancelled", "api_version", "results_url" (optional http(s)
    URL), "encoded_request" (optional), "extensions" (optional object, e.g. {"reason": ...})}`.
    Signature: headers `X-OpenDSR-Timestamp` (unix seconds, decimal), `X-OpenDSR-Nonce` (32
    lowercase hex digits, 128 random bits) and `X-OpenDSR-Signature` = base64(HMAC-SHA256(
    callback_secret, timestamp + "." + nonce + "." + raw body bytes)), computed over the exact bytes
    sent. OpenDSR signs callbacks with the processor's private key and a certificate named by
    `X-OpenDSR-Processor-Domain`; this helpdesk uses a secret shared with the controller instead
    (same header, same base64, HMAC in place of RSA), plus a timestamp and nonce against replays.
    -> 200 `{"status": "received", "seq": n}`; outbox `helpdesk/<seq>-<subject_request_id>.json`
    = `{"seq", "received_at", "subject_request_id", "request_status", "payload"}`.
    401 (`code`): any of the three headers missing (`missing_signature`), a wrong HMAC or malformed
    header (`bad_signature`), a timestamp more than 300 s old or more than 60 s ahead
    (`stale_timestamp`), a nonce already accepted (`replayed_nonce`: nonces are remembered while
    their timestamp is acceptable). 429 `too_many_callbacks` when that memory is full (100 000
    nonces in five minutes). A signed but invalid body -> 400 (its nonce is not spent). All are
    recorded in the outbox channel `helpdesk-rejected`
    (`<seq>-rejected.json` = `{"seq", "received_at", "reason", "subject_request_id"|null, "body"}`).

Helpdesk callback listing: `GET /helpdesk/v1/callbacks?subject_request_id=<id>&status=accepted|rejected`
    (no auth; both parameters optional, `status` defaults to `accepted`) -> 200
    `{"callbacks": [<outbox records, in arrival order>]}`.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import flask

from sandbox.gateways import checks
from sandbox.gateways.outbox import read_outbox
from sandbox.gateways.spool import Spool

MAX_BODY_BYTES = 1024 * 1024
REJECTED_BODY_CHARS = 65536


@dataclass
class GatewayConfig:
    outbox_dir: Path
    api_key: str
    callback_secret: str


def create_app(config: GatewayConfig) -> flask.Flask:
    """The mail, SMS and helpdesk-callback stand-ins writing to `config.outbox_dir`."""
    app = flask.Flask("sandbox.gateways")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    spool = Spool(config.outbox_dir)
    replays = _Replays()
    nonces, nonce_lock = checks.NonceMemory(), threading.Lock()
    bearer = _bearer_guard(config.api_key)

    @app.get("/healthz")
    def healthz() -> flask.Response:
        return flask.jsonify(status="ok")

    @app.post("/mail/v1/messages")
    @bearer
    def send_mail() -> tuple[flask.Response, int]:
        def accept(body: dict[str, Any]) -> dict[str, Any]:
            checks.only_fields(body, ("to", "subject", "text", "html"))
            to = checks.email_address(body.get("to"))
            subject = checks.text_field(body, "subject", checks.SUBJECT_MAX_CHARS)
            if subject is not None and ("\r" in subject or "\n" in subject):
                raise checks.Invalid("`subject` must be one line", "subject")
            text = checks.text_field(body, "text")
            html = checks.text_field(body, "html", required=False)
            message_id = f"msg_{secrets.token_hex(12)}"
            spool.write("mail", message_id, {"id": message_id, "received_at": _now(), "to": to,
                                             "subject": subject, "text": text, "html": html})
            return {"id": message_id, "status": "queued"}

        return replays.answer(accept)

    @app.post("/sms/v1/messages")
    @bearer
    def send_sms() -> tuple[flask.Response, int]:
        def accept(body: dict[str, Any]) -> dict[str, Any]:
            checks.only_fields(body, ("to", "text"))
            to = checks.e164_number(body.get("to"))
            text = checks.text_field(body, "text", checks.SMS_MAX_CHARS)
            assert text is not None
            encoding, segments = checks.sms_segments(text)
            message_id = f"sms_{secrets.token_hex(12)}"
            spool.write("sms", message_id, {"id": message_id, "received_at": _now(), "to": to, "text": text,
                                            "encoding": encoding, "segments": segments})
            return {"id": message_id, "status": "queued", "encoding": encoding, "segments": segments}

        return replays.answer(accept)

    @app.post("/helpdesk/v1/callbacks")
    def receive_callback() -> tuple[flask.Response, int]:
        raw = flask.request.get_data(cache=True)
        headers = flask.request.headers
        now = time.time()
        nonce, timestamp = headers.get("X-OpenDSR-Nonce"), headers.get("X-OpenDSR-Timestamp")
        problem = checks.signature_problem(config.callback_secret, raw, headers.get("X-OpenDSR-Signature"),
                                           timestamp, nonce, now)
        if problem is not None:
            _reject_callback(spool, raw, problem)
            return _error(problem, 401, problem.replace(" ", "_"))
        try:
            payload = checks.status_callback(_parse_json(raw))
        except checks.Invalid as exc:
            _reject_callback(spool, raw, f"invalid body: {exc}")
            return _error(str(exc), 400, "invalid_request", exc.field)
        assert nonce is not None and timestamp is not None  # signature_problem refused them missing
        with nonce_lock:
            problem = nonces.admit(nonce, int(timestamp), now)
        if problem is not None:
            _reject_callback(spool, raw, problem)
            return _error(problem, 429 if problem == "too many callbacks" else 401, problem.replace(" ", "_"))
        seq, _ = spool.write("helpdesk", payload["subject_request_id"], {
            "received_at": _now(), "subject_request_id": payload["subject_request_id"],
            "request_status": payload["request_status"], "payload": payload})
        return flask.jsonify(status="received", seq=seq), 200

    @app.get("/helpdesk/v1/callbacks")
    def list_callbacks() -> tuple[flask.Response, int]:
        status = flask.request.args.get("status", "accepted")
        if status not in ("accepted", "rejected"):
            return _error("`status` must be accepted or rejected", 400, "invalid_request", "status")
        wanted = flask.request.args.get("subject_request_id")
        channel = "helpdesk" if status == "accepted" else "helpdesk-rejected"
        records = [{k: v for k, v in record.items() if k != "path"}
                   for record in read_outbox(config.outbox_dir, channel)
                   if wanted is None or record.get("subject_request_id") == wanted]
        return flask.jsonify(callbacks=records), 200

    for code, name in ((404, "not_found"), (405, "method_not_allowed"), (413, "payload_too_large")):
        app.register_error_handler(code, _http_error_handler(code, name))
    return app


class _Replays:
    """`Idempotency-Key` memory: the first answer per key, replayed without writing again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], dict[str, Any]] = {}

    def answer(self, accept: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[flask.Response, int]:
        try:
            body = _json_body()
        except checks.Invalid as exc:
            return _error(str(exc), 415 if exc.field == "Content-Type" else 400, "invalid_request", exc.field)
        key = flask.request.headers.get("Idempotency-Key")
        if not key:
            return self._accept(accept, body)
        scope = (flask.request.path, key)
        with self._lock:  # one request per key at a time, so a racing retry cannot send twice
            if scope in self._answers:
                response = flask.jsonify(self._answers[scope])
                response.headers["Idempotent-Replayed"] = "true"
                return response, 202
            response, status = self._accept(accept, body)
            if status == 202:
                self._answers[scope] = response.get_json()
            return response, status

    @staticmethod
    def _accept(accept: Callable[[dict[str, Any]], dict[str, Any]],
                body: dict[str, Any]) -> tuple[flask.Response, int]:
        try:
            return flask.jsonify(accept(body)), 202
        except checks.Invalid as exc:
            return _error(str(exc), 400, "invalid_request", exc.field)


def _bearer_guard(api_key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    expected = f"Bearer {api_key}".encode()

    def guard(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            given = flask.request.headers.get("Authorization", "")
            if not given:
                return _error("missing bearer token", 401, "unauthorized", auth=True)
            if not hmac.compare_digest(given.encode(), expected):
                return _error("invalid bearer token", 401, "unauthorized", auth=True)
            return view(*args, **kwargs)

        return checked

    return guard


def _json_body() -> dict[str, Any]:
    if not flask.request.is_json:
        raise checks.Invalid("Content-Type must be application/json", "Content-Type")
    body = _parse_json(flask.request.get_data(cache=True))
    if not isinstance(body, dict):
        raise checks.Invalid("body must be a JSON object")
    return body


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise checks.Invalid("body is not valid JSON") from None


def _reject_callback(spool: Spool, raw: bytes, reason: str) -> None:
    try:
        request_id = json.loads(raw).get("subject_request_id")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        request_id = None
    spool.write("helpdesk-rejected", "rejected", {
        "received_at": _now(), "reason": reason,
        "subject_request_id": request_id if isinstance(request_id, str) else None,
        "body": raw[:REJECTED_BODY_CHARS].decode("utf-8", errors="replace")})


def _error(message: str, status: int, code: str, field: str | None = None,
           auth: bool = False) -> tuple[flask.Response, int]:
    response = flask.jsonify(error=message, code=code, field=field)
    if auth:
        response.headers["WWW-Authenticate"] = 'Bearer realm="gateways"'
    return response, status


def _http_error_handler(status: int, code: str) -> Callable[[Exception], tuple[flask.Response, int]]:
    def handle(exc: Exception) -> tuple[flask.Response, int]:
        return _error(getattr(exc, "description", code), status, code)

    return handle


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
