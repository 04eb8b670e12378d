"""A connection to an SQL system we read: timeouts, and retried queries that are one whole attempt each.

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
from sqlalchemy.engine import URL
from sqlalchemy.sql.elements import TextClause

from connectors.errors import PermanentError, TransientError
from connectors.retry import RetryPolicy, call_with_retries
from connectors.sql.deadline import Deadline
from connectors.sql.failures import Limits, classify


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


def postgresql_url(url: URL, timeouts: Timeouts, application_name: str = "dsar-connector") -> URL:
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


class Database:
    """Parameterised reads with retries; counts attempts. Thread-safe (one engine, per-thread deadlines).

    `system` names the system in every failure. A subclass may bring its own deadline and failure sorting
    (`_new_deadline`, `_classify`); the attempt itself is the same everywhere.
    """

    def __init__(self, engine: sa.Engine, timeouts: Timeouts, policy: RetryPolicy, system: str) -> None:
        self.system = system
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
