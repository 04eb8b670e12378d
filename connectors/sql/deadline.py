"""A client-side deadline for one database round: when it passes, the round's connections are cut.

A server-side `statement_timeout` cannot help when the server (or the network in between) stops
answering: the query never arrives, nothing fires, and libpq waits for ever. So every attempt runs
under a timer; when it expires, the sockets of the connections the attempt uses are shut down (the
waiting driver sees the connection end and raises), and SQLite statements are interrupted.

Sockets are duplicated when registered: shutting down our duplicate always hits the right socket,
even if the driver has closed its own descriptor meanwhile and the number was reused.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any, Protocol


class _Target(Protocol):
    def cut(self) -> None: ...

    def release(self) -> None: ...


class _Socket:
    """A network connection (psycopg): shut down a duplicate of its socket to wake the driver."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=os.dup(fd))

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def release(self) -> None:
        self.sock.close()


class _Interruptible:
    """An SQLite connection: `interrupt()` is the one call SQLite allows from another thread."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def cut(self) -> None:
        with contextlib.suppress(Exception):  # already closed: nothing left to interrupt
            self.connection.interrupt()

    def release(self) -> None:
        self.connection = None


def _target(dbapi_connection: Any) -> _Target | None:
    if hasattr(dbapi_connection, "interrupt"):
        return _Interruptible(dbapi_connection)
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        return None
    try:
        return _Socket(fileno())
    except Exception:  # closed already (the driver raises its own error): nothing left to watch
        return None


class Deadline:
    """`with Deadline(s) as d: d.watch(conn); ...` — after `s` seconds the watched connections are cut."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._targets: list[_Target] = []
        self._done = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            targets, self._targets = self._targets, []
        for target in targets:
            target.release()

    def watch(self, dbapi_connection: Any) -> None:
        """Cut this connection too when the time runs out (at once if it has run out already)."""
        target = _target(dbapi_connection)
        if target is None:
            return
        with self._lock:
            if self._done:
                target.release()
                return
            self._targets.append(target)
            if self.fired:
                target.cut()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for target in self._targets:
                target.cut()
