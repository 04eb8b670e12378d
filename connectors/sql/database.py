"""The billing database connection: engine from the settings URL, timeouts, and retried queries.

One query is one attempt: check a connection out, run the statement, read every row, give the
connection back. Only then are the rows handed on, so a query cut off half-way (a dropped
connection, an answer truncated on the wire) is retried as a whole and never yields part of a
result. Bounds on every attempt:

* PostgreSQL: libpq `connect_timeout`, a server-side `statement_timeout` (added to the URL's libpq
  `options` next to whatever is there — the sandbox's `-csearch_path=…` must survive), read-only
  transactions, and a client-side deadline (`Deadline`) for a server that stops answering;
* SQLite: the busy timeout (a lock held by a writer), `query_only`, and the same client deadline
  (`interrupt()`); a connection per query (`NullPool`) so a vanished file is noticed at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql.elements import TextClause

from connectors.billing.deadline import Deadline
from connectors.billing.failures import Limits, classify
from connectors.errors import PermanentError, TransientError
from connectors.retry import RetryPolicy, call_with_retries

SYSTEM = "billing"


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 5.0
    statement_s: float = 30.0
    sqlite_busy_s: float = 5.0
    deadline_s: float | None = None  # client-side bound of one attempt; derived from the others when None

    @property
    def attempt_deadline_s(self) -> float:
        if self.deadline_s is not None:
            return self.deadline_s
        return self.connect_s + max(self.statement_s, self.sqlite_busy_s) + 2.0

    @property
    def libpq_connect_s(self) -> int:
        """libpq takes whole seconds and treats anything below 2 as 2."""
        return max(2, round(self.connect_s))

    def limits(self) -> Limits:
        return Limits(self.libpq_connect_s, self.statement_s, self.sqlite_busy_s)


def postgresql_url(url: URL, timeouts: Timeouts, application_name: str = "dsar-billing-connector") -> URL:
    """The URL with our timeouts; libpq `options` already present (e.g. `-csearch_path=…`) are kept."""
    existing = url.query.get("options", "")
    if isinstance(existing, tuple):
        existing = " ".join(existing)
    ours = f"-cstatement_timeout={max(1, round(timeouts.statement_s * 1000))} -cdefault_transaction_read_only=on"
    options = " ".join(part for part in (existing.strip(), ours) if part)
    query: dict[str, str] = {
        "options": options,
        "connect_timeout": str(timeouts.libpq_connect_s),
    }
    if "application_name" not in url.query:
        query["application_name"] = application_name
    for name, value in (("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"),
                        ("keepalives_count", "3")):
        if name not in url.query:
            query[name] = value
    return url.set(drivername="postgresql+psycopg").update_query_dict(query)


def create_billing_engine(raw_url: str, timeouts: Timeouts, pool_size: int = 2) -> sa.Engine:
    """An engine for the billing URL (PostgreSQL via psycopg 3, or SQLite); raises ValueError for others."""
    url = make_url(raw_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(url, poolclass=sa.NullPool, hide_parameters=True,
                                  connect_args={"timeout": timeouts.sqlite_busy_s})

        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            # The database is a replica for reading: refuse writes even on a writable file.
            dbapi_connection.execute("PRAGMA query_only = ON")

        return engine
    if backend == "postgresql":
        # Autocommit: each SELECT is its own (read-only) transaction, so a query is one round trip, not
        # BEGIN + SELECT + ROLLBACK — fewer requests to lose on a flaky link. No hstore: we never use it,
        # and looking it up would cost a query on the first connection.
        return sa.create_engine(postgresql_url(url, timeouts), pool_size=pool_size, max_overflow=pool_size,
                                pool_timeout=timeouts.connect_s, pool_pre_ping=True, pool_recycle=600,
                                isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True,
                                use_native_hstore=False, hide_parameters=True)
    raise ValueError(f"billing database URL must be postgresql://… or sqlite://…, not {backend}://")


class Database:
    """Parameterised reads with retries; counts attempts. Thread-safe (one engine, per-thread deadlines).

    A subclass for another SQL system names itself (`system`) and may bring its own deadline and failure
    sorting (`_new_deadline`, `_classify`); the attempt itself is the same everywhere.
    """

    system = SYSTEM

    def __init__(self, engine: sa.Engine, timeouts: Timeouts, policy: RetryPolicy) -> None:
        self.engine = engine
        self.timeouts = timeouts
        self.policy = policy
        self.attempts = 0
        self._count_lock = threading.Lock()
        self._local = threading.local()
        self._guard_pre_ping()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def fetch(self, operation: str, statement: TextClause, params: Mapping[str, Any]) -> Sequence[sa.Row[Any]]:
        """All rows of one statement, or a ConnectorError naming `operation` (a table, never a value)."""
        return call_with_retries(self.system, operation, lambda: self._attempt(statement, params), self.policy)

    def close(self) -> None:
        self.engine.dispose()

    def _new_deadline(self, seconds: float) -> Any:
        return Deadline(seconds)

    def _classify(self, exc: sa.exc.SQLAlchemyError, phase: str, deadline: Any) -> TransientError | PermanentError:
        return classify(exc, phase, self.timeouts.limits(), deadline.seconds, deadline.fired)

    def _attempt(self, statement: TextClause, params: Mapping[str, Any]) -> Sequence[sa.Row[Any]]:
        with self._count_lock:
            self.attempts += 1
        phase = "connect"
        deadline = self._new_deadline(self.timeouts.attempt_deadline_s)
        failure: TransientError | PermanentError | None = None
        with deadline:
            self._local.deadline = deadline
            try:
                with self.engine.connect() as conn:
                    phase = "query"
                    deadline.watch(conn.connection.dbapi_connection)
                    rows = conn.execute(statement, dict(params)).all()
            except sa.exc.SQLAlchemyError as exc:
                failure = self._classify(exc, phase, deadline)
            finally:
                self._local.deadline = None
        if failure is not None:
            # Raised outside the `except` so the driver's exception (its message may quote values)
            # is not chained onto ours.
            raise failure
        return rows

    def _guard_pre_ping(self) -> None:
        """Bring the pool's pre-ping under the attempt's deadline.

        `pool_pre_ping` pings a pooled connection before any checkout hook runs; on a server that has
        stopped answering the ping would wait for ever. The ping is a method of our engine's own
        dialect, so it is wrapped here to register the connection with the current deadline first.
        """
        dialect = self.engine.dialect
        ping = dialect.do_ping

        def guarded_ping(dbapi_connection: Any) -> bool:
            deadline: Deadline | None = getattr(self._local, "deadline", None)
            if deadline is not None:
                deadline.watch(dbapi_connection)
            return ping(dbapi_connection)

        dialect.do_ping = guarded_ping  # type: ignore[method-assign]
