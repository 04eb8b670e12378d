"""The audit trail, stored with SQLAlchemy (SQLite file by default, PostgreSQL in production).

Why a table and not Dagster's event log: the trail must outlive runs, be exportable as evidence,
and be verifiable on its own; Dagster's storage is neither append-only nor ours to constrain.

Append-only is enforced four ways: the API has no update or delete; every audit table is written
by INSERT only, so production's database role gets only SELECT and INSERT (deploy/audit.md);
triggers refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) on those tables; and the one global
SHA-256 chain (:mod:`.audit_chain`) plus signed anchors kept under S3 Object Lock
(:mod:`.audit_anchor`) expose any change made around all of that.

The tables are new (``dsar_audit_log``, ``dsar_audit_anchors``, ``dsar_audit_container_claims``):
the chain-version-1 tables of older local databases (``dsar_audit_events``/``_heads``) are left
untouched and unread.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from dsar_pipeline.audit.anchor import Anchor, anchor_problem
from dsar_pipeline.audit.chain import (
    ALGORITHM,
    GENESIS_HASH,
    AuditEvent,
    AuditEventType,
    ChainVerification,
    ChainWalker,
    broken_at,
    canonical_payload,
    check_code,
    check_request_events,
    check_request_id,
    check_sha256,
    format_timestamp,
    link_hash,
    new_event,
)
from dsar_pipeline.audit.signing import PublicKey, key_fingerprint, load_public_keys

DEFAULT_AUDIT_URL = "sqlite:///.dagster_home/dsar_audit.sqlite3"
MAX_APPEND_ATTEMPTS = 12
APPEND_LOCK_KEY = 0x6473_6172_6175  # PostgreSQL advisory lock serialising appenders of the one chain
PAGE = 2000
_T = TypeVar("_T")

metadata = MetaData()

log_table = Table(
    "dsar_audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("request_id", String(32), nullable=False),
    Column("request_seq", Integer, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("request_prev_hash", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("request_id", "request_seq", name="uq_dsar_audit_log_request_seq"),
)

anchors_table = Table(
    "dsar_audit_anchors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("anchored_at", String(32), nullable=False),
    Column("key_id", String(256), nullable=False),
    Column("key_fingerprint", String(80), nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("signature", Text, nullable=False),
    Column("object_key", String(256), nullable=True),
)

claims_table = Table(
    "dsar_audit_container_claims",
    metadata,
    Column("controller", String(64), nullable=False),
    Column("container_sha256", String(64), nullable=False),
    Column("request_id", String(32), nullable=False),
    Column("claimed_at", String(32), nullable=False),
    PrimaryKeyConstraint("controller", "container_sha256", name="pk_dsar_audit_container_claims"),
)

AUDIT_TABLES = (log_table, anchors_table, claims_table)

_PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION dsar_audit_v2_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END $$"
)
for _table in AUDIT_TABLES:
    _name = _table.name
    for _statement in (
        f"CREATE TRIGGER IF NOT EXISTS {_name}_no_update BEFORE UPDATE ON {_name} "
        f"BEGIN SELECT RAISE(ABORT, '{_name} is append-only'); END",
        f"CREATE TRIGGER IF NOT EXISTS {_name}_no_delete BEFORE DELETE ON {_name} "
        f"BEGIN SELECT RAISE(ABORT, '{_name} is append-only'); END",
    ):
        event.listen(_table, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
    for _statement in (
        _PG_FUNCTION,
        f"CREATE TRIGGER {_name}_no_change BEFORE UPDATE OR DELETE ON {_name} "
        "FOR EACH ROW EXECUTE FUNCTION dsar_audit_v2_append_only()",
        f"CREATE TRIGGER {_name}_no_truncate BEFORE TRUNCATE ON {_name} "
        "FOR EACH STATEMENT EXECUTE FUNCTION dsar_audit_v2_append_only()",
    ):
        event.listen(_table, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


def _engine(url_or_engine: str | Engine) -> Engine:
    if isinstance(url_or_engine, Engine):
        return url_or_engine
    if url_or_engine.startswith("sqlite:///") and not url_or_engine.startswith("sqlite:///:memory:"):
        Path(url_or_engine.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url_or_engine)


def _row_to_event(row: Any) -> AuditEvent:
    return AuditEvent(seq=int(row.seq), request_id=row.request_id, request_seq=int(row.request_seq),
                      event_type=row.event_type, occurred_at=row.occurred_at, payload=row.payload,
                      request_prev_hash=row.request_prev_hash, prev_hash=row.prev_hash, hash=row.hash)


def _row_to_anchor(row: Any) -> Anchor:
    return Anchor(seq=int(row.seq), head_hash=row.head_hash, anchored_at=row.anchored_at, key_id=row.key_id,
                  key_fingerprint=row.key_fingerprint, signature=row.signature, algorithm=row.algorithm)


def _lock_for_append(conn: Connection) -> None:
    """Take the one writer lock before reading the head, so appenders never race for a seq.

    PostgreSQL: a transaction-level advisory lock. SQLite: ``BEGIN IMMEDIATE`` takes the database
    write lock up front (threads and processes alike). The primary key on ``seq`` backs both.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class TrailVerification:
    """The whole trail: chain, anchors, and the first problem found (one line) if any."""

    ok: bool
    events: int
    requests: int
    head_seq: int
    head_hash: str
    anchors: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "requests": self.requests, "anchors": self.anchors,
                "problem": self.problem}


class AuditTrail:
    """One append-only SHA-256 chain over every request's events, readable per request.

    ``url_or_engine`` is a SQLAlchemy URL (``sqlite:///path.sqlite3``, ``postgresql+psycopg://...``)
    or an Engine. ``key`` is accepted and ignored: chain version 1 was keyed by ``DSAR_AUDIT_KEY``;
    version 2 needs no secret to verify, so callers may drop the argument.
    """

    def __init__(self, url_or_engine: str | Engine, key: bytes | None = None, *, create_tables: bool = True) -> None:
        del key  # see the class docstring
        self.engine = _engine(url_or_engine)
        if create_tables:
            metadata.create_all(self.engine)

    # ----------------------------------------------------------------------------------- writing
    def append(
        self,
        request_id: str,
        event_type: AuditEventType | str,
        payload: Mapping[str, Any] | None = None,
        *,
        occurred_at: datetime | None = None,
    ) -> AuditEvent:
        """Add one event at the end of the chain (and of its request) and return it as stored."""
        check_request_id(request_id)
        kind = AuditEventType(event_type).value
        body = canonical_payload(payload)
        stamp = format_timestamp(occurred_at or datetime.now(UTC))
        return self._retrying(lambda: self._append_once(request_id, kind, body, stamp))

    @staticmethod
    def _retrying(attempt: Callable[[], _T]) -> _T:
        last_error: Exception | None = None
        for _ in range(MAX_APPEND_ATTEMPTS):
            try:
                return attempt()
            except (IntegrityError, OperationalError) as exc:  # a lock timeout or a lost race: try again
                last_error = exc
                time.sleep(random.uniform(0.005, 0.05))
        raise RuntimeError("could not write to the audit trail (concurrent writers)") from last_error

    def _append_once(self, request_id: str, kind: str, payload: str, stamp: str) -> AuditEvent:
        with self.engine.connect() as conn:
            _lock_for_append(conn)
            head = conn.execute(select(log_table.c.seq, log_table.c.hash)
                                .order_by(log_table.c.seq.desc()).limit(1)).first()
            mine = conn.execute(select(log_table.c.request_seq, log_table.c.hash)
                                .where(log_table.c.request_id == request_id)
                                .order_by(log_table.c.request_seq.desc()).limit(1)).first()
            stored = new_event(
                seq=int(head.seq) + 1 if head else 1, prev_hash=head.hash if head else GENESIS_HASH,
                request_id=request_id, request_seq=int(mine.request_seq) + 1 if mine else 1,
                request_prev_hash=mine.hash if mine else GENESIS_HASH, event_type=kind, occurred_at=stamp,
                payload=payload)
            values = stored.to_dict()
            values["payload"] = payload
            conn.execute(insert(log_table).values(**values))
            conn.commit()
        return stored

    def record_anchor(self, anchor: Anchor, object_key: str | None = None) -> None:
        """Keep an anchor in the database too (INSERT only), for checks when the bucket is unreachable."""
        with self.engine.begin() as conn:
            conn.execute(insert(anchors_table).values(**anchor.to_dict(), object_key=object_key))

    def claim_container(self, controller: str, container_sha256: str, request_id: str) -> str | None:
        """Register a signed request container once per controller: the replay registry.

        Returns None when this request now holds the claim (new, or claimed before by the same
        request: idempotent), else the request id that claimed the same container first. The
        primary key on (controller, container_sha256) makes concurrent claims race-free.
        """
        check_code(controller, "controller")
        check_sha256(container_sha256, "container_sha256")
        check_request_id(request_id)
        where = (claims_table.c.controller == controller, claims_table.c.container_sha256 == container_sha256)

        def attempt() -> str | None:
            with self.engine.connect() as conn:
                earlier = conn.execute(select(claims_table.c.request_id).where(*where)).scalar()
            if earlier is None:
                with self.engine.begin() as conn:
                    conn.execute(insert(claims_table).values(
                        controller=controller, container_sha256=container_sha256, request_id=request_id,
                        claimed_at=format_timestamp(datetime.now(UTC))))
                return None
            return None if earlier == request_id else str(earlier)

        return self._retrying(attempt)

    # ----------------------------------------------------------------------------------- reading
    def events(self, request_id: str) -> list[AuditEvent]:
        """All stored events of one request in its order."""
        check_request_id(request_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(log_table).where(log_table.c.request_id == request_id)
                                .order_by(log_table.c.request_seq)).all()
        return [_row_to_event(row) for row in rows]

    def iter_events(self, after: int = 0, until: int | None = None) -> Iterator[AuditEvent]:
        """The chain in global order, read page by page (bounded memory)."""
        last = after
        while True:
            query = select(log_table).where(log_table.c.seq > last).order_by(log_table.c.seq).limit(PAGE)
            if until is not None:
                query = query.where(log_table.c.seq <= until)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield _row_to_event(row)
            if len(rows) < PAGE:
                return
            last = int(rows[-1].seq)

    def head(self) -> tuple[int, str]:
        """The chain's last (seq, hash); (0, genesis) when empty."""
        with self.engine.connect() as conn:
            row = conn.execute(select(log_table.c.seq, log_table.c.hash).order_by(log_table.c.seq.desc())
                               .limit(1)).first()
        return (int(row.seq), row.hash) if row else (0, GENESIS_HASH)

    def request_ids(self) -> list[str]:
        """Every request id that has a trail."""
        with self.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(select(log_table.c.request_id).distinct()).all())

    def anchors(self) -> list[Anchor]:
        """The anchors recorded in the database, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(anchors_table).order_by(anchors_table.c.id)).all()
        return [_row_to_anchor(row) for row in rows]

    # ----------------------------------------------------------------------------------- checking
    def verify_chain(self, request_id: str) -> ChainVerification:
        """Check one request cheaply: its own links, its global neighbours, no gap, the recorded anchors.

        Reads the request's events, their neighbours in the chain and two aggregates; the anchor
        *signatures* and the bucket are checked by :meth:`verify` (``dsar audit verify``).
        """
        events = self.events(request_id)
        result = check_request_events(request_id, events)
        problem = result.problem or self._neighbour_problem(events) or self._gap_problem() or self._anchor_gap()
        if problem:
            return ChainVerification(request_id, False, len(events), None, problem)
        return result

    def _neighbour_problem(self, events: Sequence[AuditEvent]) -> str | None:
        wanted = {e.seq - 1 for e in events if e.seq > 1} | {e.seq + 1 for e in events}
        by_seq: dict[int, AuditEvent] = {e.seq: e for e in events}
        with self.engine.connect() as conn:
            for row in conn.execute(select(log_table).where(log_table.c.seq.in_(wanted - set(by_seq)))).all():
                by_seq[int(row.seq)] = _row_to_event(row)
        for e in events:
            before = by_seq.get(e.seq - 1)
            if e.seq > 1 and before is None:
                return broken_at(e.seq - 1, "event is missing (deleted?)")
            if e.prev_hash != (before.hash if before else GENESIS_HASH):
                return broken_at(e.seq, "event does not link to its predecessor")
            after = by_seq.get(e.seq + 1)
            if after is not None and after.prev_hash != e.hash:
                return broken_at(after.seq, "event does not link to its predecessor")
        return None

    def _gap_problem(self) -> str | None:
        """A deleted event anywhere leaves a hole in 1..max(seq): count and max disagree."""
        with self.engine.connect() as conn:
            count, low, high = conn.execute(select(func.count(), func.min(log_table.c.seq),
                                                   func.max(log_table.c.seq))).one()
            if not count or (count == high and low == 1):
                return None
            if low != 1:
                return broken_at(1, "event is missing (deleted?)")
            after = log_table.alias("after")
            hole = conn.execute(
                select(log_table.c.seq + 1).outerjoin(after, after.c.seq == log_table.c.seq + 1)
                .where(after.c.seq.is_(None), log_table.c.seq < high).order_by(log_table.c.seq).limit(1)).scalar()
        return broken_at(int(hole or 1), "event is missing (deleted?)")

    def _anchor_gap(self) -> str | None:
        """Recorded anchors must still match the chain (a cut tail or a rewrite no longer does)."""
        head_seq, _ = self.head()
        with self.engine.connect() as conn:
            for row in conn.execute(select(anchors_table.c.seq, anchors_table.c.head_hash, log_table.c.hash)
                                    .outerjoin(log_table, log_table.c.seq == anchors_table.c.seq)
                                    .order_by(anchors_table.c.seq)).all():
                if row.seq == 0:
                    continue
                if row.hash is None and row.seq > head_seq:
                    return broken_at(head_seq + 1, f"the chain ends at event {head_seq} but an anchor covers "
                                                   f"event {row.seq} (events cut off)")
                if row.hash != row.head_hash:
                    return broken_at(int(row.seq), "event does not match its signed anchor")
        return None

    def verify(self, public_keys: Sequence[PublicKey] = (), bucket_anchors: Sequence[tuple[Anchor, bool]] = (),
               bucket_status: str = "not configured") -> TrailVerification:
        """Walk the whole chain and check it against every anchor (database and bucket) and signature."""
        # A bucket may also hold the anchors of another trail (a test or staging environment writing to
        # the same bucket) under another key: they are not ours, so they are counted, not judged. An
        # anchor of ours cannot be forged without our key, nor removed (Object Lock). In the database,
        # every anchor claims to be ours: one under an unknown key is a break.
        known = {key_fingerprint(key) for key in public_keys}
        foreign = [a for a, _ in bucket_anchors if a.key_fingerprint not in known]
        sources = [(a, "database") for a in self.anchors()] + [
            (a, "bucket") for a, _ in bucket_anchors if a.key_fingerprint in known]
        signature_problems: list[str] = []
        trusted: dict[int, list[tuple[Anchor, str]]] = {}
        for anchor, where in sources:  # only validly signed anchors may judge the chain
            refused = anchor_problem(anchor, public_keys, where)
            if refused:
                signature_problems.append(refused)
            else:
                trusted.setdefault(anchor.seq, []).append((anchor, where))
        walker = ChainWalker()
        problem: str | None = None
        for item in self.iter_events():
            problem = walker.feed(item)
            if problem:
                break
            for anchor, where in trusted.get(item.seq, []):
                if anchor.head_hash != item.hash:
                    problem = broken_at(item.seq, f"event does not match the signed anchor of {anchor.anchored_at} "
                                                  f"({where})")
                    break
            if problem:
                break
        if problem is None:
            for seq in sorted(trusted):
                anchor, where = trusted[seq][0]
                if seq > walker.seq:
                    problem = broken_at(walker.seq + 1, f"the chain ends at event {walker.seq} but the signed anchor "
                                                        f"of {anchor.anchored_at} ({where}) covers event {seq} "
                                                        "(events cut off)")
                    break
                if seq == 0 and anchor.head_hash != GENESIS_HASH:
                    problem = f"audit anchor of {anchor.anchored_at} ({where}) names an impossible empty-chain head"
                    break
        problem = problem or (signature_problems[0] if signature_problems else None)
        if problem is None and bucket_anchors and not known:
            problem = "no public key to check the bucket's audit anchors with (give one with --public-key)"
        latest = max(trusted, default=None)
        summary = {
            "database": sum(1 for _, where in sources if where == "database"),
            "bucket": len(bucket_anchors) if bucket_status == "checked" else None,
            "bucket_status": bucket_status,
            "bucket_unlocked": sum(1 for a, locked in bucket_anchors if not locked and a.key_fingerprint in known),
            "bucket_other_keys": len(foreign),
            "latest_seq": latest,
            "unanchored_events": walker.seq - (latest or 0),
        }
        return TrailVerification(ok=problem is None, events=walker.seq, requests=len(walker.requests),
                                 head_seq=walker.seq, head_hash=walker.head_hash, anchors=summary, problem=problem)

    # ----------------------------------------------------------------------------------- evidence
    def export_evidence(self, request_id: str) -> str:
        """JSON lines proving one request's events are in the signed chain.

        In global order from the request's first event to the newest anchor covering its last
        event: ``event`` lines (this request, in full) and ``link`` lines (other requests' events
        as seq, prev_hash, body digest and hash only), then a ``chain_head`` line with the anchor
        (``null`` when no anchor covers the request yet: anchor first, then export).
        """
        events = self.events(request_id)
        result = self.verify_chain(request_id)
        anchor = None
        if events:
            covering = [a for a in self.anchors() if a.seq >= events[-1].seq]
            anchor = max(covering, key=lambda a: (a.seq, a.anchored_at), default=None)
        lines: list[dict[str, Any]] = []
        if events:
            mine = {e.seq for e in events}
            for item in self.iter_events(after=events[0].seq - 1, until=anchor.seq if anchor else events[-1].seq):
                if item.seq in mine:
                    lines.append({"type": "event", **item.to_dict()})
                else:
                    lines.append({"type": "link", "seq": item.seq, "prev_hash": item.prev_hash,
                                  "body_sha256": item.body_sha256(), "hash": item.hash})
        lines.append({
            "type": "chain_head", "request_id": request_id, "algorithm": ALGORITHM, "events": len(events),
            "head_hash": result.head_hash, "chain_ok": result.ok, "problem": result.problem,
            "anchor": anchor.to_dict() if anchor else None, "exported_at": format_timestamp(datetime.now(UTC)),
        })
        return "\n".join(json.dumps(line, sort_keys=True, ensure_ascii=True) for line in lines) + "\n"


def verify_evidence(text: str, public_keys: Sequence[PublicKey] | bytes) -> ChainVerification:
    """Check exported evidence with the published public key only (PEM bytes or loaded keys).

    Proves that the request's events, in this order, link into the chain up to a validly signed
    anchor. Limit: a dishonest exporter could present a later event of the request as a ``link``
    line; the audit database itself (``dsar audit verify``) shows every event in full.
    """
    keys = load_public_keys(public_keys) if isinstance(public_keys, bytes) else list(public_keys)
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not lines or lines[-1].get("type") != "chain_head":
        raise ValueError("evidence does not end with a chain_head line")
    head = lines[-1]
    request_id = str(head["request_id"])

    def failed(problem: str) -> ChainVerification:
        return ChainVerification(request_id, False, int(head.get("events") or 0), None, problem)

    if not head.get("anchor"):
        return failed("evidence is not covered by a signed anchor (anchor the trail, then export)")
    anchor = Anchor.from_dict(head["anchor"])
    signature = anchor_problem(anchor, keys, "evidence")
    if signature:
        return failed(signature)
    events: list[AuditEvent] = []
    seq, prev = None, None
    for item in lines[:-1]:
        if seq is not None and int(item["seq"]) != seq + 1:
            return failed(broken_at(seq + 1, "event is missing from the evidence"))
        if prev is not None and item["prev_hash"] != prev:
            return failed(broken_at(int(item["seq"]), "event does not link to its predecessor"))
        if item.get("type") == "event":
            current = AuditEvent.from_dict(item)
            events.append(current)
            computed = current.computed_hash()
        elif item.get("type") == "link":
            computed = link_hash(str(item["prev_hash"]), str(item["body_sha256"]))
        else:
            return failed(f"unknown evidence line type {item.get('type')!r}")
        if computed != item["hash"]:
            return failed(broken_at(int(item["seq"]), "event was altered"))
        seq, prev = int(item["seq"]), str(item["hash"])
    result = check_request_events(request_id, events)
    if not result.ok:
        return result
    if seq != anchor.seq or prev != anchor.head_hash:
        return failed(broken_at(anchor.seq, "the evidence does not end at its signed anchor"))
    if result.events != int(head["events"]) or result.head_hash != head.get("head_hash"):
        return failed("the evidence's event count or head does not match its chain_head line")
    return result


__all__ = [
    "AUDIT_TABLES",
    "DEFAULT_AUDIT_URL",
    "AuditTrail",
    "TrailVerification",
    "anchors_table",
    "claims_table",
    "log_table",
    "metadata",
    "verify_evidence",
]
