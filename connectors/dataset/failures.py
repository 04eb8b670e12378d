"""MariaDB/MySQL failures sorted into "try again" or "give up"; other back ends as billing sorts them.

PyMySQL errors carry the server's (or client's) numeric error code as their first argument; the
cause is built from that code and never from the message, which may quote values.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from connectors.errors import PermanentError, TransientError, TruncatedPage
from connectors.sql.failures import Limits
from connectors.sql.failures import classify as classify_other

TRANSIENT: dict[int, str] = {
    1040: "too many connections",
    1205: "timeout: lock wait timeout exceeded",
    1213: "deadlock detected",
    1969: "timeout: the server cancelled the query (max_statement_time)",
    3024: "timeout: the server cancelled the query (max_execution_time)",
    2002: "connection failed: cannot reach the server",
    2003: "connection failed: cannot reach the server",
    2006: "connection failed: the server has gone away",
    2013: "connection lost during the query",
}
PERMANENT: dict[int, str] = {
    1044: "connection refused by the server: database not accepted for this user",
    1045: "connection refused by the server: user or password not accepted",
    1049: "connection refused by the server: unknown database",
    1146: "the database refused the query: a table of the dataset does not exist",
    1054: "the database refused the query: a field of the dataset does not exist",
    1142: "the database refused the query: no SELECT privilege",
}


def classify(exc: BaseException, phase: str, limits: Limits, deadline_s: float,
             deadline_fired: bool) -> TransientError | PermanentError:
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if type(orig).__module__.startswith("pymysql") and orig.args and isinstance(orig.args[0], int):
        code = orig.args[0]
        if code == 2013:
            return TruncatedPage(f"{TRANSIENT[code]} (MySQL error {code})")
        if code in TRANSIENT:
            return TransientError(f"{TRANSIENT[code]} (MySQL error {code})")
        if code in PERMANENT:
            return PermanentError(f"{PERMANENT[code]} (MySQL error {code})")
        if deadline_fired:
            return TransientError(f"timeout: no answer within the client deadline of {deadline_s:g} s")
        return PermanentError(f"query failed (MySQL error {code})")
    return classify_other(exc, phase, limits, deadline_s, deadline_fired)
