"""Sort a database failure into "try again" or "give up", and say what happened without any value.

Driver messages may quote values (`invalid input syntax for type integer: "…"`) and SQLAlchemy's
messages quote SQL parameters, so neither is ever repeated: the cause is built from the SQLSTATE
(PostgreSQL), the SQLite error name, the driver's exception class, and the phase (connecting or
querying). Connection failures from libpq carry no SQLSTATE; a few well-known message fragments
are used to classify them, never echoed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from connectors.errors import PermanentError, TransientError, TruncatedPage

# SQLSTATE classes / codes a retry can fix (PostgreSQL appendix A).
TRANSIENT_CODES = {
    "53300": "too many connections",
    "57P01": "connection terminated by the server (administrator command)",
    "57P02": "connection terminated by the server (crash shutdown)",
    "57P03": "the server is not accepting connections yet",
    "57014": "timeout: the server cancelled the query (statement timeout)",
    "55P03": "timeout: lock not available (lock timeout)",
    "40001": "serialization failure",
    "40P01": "deadlock detected",
}
TRANSIENT_CLASSES = {"08": "connection failure", "53": "insufficient resources on the server",
                     "58": "system error on the server"}

# libpq connection failures have no SQLSTATE; these fragments are matched, never repeated.
_REFUSED_FOR_GOOD = ("does not exist", "authentication failed", "no pg_hba.conf entry", "no password supplied",
                     "permission denied", "certificate")


# An established connection that ended in the middle of an answer.
_LOST = ("server closed the connection unexpectedly", "consuming input failed", "lost synchronization",
         "connection is lost", "the connection is closed")


@dataclass(frozen=True)
class Limits:
    """The timeouts in force, so a timeout can be reported with its bound."""

    connect_timeout_s: float
    statement_timeout_s: float
    busy_timeout_s: float


def classify(exc: BaseException, phase: str, limits: Limits, deadline_s: float,
             deadline_fired: bool) -> TransientError | PermanentError:
    """The retry decision and a value-free cause for `exc`, raised while `phase` ("connect" or "query")."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    name = type(orig).__name__
    if name == "ConnectionTimeout":  # psycopg's own: libpq's connect_timeout ran out
        return TransientError(f"timeout: no connection within {limits.connect_timeout_s:g} s")
    if deadline_fired:
        return TransientError(f"timeout: no answer within the client deadline of {deadline_s:g} s")
    if isinstance(exc, sa_exc.TimeoutError):
        return TransientError("timeout: no free connection in the pool")
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if sqlite_name:
        return _sqlite(sqlite_name, limits)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return _sqlstate(sqlstate)
    message = str(orig).lower()
    if phase == "connect" and message.startswith("connection failed"):
        return _connect(message, name)
    if any(fragment in message for fragment in _LOST) or (
            isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated):
        # An answer cut off: on the first connection this happens in the dialect's own set-up queries.
        return TruncatedPage("connection lost before the whole answer arrived")
    if phase == "connect":
        return _connect(message, name)
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return TransientError(f"database operational error ({name})")
    return PermanentError(f"query failed ({name})")


def _sqlstate(sqlstate: str) -> TransientError | PermanentError:
    if sqlstate in TRANSIENT_CODES:
        return TransientError(f"{TRANSIENT_CODES[sqlstate]} (SQLSTATE {sqlstate})")
    if sqlstate[:2] in TRANSIENT_CLASSES:
        return TransientError(f"{TRANSIENT_CLASSES[sqlstate[:2]]} (SQLSTATE {sqlstate})")
    if sqlstate[:2] == "28":
        return PermanentError(f"the server refused our credentials (SQLSTATE {sqlstate})")
    if sqlstate[:2] == "42":
        return PermanentError(f"the database refused the query: schema differs from the documented one "
                              f"(SQLSTATE {sqlstate})")
    return PermanentError(f"query failed (SQLSTATE {sqlstate})")


def _sqlite(name: str, limits: Limits) -> TransientError | PermanentError:
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or name.startswith("SQLITE_BUSY_"):
        return TransientError(f"timeout: database locked for longer than the busy timeout of "
                              f"{limits.busy_timeout_s:g} s ({name})")
    if name == "SQLITE_CANTOPEN" or name.startswith("SQLITE_CANTOPEN_"):
        return TransientError(f"connection failed: the database file cannot be opened ({name})")
    if name.startswith("SQLITE_IOERR") or name == "SQLITE_PROTOCOL":
        return TransientError(f"connection failed: I/O error reading the database file ({name})")
    if name == "SQLITE_INTERRUPT":
        return TransientError(f"timeout: query interrupted ({name})")
    return PermanentError(f"query failed ({name})")


def _connect(lowered: str, name: str) -> TransientError | PermanentError:
    if "too many clients" in lowered or "too many connections" in lowered:
        return TransientError("connection failed: too many connections (SQLSTATE 53300)")
    if "starting up" in lowered or "shutting down" in lowered or "in recovery" in lowered:
        return TransientError("connection failed: the server is not accepting connections yet")
    if any(fragment in lowered for fragment in _REFUSED_FOR_GOOD):
        return PermanentError("connection refused by the server: role, password or database not accepted")
    if "refused" in lowered:
        return TransientError(f"connection failed: connection refused ({name})")
    if "timeout" in lowered or "timed out" in lowered:
        return TransientError(f"timeout: connection failed ({name})")
    return TransientError(f"connection failed ({name})")
