"""The billing database over real SQL: its schema and data on SQLite and PostgreSQL, and its faults.

PostgreSQL tests use their own schema (not `billing`) so they never disturb a running sandbox; they
skip, saying why, when the server at 127.0.0.1:5432 is unreachable. Faults are exercised with real
clients: psycopg and SQLAlchemy through the wire proxy, sqlite3 through SQLAlchemy on the file.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from sandbox.billing import schema as billing_schema
from sandbox.billing.proxy import BillingProxy
from sandbox.billing.schema import TABLES
from sandbox.billing.seed import BillingUrlError, seed_database
from sandbox.billing.sqlite_faults import SqliteFaults, sqlite_fault_error, unsupported_sqlite_faults
from sandbox.faults import FaultBoard, parse_spec
from sandbox.population import Population, generate

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_HOST, PG_PORT = "127.0.0.1", 5432
TEST_SCHEMA = f"billing_test_{os.getpid()}"


# -- fixtures ---------------------------------------------------------------------------------------


@dataclass
class Db:
    backend: str
    url: str
    engine: sa.Engine


def _postgres_unreachable() -> str | None:
    try:
        psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", connect_timeout=2).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} (user postgres, db test) is unreachable: {exc}".splitlines()[0]
    return None


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(size=60)


@pytest.fixture(scope="module")
def sqlite_db(population: Population, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    # A folder name with a space and '#' proves the returned URL survives both SQLAlchemy and SQLite decoding.
    path = tmp_path_factory.mktemp("billing") / "state dir #1" / "billing.sqlite3"
    url = seed_database(population, None, path)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    yield Db("sqlite", url, engine)
    engine.dispose()


@pytest.fixture(scope="module")
def pg_db(population: Population) -> Iterator[Db]:
    reason = _postgres_unreachable()
    if reason:
        pytest.skip(reason)
    url = seed_database(population, PG_URL, Path("unused"), schema=TEST_SCHEMA)
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 5})
    yield Db("postgresql", url, engine)
    engine.dispose()
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test", autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {TEST_SCHEMA} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Db:
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


@pytest.fixture
def board() -> FaultBoard:
    return FaultBoard(seed=1)


@pytest.fixture
def proxy(pg_db: Db, board: FaultBoard) -> Iterator[BillingProxy]:
    proxy = BillingProxy(PG_HOST, PG_PORT, board)
    proxy.start()
    yield proxy
    proxy.stop()


def connect(proxy: BillingProxy, timeout: float = 5, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection through the proxy, with a connect timeout and the test schema on the path."""
    return psycopg.connect(host=proxy.host, port=proxy.port, user="postgres", dbname="test",
                           connect_timeout=max(1, round(timeout)), autocommit=True,
                           options=f"-csearch_path={TEST_SCHEMA}", **kwargs)


def set_faults(board: FaultBoard, spec: str) -> None:
    board.replace(parse_spec(spec))


def in_thread(work: Callable[[], Any]) -> tuple[threading.Event, dict[str, Any]]:
    """Run `work` in a thread; the event is set when it finished, with its result or error in the dict."""
    done, outcome = threading.Event(), {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, outcome


# -- helpers ---------------------------------------------------------------------------------------


def normalise(table: sa.Table, row: sa.Row[Any]) -> tuple[Any, ...]:
    """One backend-neutral form of a row: SQLite keeps text dates and REAL money, PostgreSQL typed values."""
    out: list[Any] = []
    for column, value in zip(table.columns, row, strict=True):
        kind = type(column.type)
        if value is None:
            out.append(None)
        elif kind is sa.Numeric:
            out.append(round(float(value), 4))
        elif kind is sa.DateTime:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
            out.append((moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat())
        elif kind is sa.Date:
            out.append((date.fromisoformat(value) if isinstance(value, str) else value).isoformat())
        elif kind is sa.Boolean:
            out.append(bool(value))
        else:
            out.append(value)
    return tuple(out)


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {table.name: [normalise(table, row) for row in conn.execute(sa.text(
            f"SELECT {', '.join(c.name for c in table.columns)} FROM {table.name} ORDER BY id"))]  # noqa: S608
            for table in TABLES}


# -- schema ----------------------------------------------------------------------------------------


def test_every_table_and_column_is_documented() -> None:
    doc = billing_schema.__doc__ or ""
    for table in TABLES:
        assert table.comment, table.name
        heading = f"``{table.name}`` —"
        assert heading in doc, f"{table.name} missing from the schema docstring"
        section = doc.split(heading, 1)[1].split("\n``", 1)[0]
        for column in table.columns:
            assert column.comment, f"{table.name}.{column.name} has no comment"
            assert re.search(rf"\b{column.name}\b", section), f"{table.name}.{column.name} missing from the docstring"


@pytest.mark.postgres
def test_postgresql_schema_carries_comments_keys_and_lookup_indexes(pg_db: Db) -> None:
    with pg_db.engine.connect() as conn:
        comments = conn.execute(sa.text(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relkind = 'r'"),
            {"schema": TEST_SCHEMA}).all()
        column_comments = conn.execute(sa.text(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = :schema "
            "AND col_description((table_schema || '.' || table_name)::regclass, ordinal_position) IS NULL"),
            {"schema": TEST_SCHEMA}).scalar()
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = :schema"),
                                   {"schema": TEST_SCHEMA}).scalars())
        foreign_keys = set(conn.execute(sa.text(
            "SELECT constraint_name FROM information_schema.table_constraints "
            "WHERE table_schema = :schema AND constraint_type = 'FOREIGN KEY'"), {"schema": TEST_SCHEMA}).scalars())
    assert {name for name, comment in comments if comment} == {t.name for t in TABLES}
    assert column_comments == 0
    assert foreign_keys == {fk.name for table in TABLES for fk in table.foreign_key_constraints}
    assert len(foreign_keys) == 12
    assert {"ix_customers_personal_code", "ix_contacts_email_lower", "ix_contacts_phone", "ix_metering_points_eic",
            "ix_invoices_customer_id", "ix_contracts_customer_id"} <= indexes


# -- data ------------------------------------------------------------------------------------------


def test_row_counts_equal_the_population(db: Db, population: Population) -> None:
    with db.engine.connect() as conn:
        for table in TABLES:
            count = conn.execute(sa.text(f"SELECT count(*) FROM {table.name}")).scalar()  # noqa: S608
            assert count == len(getattr(population, table.name)), table.name
    assert len(population.invoices) > 0 and len(population.debts) > 0


def test_demo_person_by_personal_code(db: Db, population: Population) -> None:
    demo = population.case("demo")
    with db.engine.connect() as conn:
        customers = conn.execute(sa.text(
            "SELECT id, first_name, last_name, kind FROM customers WHERE personal_code = :code"),
            {"code": demo.personal_code}).all()
        assert [(c.first_name, c.last_name, c.kind) for c in customers] == [(demo.first_name, demo.last_name,
                                                                            "private")]
        customer_id = customers[0].id
        contacts = conn.execute(sa.text("SELECT kind, value FROM contacts WHERE customer_id = :id"),
                                {"id": customer_id}).all()
        contracts = conn.execute(sa.text("SELECT id, status FROM contracts WHERE customer_id = :id"),
                                 {"id": customer_id}).all()
        meters = conn.execute(sa.text(
            "SELECT m.eic, m.has_production FROM metering_points m JOIN contracts c ON c.id = m.contract_id "
            "WHERE c.customer_id = :id ORDER BY m.id"), {"id": customer_id}).all()
        invoices = conn.execute(sa.text("SELECT count(*), sum(total_eur) FROM invoices WHERE customer_id = :id"),
                                {"id": customer_id}).one()
    assert set(contacts) == {("email", demo.email), ("phone", demo.phone), ("address", demo.address)}
    assert [c.status for c in contracts] == ["active"]
    expected_meters = population.meters_of(customer_id)
    assert [(m.eic, bool(m.has_production)) for m in meters] == [(m.eic, m.has_production) for m in expected_meters]
    assert len(meters) == 2
    expected_invoices = [i for i in population.invoices if i.customer_id == customer_id]
    assert invoices[0] == len(expected_invoices) >= 36
    assert float(invoices[1]) == pytest.approx(sum(i.total_eur for i in expected_invoices))


def test_email_lookup_is_case_insensitive_and_indexed(db: Db, population: Population) -> None:
    demo = population.case("demo")
    assert demo.email
    query = "SELECT customer_id FROM contacts WHERE kind = 'email' AND lower(value) = lower(:email)"
    with db.engine.connect() as conn:
        found = conn.execute(sa.text(query), {"email": demo.email.upper()}).scalars().all()
        if db.backend == "postgresql":
            conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {query}"), {"email": demo.email}).scalars())
        else:
            plan = "\n".join(str(row[-1]) for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {query}"),
                                                                   {"email": demo.email}))
    assert found == [population.customer_of(demo.key)[0].id]
    assert "ix_contacts_email_lower" in plan


def test_phone_and_eic_lookups(db: Db, population: Population) -> None:
    household_a, household_b = population.case("household-a"), population.case("household-b")
    assert household_a.phone == household_b.phone
    demo_customer = population.customer_of(population.case("demo").key)[0]
    eic = population.meters_of(demo_customer.id)[1].eic
    with db.engine.connect() as conn:
        by_phone = conn.execute(sa.text(
            "SELECT c.personal_code FROM contacts k JOIN customers c ON c.id = k.customer_id "
            "WHERE k.kind = 'phone' AND k.value = :phone"), {"phone": household_b.phone}).scalars().all()
        by_eic = conn.execute(sa.text(
            "SELECT c.customer_id FROM metering_points m JOIN contracts c ON c.id = m.contract_id WHERE m.eic = :eic"),
            {"eic": eic}).scalars().all()
        hostile = conn.execute(sa.text("SELECT count(*) FROM customers WHERE personal_code = :code"),
                               {"code": "' OR '1'='1"}).scalar()
    # household-b is no billing customer: her phone leads to household-a, a weak match for her.
    assert by_phone == [household_a.personal_code]
    assert by_eic == [demo_customer.id]
    assert hostile == 0


@pytest.mark.postgres
def test_sqlite_and_postgresql_hold_the_same_rows(sqlite_db: Db, pg_db: Db) -> None:
    assert dump(sqlite_db.engine) == dump(pg_db.engine)


def test_same_seed_same_rows_and_a_reload_replaces_everything(tmp_path: Path) -> None:
    first = seed_database(generate(seed=7, size=20), None, tmp_path / "a.sqlite3")
    again = seed_database(generate(seed=7, size=20), None, tmp_path / "b.sqlite3")
    other = seed_database(generate(seed=8, size=20), None, tmp_path / "c.sqlite3")
    engines = [sa.create_engine(url, poolclass=sa.NullPool) for url in (first, again, other)]
    assert dump(engines[0]) == dump(engines[1])
    assert dump(engines[0]) != dump(engines[2])
    # Someone writes into the file; a reload (a sandbox restart) brings back exactly the seeded rows.
    writer = sa.create_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}", poolclass=sa.NullPool)
    with writer.begin() as conn:
        conn.execute(sa.text("DELETE FROM invoice_lines WHERE id < 10"))
    assert dump(engines[0]) != dump(engines[1])
    assert seed_database(generate(seed=7, size=20), None, tmp_path / "a.sqlite3") == first
    assert dump(engines[0]) == dump(engines[1])


@pytest.mark.postgres
def test_postgresql_reload_replaces_everything(pg_db: Db, population: Population) -> None:
    before = dump(pg_db.engine)
    with pg_db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM payments WHERE id < 10"))
        conn.execute(sa.text("CREATE TABLE leftover (id int)"))
    url = seed_database(population, PG_URL, Path("unused"), schema=TEST_SCHEMA)
    assert url == pg_db.url
    assert dump(pg_db.engine) == before
    with pg_db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('leftover')")).scalar() is None


def test_the_sqlite_url_is_read_only(sqlite_db: Db) -> None:
    with pytest.raises(sa.exc.OperationalError, match="readonly"), sqlite_db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM customers"))


def test_bad_urls_and_schema_names_are_refused(population: Population) -> None:
    with pytest.raises(BillingUrlError, match="must be postgresql"):
        seed_database(population, "mysql://root@localhost/billing", Path("unused"))
    with pytest.raises(BillingUrlError, match="identifier"):
        seed_database(population, PG_URL, Path("unused"), schema="billing; DROP SCHEMA public")


@pytest.mark.slow
def test_default_population_loads_completely(tmp_path: Path) -> None:
    """The full default population loads on both back ends (its speed is measured by `make bench`)."""
    population = generate()
    start = time.perf_counter()
    sqlite_url = seed_database(population, None, tmp_path / "billing.sqlite3")
    sqlite_s = time.perf_counter() - start
    print(f"\nbilling load, default population ({len(population.customers)} customers, "
          f"{len(population.invoices)} invoices, {len(population.invoice_lines)} lines, "
          f"{len(population.payments)} payments): SQLite {sqlite_s:.2f} s", end="")
    lite = sa.create_engine(sqlite_url, poolclass=sa.NullPool)
    with lite.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM invoice_lines")).scalar() == len(population.invoice_lines)
    lite.dispose()
    if _postgres_unreachable():
        print("; PostgreSQL unreachable, not measured")
        return
    schema = f"{TEST_SCHEMA}_big"
    start = time.perf_counter()
    url = seed_database(population, PG_URL, Path("unused"), schema=schema)
    pg_s = time.perf_counter() - start
    print(f"; PostgreSQL {pg_s:.2f} s")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM invoice_lines")).scalar() == len(population.invoice_lines)
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


# -- PostgreSQL faults through the proxy -------------------------------------------------------------


@pytest.mark.postgres
def test_proxy_forwards_queries_errors_and_logs_nothing_personal(
        proxy: BillingProxy, pg_db: Db, population: Population, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    demo = population.case("demo")
    url = sa.engine.make_url(pg_db.url).set(host=proxy.host, port=proxy.port)
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT first_name FROM customers WHERE personal_code = :code"),
                                 {"code": demo.personal_code}).scalars().all()
            conn.execute(sa.text("SET statement_timeout = '50ms'"))
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                conn.execute(sa.text("SELECT pg_sleep(2)"))
            conn.rollback()
            assert conn.execute(sa.text("SELECT count(*) FROM invoice_lines")).scalar() == len(population.invoice_lines)
    finally:
        engine.dispose()
    assert names == [demo.first_name]
    assert demo.personal_code not in caplog.text and demo.first_name not in caplog.text


@pytest.mark.postgres
def test_proxy_latency_delays_every_request_until_cleared(proxy: BillingProxy, board: FaultBoard) -> None:
    with connect(proxy) as conn:
        set_faults(board, "billing=latency:0.25")
        start = time.perf_counter()
        conn.execute("SELECT 1")
        conn.execute("SELECT 2")
        assert time.perf_counter() - start >= 0.5
        set_faults(board, "billing=latency:60")
        done, outcome = in_thread(lambda: conn.execute("SELECT 3").fetchone())
        assert not done.wait(0.3)
        board.replace([])  # a fault change ends the wait
        assert done.wait(5) and outcome["result"] == (3,)


@pytest.mark.postgres
def test_proxy_error_kills_the_connection_at_a_query(proxy: BillingProxy, board: FaultBoard, pg_db: Db) -> None:
    set_faults(board, "billing=error:1")
    with connect(proxy) as conn:  # connecting is not affected
        with pytest.raises(psycopg.errors.AdminShutdown) as caught:
            conn.execute("SELECT 1")
        assert caught.value.sqlstate == "57P01"
        assert conn.closed
    url = sa.engine.make_url(pg_db.url).set(host=proxy.host, port=proxy.port)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with pytest.raises(sa.exc.OperationalError) as wrapped, engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert wrapped.value.connection_invalidated
        set_faults(board, "billing=error:0")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_proxy_ratelimit_refuses_bursts_of_connections(proxy: BillingProxy, board: FaultBoard) -> None:
    set_faults(board, "billing=ratelimit:2")
    admitted: list[bool] = []
    for _ in range(13):
        try:
            connect(proxy).close()
            admitted.append(True)
        except psycopg.OperationalError as exc:
            assert "too many clients" in str(exc)
            admitted.append(False)
    assert admitted == [False, False] + [True] * 10 + [False]


@pytest.mark.postgres
def test_proxy_timeout_blocks_new_connections(proxy: BillingProxy, board: FaultBoard) -> None:
    set_faults(board, "billing=timeout:60")
    start = time.perf_counter()
    with pytest.raises(psycopg.OperationalError, match="timeout"):
        connect(proxy, timeout=1)
    assert 0.9 <= time.perf_counter() - start < 5


@pytest.mark.postgres
def test_proxy_timeout_holds_a_query_until_the_faults_change(proxy: BillingProxy, board: FaultBoard) -> None:
    with connect(proxy) as conn:
        set_faults(board, "billing=timeout:60")
        done, outcome = in_thread(lambda: conn.execute("SELECT 42").fetchone())
        assert not done.wait(0.5)
        board.replace([])
        assert done.wait(5) and outcome == {"result": (42,)}


@pytest.mark.postgres
def test_proxy_timeout_closes_the_connection_when_its_time_runs_out(proxy: BillingProxy, board: FaultBoard) -> None:
    with connect(proxy) as conn:
        set_faults(board, "billing=timeout:0.3")
        start = time.perf_counter()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        assert time.perf_counter() - start >= 0.3


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["SELECT 1", "SELECT g, md5(g::text) FROM generate_series(1, 20000) g"])
def test_proxy_truncate_cuts_the_answer_and_closes(proxy: BillingProxy, board: FaultBoard, query: str) -> None:
    with connect(proxy) as conn:
        set_faults(board, "billing=truncate:1")
        with pytest.raises(psycopg.OperationalError):
            conn.execute(query).fetchall()
        assert conn.closed
    set_faults(board, "billing=truncate:0")
    with connect(proxy) as conn:
        assert len(conn.execute(query).fetchall()) in (1, 20000)


@pytest.mark.postgres
def test_proxy_down_refuses_and_drops_connections_then_comes_back(proxy: BillingProxy, board: FaultBoard) -> None:
    with connect(proxy) as conn:
        set_faults(board, "billing=down")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="refused"):
        connect(proxy)
    board.replace([])
    with connect(proxy) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.postgres
def test_proxy_starts_down_and_stays_stopped(pg_db: Db, board: FaultBoard) -> None:
    set_faults(board, "billing=down")
    proxy = BillingProxy(PG_HOST, PG_PORT, board)
    proxy.start()
    try:
        with pytest.raises(psycopg.OperationalError, match="refused"):
            connect(proxy)
        board.replace([])
        with connect(proxy) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        proxy.stop()
    board.replace([])  # a stopped proxy ignores the board: it does not listen again
    with pytest.raises(psycopg.OperationalError, match="refused"):
        connect(proxy)


# -- SQLite faults ---------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(population: Population, tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "billing.sqlite3"
    return path, seed_database(population, None, path)


def count_customers(url: str, busy_timeout: float) -> int:
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"timeout": busy_timeout})
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one())
    finally:
        engine.dispose()


def test_sqlite_down_makes_the_file_unavailable_until_cleared(
        sqlite_file: tuple[Path, str], board: FaultBoard, population: Population) -> None:
    path, url = sqlite_file
    faults = SqliteFaults(path, board)
    set_faults(board, "billing=down")
    with pytest.raises(sa.exc.OperationalError, match="unable to open"):
        count_customers(url, 1)
    assert not path.exists()
    board.replace([])
    assert count_customers(url, 1) == len(population.customers)
    set_faults(board, "billing=down")
    faults.stop()  # stopping puts the file back and stops following the board
    set_faults(board, "billing=down")
    assert count_customers(url, 1) == len(population.customers)


def test_sqlite_timeout_locks_readers_out(sqlite_file: tuple[Path, str], board: FaultBoard,
                                          population: Population) -> None:
    path, url = sqlite_file
    faults = SqliteFaults(path, board)
    try:
        set_faults(board, "billing=timeout")
        start = time.perf_counter()
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            count_customers(url, 0.2)
        assert time.perf_counter() - start >= 0.2
        done, outcome = in_thread(lambda: count_customers(url, 30))
        assert not done.wait(0.3)
        board.replace([])
        assert done.wait(5) and outcome == {"result": len(population.customers)}
    finally:
        faults.stop()


def test_sqlite_applies_faults_already_on_the_board(sqlite_file: tuple[Path, str], board: FaultBoard) -> None:
    path, url = sqlite_file
    set_faults(board, "billing=down")
    faults = SqliteFaults(path, board)
    try:
        with pytest.raises(sa.exc.OperationalError):
            count_customers(url, 1)
    finally:
        faults.stop()
    assert path.exists()


def test_unsupported_sqlite_faults_are_named() -> None:
    faults = parse_spec("billing=latency:2,billing=down,volt=error,billing=truncate,billing=timeout,billing=error")
    assert unsupported_sqlite_faults(faults) == ["error", "latency", "truncate"]
    assert unsupported_sqlite_faults(parse_spec("billing=down,billing=timeout,portal=latency")) == []
    message = sqlite_fault_error(faults)
    assert message is not None and "\n" not in message
    assert message.startswith("billing on SQLite supports only down and timeout")
    assert "error, latency, truncate" in message and "--billing-url postgresql://" in message
    assert sqlite_fault_error(parse_spec("billing=down")) is None
