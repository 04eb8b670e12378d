"""The audit trail: append-only, HMAC-chained, tamper-evident, free of personal values."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dsar_pipeline.intake import (
    ApprovalDecision,
    AuditEventType,
    AuditPayloadError,
    AuditTrail,
    verify_evidence,
)
from dsar_pipeline.intake.approval import record_decision

PG_URL = os.environ.get("DSAR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


requires_postgres = pytest.mark.skipif(not _postgres_listening(), reason="PostgreSQL is not on 127.0.0.1:5432")
KEY = b"audit-test-key-0123456789abcdef"
REQUEST = "r-0123456789abcdefghjkmnpqrs"
OTHER = "r-zyxwvtsrqpnmkjhgfedcba9876"
T0 = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def fill(trail: AuditTrail, request_id: str = REQUEST) -> None:
    trail.append(request_id, AuditEventType.RECEIVED, {"controller": "enefit-ee", "request_type": "access"},
                 occurred_at=T0)
    trail.append(request_id, AuditEventType.VERIFIED,
                 {"status": "verified", "reason_code": "signer_matches_subject",
                  "container_sha256": "ab" * 32}, occurred_at=T0 + timedelta(minutes=1))
    trail.append(request_id, "systems_queried",
                 {"systems": {"billing": {"status": "ok", "records": 42}, "volt": {"status": "failed", "records": 0}}},
                 occurred_at=T0 + timedelta(minutes=5))
    trail.append(request_id, AuditEventType.REVIEWED, {"weak_matches": 2}, occurred_at=T0 + timedelta(hours=2))
    trail.append(request_id, AuditEventType.APPROVED, {"decided_by": "dpo.kask"}, occurred_at=T0 + timedelta(hours=3))


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    audit = AuditTrail(f"sqlite:///{tmp_path}/audit.sqlite3", KEY)
    fill(audit)
    fill(audit, OTHER)
    return audit


def raw_sql(audit: AuditTrail, *statements: str, **params: object) -> None:
    """An administrator with database access: drop the append-only triggers, then edit.

    Statements use bound parameters ``:rid`` (the request id) and any given in ``params``.
    """
    with audit.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS dsar_audit_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS dsar_audit_no_delete"))
        for statement in statements:
            conn.execute(text(statement), {"rid": REQUEST, **params})


def test_intact_chain_verifies(trail):
    result = trail.verify_chain(REQUEST)
    assert result.ok and result.events == 5 and result.problem is None
    assert result.head_hash == trail.events(REQUEST)[-1].hash
    assert trail.request_ids() == sorted([REQUEST, OTHER])


def test_empty_chain_is_ok(tmp_path):
    audit = AuditTrail(f"sqlite:///{tmp_path}/a.sqlite3", KEY)
    result = audit.verify_chain(REQUEST)
    assert result.ok and result.events == 0 and result.head_hash is None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", '{"controller":"enefit-lv","request_type":"access"}'),
        ("event_type", "rejected"),
        ("occurred_at", "2026-03-01T09:15:00.000000Z"),
        ("hash", "0" * 64),
        ("prev_hash", "1" * 64),
        ("seq", "7"),
        ("request_id", "r-aaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ],
)
def test_editing_any_column_of_any_event_is_detected(trail, column, value):
    for seq in (1, 3, 5):
        statement = f"UPDATE dsar_audit_events SET {column} = :value WHERE request_id = :rid AND seq = :seq"  # noqa: S608
        raw_sql(trail, statement, value=int(value) if column == "seq" else value, seq=seq)
        result = trail.verify_chain(REQUEST)
        assert not result.ok, (column, seq)
        assert result.problem
        # restore by rebuilding the database for the next round
        raw_sql(trail, "DELETE FROM dsar_audit_events", "DELETE FROM dsar_audit_heads")
        fill(trail)
        fill(trail, OTHER)
    assert trail.verify_chain(REQUEST).ok


def test_recomputed_plain_hash_without_the_key_is_detected(trail):
    import hashlib

    forged_payload = '{"status":"verified"}'
    forged_hash = hashlib.sha256(forged_payload.encode()).hexdigest()
    raw_sql(trail, "UPDATE dsar_audit_events SET payload = :p, hash = :h WHERE request_id = :rid AND seq = 5",
            "UPDATE dsar_audit_heads SET hash = :h WHERE request_id = :rid", p=forged_payload, h=forged_hash)
    assert "altered" in (trail.verify_chain(REQUEST).problem or "")


def test_deleting_a_middle_event_is_detected(trail):
    raw_sql(trail, "DELETE FROM dsar_audit_events WHERE request_id = :rid AND seq = 3")
    assert "missing" in (trail.verify_chain(REQUEST).problem or "")


def test_deleting_the_last_event_is_detected(trail):
    raw_sql(trail, "DELETE FROM dsar_audit_events WHERE request_id = :rid AND seq = 5")
    assert "head" in (trail.verify_chain(REQUEST).problem or "")


def test_reordering_events_is_detected(trail):
    raw_sql(
        trail,
        "UPDATE dsar_audit_events SET seq = -1 WHERE request_id = :rid AND seq = 2",
        "UPDATE dsar_audit_events SET seq = 2 WHERE request_id = :rid AND seq = 3",
        "UPDATE dsar_audit_events SET seq = 3 WHERE request_id = :rid AND seq = -1",
    )
    assert not trail.verify_chain(REQUEST).ok


def test_inserting_a_forged_event_is_detected(trail):
    last = trail.events(REQUEST)[-1]
    raw_sql(trail, "INSERT INTO dsar_audit_events (request_id, seq, event_type, occurred_at, payload, prev_hash, hash) "
                   "VALUES (:rid, 6, 'delivered', '2026-03-03T00:00:00.000000Z', '{}', :prev, :h)",
            prev=last.hash, h="f" * 64)
    assert not trail.verify_chain(REQUEST).ok


def test_database_refuses_update_and_delete(trail):
    for statement in ("UPDATE dsar_audit_events SET payload = '{}' WHERE request_id = :rid",
                      "DELETE FROM dsar_audit_events WHERE request_id = :rid"):
        with pytest.raises(DBAPIError, match="append-only"), trail.engine.begin() as conn:
            conn.execute(text(statement), {"rid": REQUEST})
    assert trail.verify_chain(REQUEST).ok


def _concurrent_appends(audit: AuditTrail, workers: int = 4, each: int = 10) -> None:
    def work(worker: int) -> None:
        for n in range(each):
            audit.append(REQUEST, AuditEventType.REVIEWED, {"worker": worker, "n": n})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_appends_keep_one_chain(tmp_path):
    audit = AuditTrail(f"sqlite:///{tmp_path}/c.sqlite3", KEY)
    _concurrent_appends(audit)
    result = audit.verify_chain(REQUEST)
    assert result.ok and result.events == 40


def test_wrong_key_fails_verification(trail):
    other = AuditTrail(trail.engine, b"some-other-key-0123456789abcdef")
    assert not other.verify_chain(REQUEST).ok


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "mari.maasikas@example.ee"},
        {"personal_code": "38001085718"},
        {"phone": "+37251234567"},
        {"note": "Mari Maasikas called"},
        {"Name": "x"},
        {"nested": {"deeper": {"deepest": {"too_deep": 1}}}},
        {"blob": b"bytes"},
    ],
)
def test_personal_values_cannot_enter_the_trail(trail, payload):
    with pytest.raises(AuditPayloadError):
        trail.append(REQUEST, AuditEventType.REVIEWED, payload)
    assert trail.verify_chain(REQUEST).events == 5


def test_only_opaque_request_ids_and_known_types(trail):
    with pytest.raises(AuditPayloadError):
        trail.append("38001085718", AuditEventType.RECEIVED)
    with pytest.raises(ValueError):
        trail.append(REQUEST, "invented")


def test_stored_rows_contain_no_personal_values(trail):
    with trail.engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM dsar_audit_events")).all())
    for value in ("38001085718", "@", "+372", "Mari"):
        assert value not in dump


def test_export_evidence_and_verify_it_offline(trail):
    evidence = trail.export_evidence(REQUEST)
    lines = [json.loads(line) for line in evidence.splitlines()]
    assert len(lines) == 6 and lines[-1]["type"] == "chain_head"
    assert lines[-1]["head_hash"] == trail.events(REQUEST)[-1].hash and lines[-1]["chain_ok"]
    assert lines[2]["payload"]["systems"]["billing"]["records"] == 42
    assert verify_evidence(evidence, KEY).ok
    tampered = evidence.replace('"records": 42', '"records": 41')
    assert tampered != evidence and not verify_evidence(tampered, KEY).ok
    truncated = "\n".join([*evidence.splitlines()[:3], evidence.splitlines()[-1]])
    assert not verify_evidence(truncated, KEY).ok


def test_record_decision(tmp_path):
    audit = AuditTrail(f"sqlite:///{tmp_path}/d.sqlite3", KEY)
    decision = ApprovalDecision(request_id=REQUEST, decided_by="dpo.kask", decided_at=T0, decision="rejected",
                                note="Signer is not the subject; asked for a new signed request.")
    event = record_decision(audit, decision)
    assert event.event_type == "rejected" and event.occurred_at.startswith("2026-03-02T09:15:00")
    assert "Signer" not in event.payload and audit.verify_chain(REQUEST).ok


@pytest.fixture
def pg_trail() -> Iterator[AuditTrail]:
    schema = f"intake_audit_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - environment without the test database
        pytest.skip(f"PostgreSQL test database unavailable: {type(exc).__name__}")
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield AuditTrail(engine, KEY)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.mark.postgres
@requires_postgres
def test_postgresql_backend(pg_trail):
    fill(pg_trail)
    assert pg_trail.verify_chain(REQUEST).ok
    _concurrent_appends(pg_trail, workers=3, each=5)
    assert pg_trail.verify_chain(REQUEST).events == 20
    with pytest.raises(DBAPIError, match="append-only"), pg_trail.engine.begin() as conn:
        conn.execute(text("UPDATE dsar_audit_events SET payload = '{}' WHERE request_id = :rid"), {"rid": REQUEST})
    with pg_trail.engine.begin() as conn:
        conn.execute(text("ALTER TABLE dsar_audit_events DISABLE TRIGGER dsar_audit_no_change"))
        conn.execute(text("UPDATE dsar_audit_events SET payload = '{}' WHERE request_id = :rid AND seq = 2"),
                     {"rid": REQUEST})
    assert "event 2 was altered" in (pg_trail.verify_chain(REQUEST).problem or "")
