"""Mail, SMS and helpdesk-callback stand-ins over HTTP, and the outbox files they leave behind."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.faults import Fault, FaultBoard, FaultInjector
from sandbox.gateways import GatewayConfig, create_app, read_outbox
from sandbox.hosting import ServiceHost
from sandbox.population import Population, generate

API_KEY = "gw-test-key"
SECRET = "callback-shared-secret"


@dataclass
class Gateway:
    url: str
    outbox: Path
    http: httpx.Client

    def mail(self, body: Any, key: str | None = API_KEY, **headers: str) -> httpx.Response:
        return self.http.post(f"{self.url}/mail/v1/messages", json=body, headers=_auth(key) | headers)

    def sms(self, body: Any, key: str | None = API_KEY, **headers: str) -> httpx.Response:
        return self.http.post(f"{self.url}/sms/v1/messages", json=body, headers=_auth(key) | headers)

    def callback(self, raw: bytes, signed: dict[str, str] | None) -> httpx.Response:
        headers = {"Content-Type": "application/json"} | (signed or {})
        return self.http.post(f"{self.url}/helpdesk/v1/callbacks", content=raw, headers=headers)


def _auth(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def sign(raw: bytes, secret: str = SECRET, *, timestamp: int | None = None,
         nonce: str | None = None) -> dict[str, str]:
    """What the pipeline must send, computed independently of the gateway's own code: HMAC over
    `timestamp.nonce.body`, fresh timestamp and nonce unless given."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    once = secrets.token_hex(16) if nonce is None else nonce
    mac = hmac.new(secret.encode(), f"{stamp}.{once}.".encode() + raw, hashlib.sha256).digest()
    return {"X-OpenDSR-Timestamp": stamp, "X-OpenDSR-Nonce": once,
            "X-OpenDSR-Signature": base64.b64encode(mac).decode()}


def status_doc(request_id: str, status: str = "in_progress", **extra: Any) -> dict[str, Any]:
    return {"controller_id": "enefit-as-ee", "expected_completion_time": "2026-12-01T10:00:00Z",
            "subject_request_id": request_id, "request_status": status, "api_version": "0.1", **extra}


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[ServiceHost]]:
    """Every gateway started by this module, stopped together at the end.

    `ServiceHost.stop` waits out the server's 0.5 s poll; stopping 40 hosts in parallel once
    costs that wait once instead of 40 times.
    """
    started: list[ServiceHost] = []
    yield started
    with ThreadPoolExecutor(len(started) or 1) as pool:
        list(pool.map(lambda host: host.stop(), started))


def start(outbox: Path, hosts: list[ServiceHost]) -> Gateway:
    host = ServiceHost("gateways", create_app(GatewayConfig(outbox, API_KEY, SECRET)), port=0)
    host.start()
    hosts.append(host)
    return Gateway(host.url, outbox, httpx.Client(timeout=5))


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(size=60)


@pytest.fixture()
def gw(tmp_path: Path, hosts: list[ServiceHost]) -> Iterator[Gateway]:
    gateway = start(tmp_path / "outbox", hosts)
    try:
        yield gateway
    finally:
        gateway.http.close()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- mail ---------------------------------------------------------------------------------------------


def test_mail_is_accepted_and_written(gw: Gateway, population: Population) -> None:
    person = population.case("demo")
    response = gw.mail({"to": person.email, "subject": "Teie andmepäring", "text": "Tere!\nLink: https://x",
                        "html": "<p>Tere!</p>"})
    assert response.status_code == 202
    message_id = response.json()["id"]
    assert response.json()["status"] == "queued" and message_id.startswith("msg_")
    [sent] = read_outbox(gw.outbox, "mail")
    assert sent["path"] == gw.outbox / "mail" / f"000001-{message_id}.json"
    assert (sent["seq"], sent["id"], sent["to"], sent["subject"]) == (1, message_id, person.email, "Teie andmepäring")
    assert (sent["text"], sent["html"]) == ("Tere!\nLink: https://x", "<p>Tere!</p>")
    assert sent["received_at"].endswith("Z")
    assert json.loads(sent["path"].read_text(encoding="utf-8"))["id"] == message_id


def test_mail_html_is_optional(gw: Gateway) -> None:
    assert gw.mail({"to": "mari.maasikas@mail.ee", "subject": "S", "text": "T"}).status_code == 202
    assert read_outbox(gw.outbox, "mail")[0]["html"] is None


def test_mail_needs_the_api_key(gw: Gateway) -> None:
    body = {"to": "mari.maasikas@mail.ee", "subject": "S", "text": "T"}
    missing = gw.mail(body, key=None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "unauthorized"
    assert gw.mail(body, key="wrong").status_code == 401
    assert gw.http.post(f"{gw.url}/mail/v1/messages", json=body,
                        headers={"Authorization": f"Basic {API_KEY}"}).status_code == 401
    assert read_outbox(gw.outbox, "mail") == []


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "not-an-address", "subject": "S", "text": "T"}, "to"),
    ({"to": "a@@mail.ee", "subject": "S", "text": "T"}, "to"),
    ({"to": 42, "subject": "S", "text": "T"}, "to"),
    ({"to": "mari@mail.ee", "subject": "S\r\nBcc: x@evil.ee", "text": "T"}, "subject"),
    ({"to": "mari@mail.ee", "subject": "", "text": "T"}, "subject"),
    ({"to": "mari@mail.ee", "subject": "S"}, "text"),
    ({"to": "mari@mail.ee", "subject": "S", "body": "T"}, "body"),
])
def test_mail_refuses_invalid_messages(gw: Gateway, body: dict[str, Any], field: str) -> None:
    response = gw.mail(body)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_request", field)
    assert read_outbox(gw.outbox, "mail") == []


def test_mail_refuses_non_json(gw: Gateway) -> None:
    response = gw.http.post(f"{gw.url}/mail/v1/messages", content=b"to=a@b.ee", headers=_auth(API_KEY) | {
        "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    broken = gw.http.post(f"{gw.url}/mail/v1/messages", content=b"{", headers=_auth(API_KEY) | {
        "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert gw.mail(["a list"]).status_code == 400
    assert read_outbox(gw.outbox, "mail") == []


def test_idempotency_key_sends_once(gw: Gateway) -> None:
    body = {"to": "mari.maasikas@mail.ee", "subject": "Link", "text": "T"}
    first = gw.mail(body, **{"Idempotency-Key": "req-1-link"})
    again = gw.mail(body, **{"Idempotency-Key": "req-1-link"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(read_outbox(gw.outbox, "mail")) == 1
    assert gw.mail(body, **{"Idempotency-Key": "req-2-link"}).json()["id"] != first.json()["id"]
    assert len(read_outbox(gw.outbox, "mail")) == 2


# --- SMS ----------------------------------------------------------------------------------------------


def test_sms_is_accepted_and_written(gw: Gateway, population: Population) -> None:
    phone = population.case("demo").phone
    response = gw.sms({"to": phone, "text": "Your passphrase: amber-falcon-42"})
    assert response.status_code == 202
    answer = response.json()
    assert answer["id"].startswith("sms_") and (answer["encoding"], answer["segments"]) == ("GSM-7", 1)
    [sent] = read_outbox(gw.outbox, "sms")
    assert sent["path"].name == f"000001-{answer['id']}.json"
    assert (sent["to"], sent["text"], sent["segments"]) == (phone, "Your passphrase: amber-falcon-42", 1)


def test_sms_latvian_number_and_segments(gw: Gateway, population: Population) -> None:
    phone = population.case("latvian").phone
    assert phone.startswith("+371")
    assert gw.sms({"to": phone, "text": "x" * 160}).json()["segments"] == 1
    assert gw.sms({"to": phone, "text": "x" * 161}).json()["segments"] == 2
    estonian = gw.sms({"to": phone, "text": "Teie parool: õun-šokolaad"}).json()
    assert (estonian["encoding"], estonian["segments"]) == ("UCS-2", 1)
    longest = gw.sms({"to": phone, "text": "ы" * 612}).json()
    assert (longest["encoding"], longest["segments"]) == ("UCS-2", 10)
    assert [m["segments"] for m in read_outbox(gw.outbox, "sms")] == [1, 2, 1, 10]


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "53412345", "text": "T"}, "to"),  # not E.164
    ({"to": "+372 5341 2345", "text": "T"}, "to"),
    ({"to": "+3721", "text": "T"}, "to"),  # too short to be a number
    ({"to": "+37200000000", "text": "T"}, "to"),  # E.164 shape, not a valid Estonian number
    ({"to": "+37251234567", "text": "x" * 613}, "text"),
    ({"to": "+37251234567", "text": ""}, "text"),
    ({"to": "+37251234567", "text": "T", "sender": "Enefit"}, "sender"),
])
def test_sms_refuses_invalid_messages(gw: Gateway, body: dict[str, Any], field: str) -> None:
    response = gw.sms(body)
    assert response.status_code == 400 and response.json()["field"] == field
    assert read_outbox(gw.outbox, "sms") == []


def test_sms_needs_the_api_key(gw: Gateway) -> None:
    assert gw.sms({"to": "+37251234567", "text": "T"}, key="nope").status_code == 401
    assert read_outbox(gw.outbox, "sms") == []


# --- helpdesk callbacks ---------------------------------------------------------------------------------


def test_signed_callback_is_received_and_listed(gw: Gateway) -> None:
    raw = json.dumps(status_doc("3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b", "completed",
                                results_url="https://portal.example/dsar/3f2a",
                                extensions={"reason": "package delivered"})).encode()
    response = gw.callback(raw, sign(raw))
    assert response.status_code == 200 and response.json() == {"status": "received", "seq": 1}
    [stored] = read_outbox(gw.outbox, "helpdesk")
    assert stored["path"].name == "000001-3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b.json"
    assert stored["request_status"] == "completed" and stored["payload"] == json.loads(raw)
    listed = gw.http.get(f"{gw.url}/helpdesk/v1/callbacks",
                         params={"subject_request_id": "3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b"}).json()
    assert [c["payload"]["extensions"] for c in listed["callbacks"]] == [{"reason": "package delivered"}]
    assert "path" not in listed["callbacks"][0]
    assert gw.http.get(f"{gw.url}/helpdesk/v1/callbacks", params={"subject_request_id": "other"}).json() == {
        "callbacks": []}


def test_callbacks_listed_per_request_in_arrival_order(gw: Gateway) -> None:
    for request_id, status in (("req-a", "pending"), ("req-b", "pending"), ("req-a", "in_progress"),
                               ("req-a", "completed")):
        raw = json.dumps(status_doc(request_id, status)).encode()
        assert gw.callback(raw, sign(raw)).status_code == 200
    listed = gw.http.get(f"{gw.url}/helpdesk/v1/callbacks", params={"subject_request_id": "req-a"}).json()
    assert [c["request_status"] for c in listed["callbacks"]] == ["pending", "in_progress", "completed"]
    assert [c["seq"] for c in listed["callbacks"]] == [1, 3, 4]


def test_bad_signature_is_401_and_recorded_as_rejected(gw: Gateway) -> None:
    raw = json.dumps(status_doc("req-x", "completed")).encode()
    forged = gw.callback(raw, sign(raw, secret="not-the-secret"))
    assert forged.status_code == 401 and forged.json()["code"] == "bad_signature"
    missing = gw.callback(raw, None)
    assert missing.status_code == 401 and missing.json()["code"] == "missing_signature"
    assert gw.callback(raw, sign(raw) | {"X-OpenDSR-Signature": "%%% not base64"}).status_code == 401
    # The signature covers the exact bytes: the same document re-serialised does not verify.
    respaced = json.dumps(json.loads(raw), indent=2).encode()
    assert gw.callback(respaced, sign(raw)).status_code == 401
    assert read_outbox(gw.outbox, "helpdesk") == []
    rejected = read_outbox(gw.outbox, "helpdesk-rejected")
    assert [r["reason"] for r in rejected] == ["bad signature", "missing signature", "bad signature",
                                               "bad signature"]
    assert all(r["subject_request_id"] == "req-x" for r in rejected)
    assert rejected[0]["path"].name == "000001-rejected.json" and rejected[0]["body"] == raw.decode()
    listed = gw.http.get(f"{gw.url}/helpdesk/v1/callbacks", params={"subject_request_id": "req-x"}).json()
    assert listed == {"callbacks": []}
    listed = gw.http.get(f"{gw.url}/helpdesk/v1/callbacks",
                         params={"subject_request_id": "req-x", "status": "rejected"}).json()
    assert len(listed["callbacks"]) == 4


def test_a_replayed_callback_is_401(gw: Gateway) -> None:
    raw = json.dumps(status_doc("req-r", "completed")).encode()
    headers = sign(raw)
    assert gw.callback(raw, headers).status_code == 200
    replay = gw.callback(raw, headers)
    assert replay.status_code == 401 and replay.json()["code"] == "replayed_nonce"
    assert len(read_outbox(gw.outbox, "helpdesk")) == 1
    assert [r["reason"] for r in read_outbox(gw.outbox, "helpdesk-rejected")] == ["replayed nonce"]


@pytest.mark.parametrize("skew", [-301, -3600, 61, 3600])
def test_a_callback_signed_too_long_ago_or_ahead_is_401(gw: Gateway, skew: int) -> None:
    raw = json.dumps(status_doc("req-t")).encode()
    response = gw.callback(raw, sign(raw, timestamp=int(time.time()) + skew))
    assert response.status_code == 401 and response.json()["code"] == "stale_timestamp"
    assert read_outbox(gw.outbox, "helpdesk") == []


@pytest.mark.parametrize("skew", [-290, 0, 50])
def test_a_callback_within_the_window_is_accepted(gw: Gateway, skew: int) -> None:
    raw = json.dumps(status_doc("req-w")).encode()
    assert gw.callback(raw, sign(raw, timestamp=int(time.time()) + skew)).status_code == 200


def test_a_tampered_body_timestamp_or_nonce_is_401(gw: Gateway) -> None:
    raw = json.dumps(status_doc("req-z", "in_progress")).encode()
    headers = sign(raw)
    tampered = raw.replace(b"in_progress", b"completed__")
    assert gw.callback(tampered, headers).json()["code"] == "bad_signature"
    older = headers | {"X-OpenDSR-Timestamp": str(int(headers["X-OpenDSR-Timestamp"]) - 1)}
    assert gw.callback(raw, older).json()["code"] == "bad_signature"
    assert gw.callback(raw, headers | {"X-OpenDSR-Nonce": secrets.token_hex(16)}).json()["code"] == "bad_signature"
    assert gw.callback(raw, {k: v for k, v in headers.items() if k != "X-OpenDSR-Nonce"}).json()["code"] == \
        "missing_signature"
    assert gw.callback(raw, headers).status_code == 200  # the failed attempts did not spend the nonce
    assert read_outbox(gw.outbox, "helpdesk")[0]["request_status"] == "in_progress"


def test_nonces_are_forgotten_once_their_timestamp_is_refused_anyway() -> None:
    from sandbox.gateways.checks import MAX_AGE_S, NonceMemory

    memory = NonceMemory(max_entries=3)
    now = 1_000_000.0
    for n in range(3):
        assert memory.admit(f"{n:032x}", int(now), now) is None
    assert memory.admit(f"{0:032x}", int(now), now) == "replayed nonce"
    assert memory.admit(f"{9:032x}", int(now), now) == "too many callbacks"  # never forgets a live nonce early
    later = now + MAX_AGE_S + 1
    assert memory.admit(f"{9:032x}", int(later), later) is None
    assert len(memory) == 1


def test_the_pipelines_status_callbacks_are_accepted(gw: Gateway) -> None:
    from dsar_pipeline.delivery.notify import callback_headers, send_status

    settings = {"DSAR_HELPDESK_CALLBACK_SECRET": SECRET,
                "DSAR_HELPDESK_CALLBACK_URL": f"{gw.url}/helpdesk/v1/callbacks"}
    for status in ("pending", "completed"):
        send_status(settings, controller="enefit-as-ee", subject_request_id="req-p", status=status)
    assert [c["request_status"] for c in read_outbox(gw.outbox, "helpdesk")] == ["pending", "completed"]
    raw = b'{"a":1}'
    made = callback_headers(SECRET, raw)
    assert made == sign(raw, timestamp=int(made["X-OpenDSR-Timestamp"]), nonce=made["X-OpenDSR-Nonce"])
    assert len(made["X-OpenDSR-Nonce"]) == 32 and made["X-OpenDSR-Nonce"] != callback_headers(SECRET, raw)[
        "X-OpenDSR-Nonce"]


@pytest.mark.parametrize(("change", "field"), [
    ({"request_status": "done"}, "request_status"),
    ({"subject_request_id": "../../etc/passwd"}, "subject_request_id"),
    ({"expected_completion_time": "next week"}, "expected_completion_time"),
    ({"expected_completion_time": "2026-12-01T10:00:00"}, "expected_completion_time"),
    ({"results_url": "ftp://x"}, "results_url"),
    ({"extensions": ["reason"]}, "extensions"),
    ({"colour": "blue"}, "colour"),
    ({"api_version": None}, "api_version"),
])
def test_signed_but_invalid_callback_is_400_and_rejected(gw: Gateway, change: dict[str, Any], field: str) -> None:
    doc = status_doc("req-y") | change
    raw = json.dumps({k: v for k, v in doc.items() if v is not None}).encode()
    response = gw.callback(raw, sign(raw))
    assert response.status_code == 400 and response.json()["field"] == field
    assert read_outbox(gw.outbox, "helpdesk") == []
    [rejected] = read_outbox(gw.outbox, "helpdesk-rejected")
    assert rejected["reason"].startswith("invalid body")


# --- the outbox: ordering, atomicity, restarts -------------------------------------------------------------


def test_outbox_keeps_send_order_per_channel(gw: Gateway) -> None:
    for n in range(12):
        assert gw.mail({"to": f"user{n}@mail.ee", "subject": f"#{n}", "text": "T"}).status_code == 202
        if n % 3 == 0:
            assert gw.sms({"to": "+37251234567", "text": f"#{n}"}).status_code == 202
    mails = read_outbox(gw.outbox, "mail")
    assert [m["subject"] for m in mails] == [f"#{n}" for n in range(12)]
    assert [m["seq"] for m in mails] == list(range(1, 13))
    assert [m["path"].name[:6] for m in mails] == [f"{n:06d}" for n in range(1, 13)]
    assert [m["text"] for m in read_outbox(gw.outbox, "sms")] == ["#0", "#3", "#6", "#9"]


def test_concurrent_sends_are_written_whole(gw: Gateway) -> None:
    """A reader polling while 40 messages arrive at once never sees a partial file."""
    done = threading.Event()
    seen_counts: list[int] = []
    reader_errors: list[Exception] = []

    def reader() -> None:
        while not done.is_set():
            try:
                seen_counts.append(len(read_outbox(gw.outbox, "mail")))  # json.loads fails on half a file
            except Exception as exc:
                reader_errors.append(exc)
                return

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: gw.mail({"to": f"u{n}@mail.ee", "subject": str(n), "text": "x" * 5000}),
                                    range(40)))
    finally:
        done.set()
        watcher.join()
    assert reader_errors == []
    assert seen_counts == sorted(seen_counts)
    assert all(a.status_code == 202 for a in answers)
    mails = read_outbox(gw.outbox, "mail")
    assert [m["seq"] for m in mails] == list(range(1, 41))
    assert sorted(m["id"] for m in mails) == sorted(a.json()["id"] for a in answers)
    assert all(name.endswith(".json") and not name.startswith(".") for name in files_in(gw.outbox / "mail"))


def test_restarted_gateway_continues_the_sequence(gw: Gateway, hosts: list[ServiceHost]) -> None:
    assert gw.mail({"to": "a@mail.ee", "subject": "before", "text": "T"}).status_code == 202
    second = start(gw.outbox, hosts)
    with second.http:
        assert second.mail({"to": "a@mail.ee", "subject": "after", "text": "T"}).status_code == 202
    assert [(m["seq"], m["subject"]) for m in read_outbox(gw.outbox, "mail")] == [(1, "before"), (2, "after")]


def test_read_outbox_rejects_unknown_channels(tmp_path: Path) -> None:
    assert read_outbox(tmp_path, "mail") == []
    with pytest.raises(ValueError):
        read_outbox(tmp_path, "fax")


def test_unknown_route_and_health(gw: Gateway) -> None:
    assert gw.http.get(f"{gw.url}/healthz").json() == {"status": "ok"}
    missing = gw.http.get(f"{gw.url}/mail/v2/messages")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert gw.http.get(f"{gw.url}/mail/v1/messages", headers=_auth(API_KEY)).status_code == 405


def test_oversized_body_is_413(gw: Gateway) -> None:
    response = gw.mail({"to": "a@mail.ee", "subject": "S", "text": "x" * (1024 * 1024 + 10)})
    assert response.status_code == 413
    assert read_outbox(gw.outbox, "mail") == []


def test_truncated_answer_still_sent_and_idempotent_retry_sends_once(tmp_path: Path,
                                                                     hosts: list[ServiceHost]) -> None:
    """A cut-short 202 means the message WAS sent: a retry must reuse its Idempotency-Key."""
    board = FaultBoard([Fault("gateways", "truncate", 1.0)])
    outbox = tmp_path / "outbox"
    host = ServiceHost("gateways", FaultInjector(create_app(GatewayConfig(outbox, API_KEY, SECRET)), "gateways",
                                                 board), port=0)
    host.start()
    hosts.append(host)
    with httpx.Client(timeout=5) as http:
        gateway = Gateway(host.url, outbox, http)
        body = {"to": "mari.maasikas@mail.ee", "subject": "Link", "text": "T"}
        with pytest.raises(httpx.HTTPError):
            gateway.mail(body, **{"Idempotency-Key": "req-9-link"})
        assert len(read_outbox(outbox, "mail")) == 1
        board.replace([])
        retry = gateway.mail(body, **{"Idempotency-Key": "req-9-link"})
        assert retry.status_code == 202 and retry.headers["Idempotent-Replayed"] == "true"
        assert [m["id"] for m in read_outbox(outbox, "mail")] == [retry.json()["id"]]
