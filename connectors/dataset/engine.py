"""The database behind a dataset: an engine for PostgreSQL, MariaDB/MySQL or SQLite, with bounds.

The shared connection layer (`connectors.sql.database`) is used for what it already does well —
a retried query is one whole attempt, a client-side deadline, value-free failure causes — and
extended here with MariaDB/MySQL (PyMySQL): connect/read/write timeouts in the driver, a server-side
statement time limit and a read-only session. Failures are named with the dataset's system, never
with a value: the URL (it may carry a password) and SQL parameters never reach a message.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from connectors.dataset.failures import classify
from connectors.dataset.watchdog import SharedDeadline as Deadline
from connectors.errors import PermanentError, TransientError
from connectors.sql.database import Database, Timeouts, postgresql_url

BACKENDS = ("postgresql", "mysql", "mariadb", "sqlite")


class UnsupportedUrl(ValueError):
    """The URL names a back end this connector does not read; the message names only the scheme."""


def create_dataset_engine(raw_url: str, timeouts: Timeouts, system: str, pool_size: int = 2) -> sa.Engine:
    try:
        url = make_url(raw_url)
    except sa.exc.ArgumentError:
        raise UnsupportedUrl("the database URL is not an SQLAlchemy URL (postgresql://, mysql+pymysql://, "
                             "sqlite:///…)") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:") and not Path(database).is_file():
            raise UnsupportedUrl("the SQLite database file does not exist")  # opening it would create it
        engine = sa.create_engine(url, poolclass=sa.NullPool, hide_parameters=True,
                                  connect_args={"timeout": timeouts.sqlite_busy_s})

        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA query_only = ON")

        return engine
    if backend == "postgresql":
        return sa.create_engine(postgresql_url(url, timeouts, application_name=f"dsar-{system}-connector"),
                                pool_size=pool_size, max_overflow=pool_size, pool_timeout=timeouts.connect_s,
                                pool_pre_ping=True, pool_recycle=600, isolation_level="AUTOCOMMIT",
                                skip_autocommit_rollback=True, use_native_hstore=False, hide_parameters=True)
    if backend in ("mysql", "mariadb"):
        return _mysql_engine(url, timeouts, pool_size)
    raise UnsupportedUrl(f"database URL must be postgresql://, mysql+pymysql:// or sqlite:///…, not {backend}://")


def _mysql_engine(url: sa.URL, timeouts: Timeouts, pool_size: int) -> sa.Engine:
    read_s = max(1, round(timeouts.attempt_deadline_s))
    engine = sa.create_engine(
        url.set(drivername=f"{url.get_backend_name()}+pymysql"), pool_size=pool_size, max_overflow=pool_size,
        pool_timeout=timeouts.connect_s, pool_pre_ping=True, pool_recycle=600, isolation_level="AUTOCOMMIT",
        hide_parameters=True,
        connect_args={"connect_timeout": max(1, round(timeouts.connect_s)), "read_timeout": read_s,
                      "write_timeout": read_s, "charset": "utf8mb4"})
    statement_s = max(1, round(timeouts.statement_s))

    @sa.event.listens_for(engine, "connect")
    def _session(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute("SELECT VERSION()")
            mariadb = "mariadb" in str(cursor.fetchone()[0]).lower()
            with contextlib.suppress(Exception):  # an old server without the limit still answers
                if mariadb:
                    cursor.execute(f"SET SESSION max_statement_time = {statement_s:d}")
                else:
                    cursor.execute(f"SET SESSION max_execution_time = {statement_s * 1000:d}")

    return engine


class DatasetDatabase(Database):
    """The shared retried, bounded reads, with MariaDB/MySQL failures understood and the shared watchdog."""

    def _new_deadline(self, seconds: float) -> Deadline:
        return Deadline(seconds)

    def _classify(self, exc: sa.exc.SQLAlchemyError, phase: str, deadline: Any) -> TransientError | PermanentError:
        return classify(exc, phase, self.timeouts.limits(), deadline.seconds, deadline.fired)
