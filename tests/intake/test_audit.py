"""The audit trail: one keyless SHA-256 chain over all requests, signed anchors, INSERT-only storage.

Tampering is simulated as an administrator would do it (triggers dropped, rows edited or deleted)
and must be caught both by the API and by `dsar audit verify` (exit 2, one line on stderr).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError

from dsar_pipeline.audit.anchor import anchor_head, sign_anchor
from dsar_pipeline.audit.chain import AuditEventType, AuditPayloadError, new_event
from dsar_pipeline.audit.signing import LocalKeySigner, key_fingerprint, public_key_pem
from dsar_pipeline.audit.trail import AUDIT_TABLES, AuditTrail, verify_evidence
from dsar_pipeline.cli import main as dsar_main
from tests.conftest import PG_URL, requires_postgres

REQUEST = "r-0123456789abcdefghjkmnpqrs"
OTHER = "r-zyxwvtsrqpnmkjhgfedcba9876"
T0 = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


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


def fill_interleaved(trail: AuditTrail) -> None:
    """Both requests' events alternate in the one chain: REQUEST holds odd seqs 1..9, OTHER even ones."""
    for index in range(5):
        for request_id in (REQUEST, OTHER):
            trail.append(request_id, AuditEventType.REVIEWED, {"step": index},
                         occurred_at=T0 + timedelta(minutes=index))


@pytest.fixture
def signer(tmp_path) -> LocalKeySigner:
    return LocalKeySigner(tmp_path / "keys" / "audit-signing-key.pem")


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    audit = AuditTrail(f"sqlite:///{tmp_path}/audit.sqlite3")
    fill_interleaved(audit)
    return audit


def admin_sql(audit: AuditTrail, *statements: str, **params: object) -> None:
    """An administrator with database access: drop the append-only triggers, then edit."""
    with audit.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all():
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            for table in AUDIT_TABLES:
                conn.execute(text(f"ALTER TABLE {table.name} DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement), {"rid": REQUEST, **params})


def rewrite_from(audit: AuditTrail, seq: int, payload: str) -> None:
    """The keyless chain's weakness, exploited: edit one payload and recompute every later hash."""
    events = list(audit.iter_events())
    prev = events[seq - 2].hash if seq > 1 else "0" * 64
    request_hashes: dict[str, str] = {}
    for stored in events:
        if stored.seq < seq:
            request_hashes[stored.request_id] = stored.hash
            continue
        forged = new_event(seq=stored.seq, prev_hash=prev, request_id=stored.request_id,
                           request_seq=stored.request_seq,
                           request_prev_hash=request_hashes.get(stored.request_id, "0" * 64),
                           event_type=stored.event_type, occurred_at=stored.occurred_at,
                           payload=payload if stored.seq == seq else stored.payload)
        admin_sql(audit, "UPDATE dsar_audit_log SET payload = :p, prev_hash = :ph, request_prev_hash = :rph, "
                         "hash = :h WHERE seq = :seq", p=forged.payload, ph=forged.prev_hash,
                  rph=forged.request_prev_hash, h=forged.hash, seq=stored.seq)
        prev = request_hashes[stored.request_id] = forged.hash


@pytest.fixture
def cli_env(tmp_path, monkeypatch, trail, signer) -> Path:
    """`dsar audit` against the test trail: only the database URL and the signing key file are set."""
    for name in list(os.environ):
        if name.startswith("DSAR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DSAR_AUDIT_DATABASE_URL", str(trail.engine.url))
    monkeypatch.setenv("DSAR_AUDIT_SIGNING_KEY_FILE", str(signer.path))
    public = tmp_path / "audit-public.pem"
    public.write_text(public_key_pem(signer.public_key()))
    return public


def run_verify(capsys, *extra: str) -> tuple[int, str, str]:
    status = dsar_main(["audit", "verify", *extra])
    out, err = capsys.readouterr()
    return status, out, err


def assert_broken(capsys, fragment: str) -> None:
    status, out, err = run_verify(capsys)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("audit chain broken at event"), err
    assert fragment in err, err
    status, out, _ = run_verify(capsys, "--json")
    report = json.loads(out)
    assert status == 2 and report["ok"] is False and fragment in report["problem"]


# ------------------------------------------------------------------------------------------ chain
def test_intact_chain_verifies(trail, signer):
    result = trail.verify_chain(REQUEST)
    assert result.ok and result.events == 5 and result.problem is None
    assert result.head_hash == trail.events(REQUEST)[-1].hash
    assert trail.request_ids() == sorted([REQUEST, OTHER])
    whole = trail.verify([signer.public_key()])
    assert whole.ok and whole.events == 10 and whole.requests == 2 and whole.anchors["latest_seq"] is None


def test_one_chain_links_every_request(trail):
    events = list(trail.iter_events())
    assert [e.seq for e in events] == list(range(1, 11))
    assert [e.request_id for e in events[:2]] == [REQUEST, OTHER]
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert [e.request_seq for e in trail.events(OTHER)] == [1, 2, 3, 4, 5]
    assert trail.events(OTHER)[1].request_prev_hash == trail.events(OTHER)[0].hash


def test_empty_chain_is_ok(tmp_path, signer):
    audit = AuditTrail(f"sqlite:///{tmp_path}/a.sqlite3")
    result = audit.verify_chain(REQUEST)
    assert result.ok and result.events == 0 and result.head_hash is None
    assert audit.head() == (0, "0" * 64)
    anchor = anchor_head(audit, None, None, signer)
    assert anchor.seq == 0 and audit.verify([signer.public_key()]).ok


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", '{"step":7}'),
        ("event_type", "rejected"),
        ("occurred_at", "2026-03-01T09:15:00.000000Z"),
        ("hash", "0" * 64),
        ("prev_hash", "1" * 64),
        ("request_prev_hash", "2" * 64),
        ("request_seq", 9),
        ("request_id", "r-aaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ],
)
@pytest.mark.parametrize("seq", [1, 5, 9])
def test_editing_any_column_of_any_event_is_detected(trail, signer, column, value, seq):
    admin_sql(trail, f"UPDATE dsar_audit_log SET {column} = :value WHERE seq = :seq",  # noqa: S608
              value=value, seq=seq)
    if (column, seq) != ("request_id", 9):
        assert not trail.verify_chain(REQUEST).ok
    # else: relabeling a request's LAST event as another request's leaves no trace in the cheap
    # per-request check (no hole, no broken link around its own events); the full walk sees it.
    whole = trail.verify([signer.public_key()])
    assert not whole.ok and whole.problem.startswith("audit chain broken at event")


def test_edited_payload_is_detected_by_the_cli(trail, cli_env, capsys):
    admin_sql(trail, "UPDATE dsar_audit_log SET payload = :p WHERE seq = 3", p='{"step":7}')
    assert "event 3" in (trail.verify_chain(REQUEST).problem or "")
    assert_broken(capsys, "event 3: event 2 of r-0123456789abcdefghjkmnpqrs was altered")


def test_deleting_a_middle_event_of_one_request_is_detected(trail, cli_env, capsys):
    admin_sql(trail, "DELETE FROM dsar_audit_log WHERE seq = 5")
    assert "missing" in (trail.verify_chain(REQUEST).problem or "")
    assert not trail.verify_chain(OTHER).ok  # a hole in the one chain: no request's trail can be vouched for
    assert_broken(capsys, "event 5: event is missing")


def test_deleting_a_whole_request_is_detected(trail, cli_env, capsys):
    admin_sql(trail, "DELETE FROM dsar_audit_log WHERE request_id = :rid")
    assert trail.request_ids() == [OTHER]
    assert not trail.verify_chain(OTHER).ok
    assert_broken(capsys, "event 1: event is missing")


def test_cutting_the_tail_after_an_anchor_is_detected(trail, signer, cli_env, capsys):
    anchor_head(trail, None, None, signer)
    trail.append(REQUEST, "delivered", {"size": 1})
    admin_sql(trail, "DELETE FROM dsar_audit_log WHERE seq >= 9")
    assert "cut off" in (trail.verify_chain(OTHER).problem or "")
    assert_broken(capsys, "event 9: the chain ends at event 8")


def test_cutting_only_unanchored_events_is_not_detectable(trail, signer, cli_env, capsys):
    """The honest limit: events after the newest anchor are only as safe as the database."""
    anchor_head(trail, None, None, signer)
    trail.append(REQUEST, "delivered", {"size": 1})
    admin_sql(trail, "DELETE FROM dsar_audit_log WHERE seq = 11")
    assert trail.verify([signer.public_key()]).ok
    assert run_verify(capsys)[0] == 0


def test_reordering_events_is_detected(trail, cli_env, capsys):
    admin_sql(trail, "UPDATE dsar_audit_log SET seq = -1 WHERE seq = 3",
              "UPDATE dsar_audit_log SET seq = 3 WHERE seq = 5",
              "UPDATE dsar_audit_log SET seq = 5 WHERE seq = -1")
    assert not trail.verify_chain(REQUEST).ok
    assert_broken(capsys, "event 3:")


def test_rewriting_the_chain_is_caught_by_the_signed_anchor_only(trail, signer, cli_env, capsys):
    rewrite_from(trail, 3, '{"step":7}')
    assert trail.verify([signer.public_key()]).ok  # without an anchor, a consistent rewrite is invisible
    admin_sql(trail, "DELETE FROM dsar_audit_log")
    fill_interleaved(trail)
    anchor_head(trail, None, None, signer)
    rewrite_from(trail, 3, '{"step":7}')
    assert "signed anchor" in (trail.verify_chain(REQUEST).problem or "")
    assert_broken(capsys, "event 10: event does not match the signed anchor")


def test_forged_anchors_are_refused(trail, signer, tmp_path, cli_env, capsys):
    anchor_head(trail, None, None, signer)
    intruder = LocalKeySigner(tmp_path / "intruder.pem")
    trail.record_anchor(sign_anchor(10, trail.head()[1], intruder))
    result = trail.verify([signer.public_key()])
    assert not result.ok and "unknown key" in (result.problem or "")
    status, _, err = run_verify(capsys, "--public-key", str(cli_env))
    assert status == 2 and len(err.splitlines()) == 1 and "unknown key" in err
    both = tmp_path / "both.pem"
    both.write_text(cli_env.read_text() + public_key_pem(intruder.public_key()))
    assert run_verify(capsys, "--public-key", str(both))[0] == 0  # a second published key (rotation) is fine
    genuine = sign_anchor(10, "f" * 64, signer)
    trail.record_anchor(genuine.__class__(**{**genuine.to_dict(), "head_hash": trail.head()[1]}))
    status, _, err = run_verify(capsys, "--public-key", str(both))
    assert status == 2 and len(err.splitlines()) == 1 and "invalid signature" in err


def test_database_refuses_update_and_delete_on_every_audit_table(trail, signer):
    anchor_head(trail, None, None, signer)
    trail.claim_container("enefit-ee", "ab" * 32, REQUEST)
    for table in ("dsar_audit_log", "dsar_audit_anchors", "dsar_audit_container_claims"):
        column = "seq" if table == "dsar_audit_anchors" else "request_id"
        for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):  # noqa: S608
            with pytest.raises(DBAPIError, match="append-only"), trail.engine.begin() as conn:
                conn.execute(text(statement))
    assert trail.verify([signer.public_key()]).ok


def _concurrent_appends(audit: AuditTrail, workers: int = 4, each: int = 10) -> None:
    def work(worker: int) -> None:
        for n in range(each):
            audit.append(REQUEST if worker % 2 else OTHER, AuditEventType.REVIEWED, {"worker": worker, "n": n})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def append_in_process(url: str, search_path: str | None, worker: int, each: int) -> int:
    """Runs in a spawned process: its own engine, its own appends."""
    args = {"connect_args": {"options": f"-csearch_path={search_path}"}} if search_path else {}
    audit = AuditTrail(create_engine(url, **args), create_tables=False)
    for n in range(each):
        audit.append(REQUEST, AuditEventType.REVIEWED, {"worker": worker, "n": n})
    return each


def _process_appends(url: str, search_path: str | None = None, workers: int = 3, each: int = 10) -> None:
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        assert sum(pool.map(append_in_process, [url] * workers, [search_path] * workers, range(workers),
                            [each] * workers)) == workers * each


def test_concurrent_appends_keep_one_chain(tmp_path, signer):
    audit = AuditTrail(f"sqlite:///{tmp_path}/c.sqlite3")
    _concurrent_appends(audit)
    _process_appends(str(audit.engine.url))
    assert audit.verify_chain(REQUEST).ok and audit.verify_chain(OTHER).ok
    result = audit.verify([signer.public_key()])
    assert result.ok and result.events == 70


# ------------------------------------------------------------------------------------------ payloads
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


def test_stored_rows_contain_no_personal_values(tmp_path):
    audit = AuditTrail(f"sqlite:///{tmp_path}/p.sqlite3")
    fill(audit)
    with audit.engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM dsar_audit_log")).all())
    for value in ("38001085718", "@", "+372", "Mari"):
        assert value not in dump


# ------------------------------------------------------------------------------------------ evidence
def test_export_evidence_and_verify_it_with_the_public_key_only(tmp_path, signer):
    audit = AuditTrail(f"sqlite:///{tmp_path}/e.sqlite3")
    fill(audit)
    fill(audit, OTHER)
    audit.append(REQUEST, "delivered", {"size": 10})
    anchor_head(audit, None, None, signer)
    evidence = audit.export_evidence(REQUEST)
    lines = [json.loads(line) for line in evidence.splitlines()]
    assert [line["type"] for line in lines] == ["event"] * 5 + ["link"] * 5 + ["event", "chain_head"]
    assert "payload" not in lines[5] and lines[-1]["anchor"]["seq"] == 11
    assert lines[-1]["head_hash"] == audit.events(REQUEST)[-1].hash and lines[-1]["chain_ok"]
    assert lines[2]["payload"]["systems"]["billing"]["records"] == 42
    pem = public_key_pem(signer.public_key()).encode()
    assert verify_evidence(evidence, pem).ok
    tampered = evidence.replace('"records": 42', '"records": 41')
    assert tampered != evidence and not verify_evidence(tampered, pem).ok
    cut = "\n".join([*evidence.splitlines()[:3], *evidence.splitlines()[4:]])
    assert "missing" in (verify_evidence(cut, pem).problem or "")
    other_key = LocalKeySigner(tmp_path / "other.pem").public_key()
    assert "unknown key" in (verify_evidence(evidence, [other_key]).problem or "")


def test_evidence_without_an_anchor_is_not_proof(tmp_path, signer):
    audit = AuditTrail(f"sqlite:///{tmp_path}/n.sqlite3")
    fill(audit)
    result = verify_evidence(audit.export_evidence(REQUEST), [signer.public_key()])
    assert not result.ok and "not covered by a signed anchor" in (result.problem or "")


# ------------------------------------------------------------------------------------------ replay registry
def test_claim_container_is_idempotent_and_names_the_first_claimant(trail):
    digest = "cd" * 32
    assert trail.claim_container("enefit-ee", digest, REQUEST) is None
    assert trail.claim_container("enefit-ee", digest, REQUEST) is None
    assert trail.claim_container("enefit-ee", digest, OTHER) == REQUEST
    assert trail.claim_container("enefit-lv", digest, OTHER) is None  # another controller's registry
    assert len(list(trail.iter_events())) == 10  # claiming appends nothing
    for bad in (("Enefit EE", digest, OTHER), ("enefit-ee", "CD" * 32, OTHER), ("enefit-ee", digest, "38001085718")):
        with pytest.raises(AuditPayloadError):
            trail.claim_container(*bad)


def test_concurrent_claims_have_one_winner(trail):
    digest = "ef" * 32
    claimants = [f"r-{n:026d}" for n in range(8)]
    answers: dict[str, str | None] = {}

    def claim(request_id: str) -> None:
        answers[request_id] = trail.claim_container("set-lv", digest, request_id)

    threads = [threading.Thread(target=claim, args=(rid,)) for rid in claimants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [rid for rid, earlier in answers.items() if earlier is None]
    assert len(winners) == 1
    assert all(earlier == winners[0] for rid, earlier in answers.items() if rid != winners[0])


# ------------------------------------------------------------------------------------------ the CLI
def test_cli_verify_intact_and_public_key(trail, signer, cli_env, capsys):
    anchor_head(trail, None, None, signer)
    status, out, err = run_verify(capsys)
    assert status == 0 and err == "" and out.startswith("audit trail intact: 10 events, 2 requests")
    status, out, _ = run_verify(capsys, "--json")
    report = json.loads(out)
    assert status == 0 and report["ok"] and report["problem"] is None
    assert (report["events"], report["requests"]) == (10, 2)
    assert report["anchors"]["database"] == 1 and report["anchors"]["bucket_status"] == "not configured"
    assert dsar_main(["audit", "public-key"]) == 0
    out, err = capsys.readouterr()
    assert out == public_key_pem(signer.public_key()) and key_fingerprint(signer.public_key()) in err


def test_cli_auditor_needs_only_the_public_key(trail, signer, cli_env, capsys, monkeypatch):
    anchor_head(trail, None, None, signer)
    monkeypatch.delenv("DSAR_AUDIT_SIGNING_KEY_FILE")
    assert run_verify(capsys, "--public-key", str(cli_env))[0] == 0
    status, _, err = run_verify(capsys)  # no key at all: the anchor's signature cannot be checked
    assert status == 2 and "unknown key" in err and len(err.splitlines()) == 1


def test_cli_failures_are_one_line_without_traceback(tmp_path, trail):
    admin_sql(trail, "DELETE FROM dsar_audit_log WHERE seq = 4")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env |= {"DAGSTER_HOME": str(tmp_path / "home"), "DSAR_AUDIT_DATABASE_URL": str(trail.engine.url)}
    for argv, fragment in ((["verify"], "audit chain broken at event 4: event is missing"),
                           (["verify", "--database-url", f"sqlite:///{tmp_path}/none.sqlite3"], "does not exist")):
        done = subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "audit", *argv], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and fragment in done.stderr, done.stderr


# ------------------------------------------------------------------------------------------ PostgreSQL
@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    schema = f"intake_audit_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - environment without the test database
        pytest.skip(f"PostgreSQL test database unavailable: {type(exc).__name__}")
    try:
        yield PG_URL, schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _pg_engine(url: str, schema: str, role: str | None = None):
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    if role:
        @event.listens_for(engine, "connect")
        def _become(dbapi_connection, _record) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET ROLE {role}")
            dbapi_connection.commit()
    return engine


@pytest.mark.postgres
@requires_postgres
def test_postgresql_backend(pg_schema, signer):
    url, schema = pg_schema
    audit = AuditTrail(_pg_engine(url, schema))
    fill(audit)
    assert audit.verify_chain(REQUEST).ok
    _concurrent_appends(audit, workers=4, each=5)
    _process_appends(url, schema, workers=3, each=5)
    assert audit.verify_chain(REQUEST).events == 5 + 10 + 15
    anchor_head(audit, None, None, signer)
    assert audit.verify([signer.public_key()]).ok
    for statement in ("UPDATE dsar_audit_log SET payload = '{}'", "DELETE FROM dsar_audit_log",
                      "TRUNCATE dsar_audit_log", "TRUNCATE dsar_audit_anchors"):
        with pytest.raises(DBAPIError, match="append-only"), audit.engine.begin() as conn:
            conn.execute(text(statement))
    admin_sql(audit, "UPDATE dsar_audit_log SET payload = '{}' WHERE seq = 2")
    assert "event 2" in (audit.verify_chain(REQUEST).problem or "")
    assert "event 2" in (audit.verify([signer.public_key()]).problem or "")
    audit.engine.dispose()


@pytest.mark.postgres
@requires_postgres
def test_postgresql_writer_role_can_only_insert_and_select(pg_schema, signer):
    url, schema = pg_schema
    role = f"dsar_audit_writer_{uuid.uuid4().hex[:8]}"
    owner = _pg_engine(url, schema)
    AuditTrail(owner)  # the owner (a migration role) creates the tables; the pipeline cannot
    with owner.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
        conn.execute(text(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {schema} TO {role}"))
        conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))
    writer = _pg_engine(url, schema, role)
    try:
        audit = AuditTrail(writer)
        with writer.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role
        fill(audit)
        _concurrent_appends(audit, workers=3, each=3)
        anchor_head(audit, None, None, signer)
        assert audit.claim_container("enefit-ee", "ab" * 32, REQUEST) is None
        assert audit.claim_container("enefit-ee", "ab" * 32, OTHER) == REQUEST
        for table in AUDIT_TABLES:
            column = "seq" if table.name == "dsar_audit_anchors" else "request_id"
            for statement in (f"UPDATE {table.name} SET {column} = {column}",  # noqa: S608
                              f"DELETE FROM {table.name}", f"TRUNCATE {table.name}"):  # noqa: S608
                with pytest.raises(DBAPIError, match="permission denied"), writer.begin() as conn:
                    conn.execute(text(statement))
        result = audit.verify([signer.public_key()])
        assert result.ok and result.events == 14 and result.anchors["database"] == 1
    finally:
        writer.dispose()
        with owner.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


def test_another_trails_anchors_in_the_bucket_are_counted_not_judged(trail, signer, tmp_path):
    """A bucket shared with another environment holds anchors under another key: they cannot speak for
    this trail (and cannot hide anything: ours are all still checked), so they are only counted."""
    ours = anchor_head(trail, None, None, signer)
    other = sign_anchor(99, "f" * 64, LocalKeySigner(tmp_path / "staging.pem"))
    result = trail.verify([signer.public_key()], bucket_anchors=[(other, True), (ours, True)], bucket_status="checked")
    assert result.ok and result.anchors["bucket_other_keys"] == 1
    forged = dataclasses.replace(ours, head_hash="0" * 64)
    broken = trail.verify([signer.public_key()], bucket_anchors=[(forged, True)], bucket_status="checked")
    assert not broken.ok
    unchecked = trail.verify([], bucket_anchors=[(ours, True)], bucket_status="checked")
    assert not unchecked.ok  # nothing to judge with: never "intact"
