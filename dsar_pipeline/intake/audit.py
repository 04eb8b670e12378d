"""The per-request audit trail, stored with SQLAlchemy (SQLite file by default, PostgreSQL works).

Why a table and not Dagster's event log: the trail must outlive runs, be exportable as evidence,
and be verifiable on its own; Dagster's storage is neither append-only nor ours to constrain.

Append-only is enforced three ways: the API has no update or delete; the database refuses
UPDATE and DELETE on the events table (triggers on SQLite and PostgreSQL); and the HMAC chain
(:mod:`.audit_chain`) exposes any change made around both. A separate head table records each
request's last (seq, hash), so deleting the newest events is detected too. Rolling back both the
events and the head to an earlier consistent state is only detectable against an exported head
(:meth:`AuditTrail.export_evidence`), which is why exports are kept with the response evidence.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DDL,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from .audit_chain import (
    ALGORITHM,
    GENESIS_HASH,
    AuditEvent,
    AuditEventType,
    ChainVerification,
    canonical_payload,
    check_events,
    check_request_id,
    event_mac,
    format_timestamp,
)

DEFAULT_AUDIT_URL = "sqlite:///.dagster_home/dsar_audit.sqlite3"
MAX_APPEND_ATTEMPTS = 8

metadata = MetaData()


class _HeadMoved(Exception):
    """Another writer appended between our read of the head and our update of it."""


events_table = Table(
    "dsar_audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("request_id", "seq", name="uq_dsar_audit_request_seq"),
)

heads_table = Table(
    "dsar_audit_heads",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS dsar_audit_no_update BEFORE UPDATE ON dsar_audit_events "
    "BEGIN SELECT RAISE(ABORT, 'dsar_audit_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS dsar_audit_no_delete BEFORE DELETE ON dsar_audit_events "
    "BEGIN SELECT RAISE(ABORT, 'dsar_audit_events is append-only'); END",
]
_POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION dsar_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'dsar_audit_events is append-only'; END $$",
    "DROP TRIGGER IF EXISTS dsar_audit_no_change ON dsar_audit_events",
    "CREATE TRIGGER dsar_audit_no_change BEFORE UPDATE OR DELETE ON dsar_audit_events "
    "FOR EACH ROW EXECUTE FUNCTION dsar_audit_append_only()",
]
for _statement in _SQLITE_TRIGGERS:
    event.listen(events_table, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in _POSTGRES_TRIGGERS:
    event.listen(events_table, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


def _engine(url_or_engine: str | Engine) -> Engine:
    if isinstance(url_or_engine, Engine):
        return url_or_engine
    if url_or_engine.startswith("sqlite:///") and not url_or_engine.startswith("sqlite:///:memory:"):
        Path(url_or_engine.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url_or_engine)


def _row_to_event(row: Any) -> AuditEvent:
    return AuditEvent(
        request_id=row.request_id,
        seq=row.seq,
        event_type=row.event_type,
        occurred_at=row.occurred_at,
        payload=row.payload,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditTrail:
    """Append-only, HMAC-chained audit events per request.

    ``url_or_engine`` is a SQLAlchemy URL (``sqlite:///path.sqlite3``,
    ``postgresql+psycopg://...``) or an Engine; ``key`` is the HMAC key (``DSAR_AUDIT_KEY``).
    """

    def __init__(self, url_or_engine: str | Engine, key: bytes, *, create_tables: bool = True) -> None:
        if len(key) < 16:
            raise ValueError("the audit key must be at least 16 bytes")
        self._key = key
        self.engine = _engine(url_or_engine)
        if create_tables:
            metadata.create_all(self.engine)

    def append(
        self,
        request_id: str,
        event_type: AuditEventType | str,
        payload: Mapping[str, Any] | None = None,
        *,
        occurred_at: datetime | None = None,
    ) -> AuditEvent:
        """Add one event at the end of the request's chain and return it as stored."""
        check_request_id(request_id)
        kind = AuditEventType(event_type).value
        text = canonical_payload(payload)
        stamp = format_timestamp(occurred_at or datetime.now(UTC))
        last_error: Exception | None = None
        for _ in range(MAX_APPEND_ATTEMPTS):
            try:
                return self._append_once(request_id, kind, text, stamp)
            except (IntegrityError, OperationalError, _HeadMoved) as exc:  # concurrent appender won the race
                last_error = exc
                time.sleep(random.uniform(0, 0.05))
        raise RuntimeError("could not append the audit event (concurrent writers)") from last_error

    def _append_once(self, request_id: str, kind: str, payload: str, stamp: str) -> AuditEvent:
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Serialise appenders of one request (SQLite serialises all writers by itself): without
                # it, concurrent steps race for the same sequence number and exhaust their retries.
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:rid))"), {"rid": request_id})
            head = conn.execute(
                select(heads_table.c.seq, heads_table.c.hash).where(heads_table.c.request_id == request_id)
            ).first()
            seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS_HASH)
            mac = event_mac(
                self._key,
                request_id=request_id,
                seq=seq,
                event_type=kind,
                occurred_at=stamp,
                payload=payload,
                prev_hash=prev,
            )
            conn.execute(
                insert(events_table).values(
                    request_id=request_id,
                    seq=seq,
                    event_type=kind,
                    occurred_at=stamp,
                    payload=payload,
                    prev_hash=prev,
                    hash=mac,
                )
            )
            if head:
                changed = conn.execute(
                    update(heads_table)
                    .where(heads_table.c.request_id == request_id, heads_table.c.seq == head.seq)
                    .values(seq=seq, hash=mac)
                ).rowcount
                if changed != 1:
                    raise _HeadMoved()
            else:
                conn.execute(insert(heads_table).values(request_id=request_id, seq=seq, hash=mac))
        return AuditEvent(request_id, seq, kind, stamp, payload, prev, mac)

    def events(self, request_id: str) -> list[AuditEvent]:
        """All stored events of one request in chain order."""
        check_request_id(request_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events_table).where(events_table.c.request_id == request_id).order_by(events_table.c.seq)
            ).all()
        return [_row_to_event(row) for row in rows]

    def _head(self, request_id: str) -> tuple[int, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(heads_table.c.seq, heads_table.c.hash).where(heads_table.c.request_id == request_id)
            ).first()
        return (row.seq, row.hash) if row else None

    def verify_chain(self, request_id: str) -> ChainVerification:
        """Detect any edit, deletion, insertion or reordering of this request's stored events."""
        check_request_id(request_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events_table).where(events_table.c.request_id == request_id).order_by(events_table.c.id)
            ).all()
        return check_events(self._key, request_id, [_row_to_event(r) for r in rows], self._head(request_id))

    def request_ids(self) -> list[str]:
        """Every request id that has a trail."""
        with self.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(select(heads_table.c.request_id)).all())

    def export_evidence(self, request_id: str) -> str:
        """JSON lines: one line per event, then a ``chain_head`` line with the head hash and check result."""
        result = self.verify_chain(request_id)
        lines = [json.dumps(e.to_dict(), sort_keys=True, ensure_ascii=True) for e in self.events(request_id)]
        lines.append(
            json.dumps(
                {
                    "type": "chain_head",
                    "request_id": request_id,
                    "algorithm": ALGORITHM,
                    "events": result.events,
                    "head_hash": result.head_hash,
                    "chain_ok": result.ok,
                    "problem": result.problem,
                    "exported_at": format_timestamp(datetime.now(UTC)),
                },
                sort_keys=True,
                ensure_ascii=True,
            )
        )
        return "\n".join(lines) + "\n"


def verify_evidence(text: str, key: bytes) -> ChainVerification:
    """Check an exported evidence file on its own (with the audit key), e.g. years later."""
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not lines or lines[-1].get("type") != "chain_head":
        raise ValueError("evidence does not end with a chain_head line")
    head = lines[-1]
    request_id = str(head["request_id"])
    events = [
        AuditEvent(
            request_id=str(item["request_id"]),
            seq=int(item["seq"]),
            event_type=str(item["event_type"]),
            occurred_at=str(item["occurred_at"]),
            payload=json.dumps(item["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=True),
            prev_hash=str(item["prev_hash"]),
            hash=str(item["hash"]),
        )
        for item in lines[:-1]
    ]
    recorded = (int(head["events"]), str(head["head_hash"] or GENESIS_HASH))
    return check_events(key, request_id, events, recorded)


__all__ = ["DEFAULT_AUDIT_URL", "AuditTrail", "events_table", "heads_table", "metadata", "verify_evidence"]
