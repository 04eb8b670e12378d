"""Faults for the embedded SQLite billing database, where there is no wire to break.

An SQLite database is a file that the reader opens itself, so only what can happen to a file
is simulated, and nothing is faked:

* ``down`` — the file is moved aside (``<name>.down``) and moved back when the fault clears. New
  connections fail at once (``sqlite3.OperationalError: unable to open database file``: the URL is
  read-only, so nothing is created in its place). A connection opened before keeps reading the file
  it already has open, as it would on a real disk — so open a connection per request (SQLAlchemy
  ``poolclass=NullPool``) if you want to see the fault.
* ``timeout`` — a writer holds an EXCLUSIVE lock on the file. Every read waits for the lock for the
  reader's busy timeout (``sqlite3.connect(timeout=…)``, SQLAlchemy ``connect_args={"timeout": s}``;
  Python's default is 5 s), then fails with ``database is locked``; a read that is waiting when the
  fault clears goes through. The value of the fault is not used: the lock is held until the faults
  change.

latency, error, ratelimit and truncate have no honest SQLite counterpart (no server, no network):
`unsupported_sqlite_faults` names them so the sandbox can refuse them and point to PostgreSQL, where
the billing proxy simulates them all.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from sandbox.faults import Fault, FaultBoard

log = logging.getLogger(__name__)

SYSTEM = "billing"
SQLITE_FAULT_KINDS = ("down", "timeout")
LOCK_WAIT_S = 10.0  # how long taking the lock may wait for readers in the middle of a read


def unsupported_sqlite_faults(faults: Iterable[Fault]) -> list[str]:
    """The billing fault kinds among `faults` that SQLite cannot simulate, sorted, each once."""
    return sorted({f.kind for f in faults if f.system == SYSTEM and f.kind not in SQLITE_FAULT_KINDS})


def sqlite_fault_error(faults: Iterable[Fault]) -> str | None:
    """One line for the user when `faults` ask SQLite billing for what it cannot do; None when fine."""
    unsupported = unsupported_sqlite_faults(faults)
    if not unsupported:
        return None
    return (f"billing on SQLite supports only {' and '.join(SQLITE_FAULT_KINDS)} faults, not "
            f"{', '.join(unsupported)}; give --billing-url postgresql://… for the others")


class SqliteFaults:
    """Follows the board's `billing` faults on one SQLite file: applied now and on every change."""

    def __init__(self, path: Path, board: FaultBoard) -> None:
        self.path = Path(path)
        self.aside = self.path.with_name(self.path.name + ".down")
        self.board = board
        self._lock = threading.Lock()
        self._locker: sqlite3.Connection | None = None
        self._following = True
        board.on_change(self._follow_board)
        self._follow_board()

    @property
    def is_down(self) -> bool:
        return self.aside.exists() and not self.path.exists()

    @property
    def is_locked(self) -> bool:
        return self._locker is not None

    def stop(self) -> None:
        """Put the file back, release the lock, and stop following the board."""
        with self._lock:
            self._following = False
            self._apply(down=False, timeout=False)

    def _follow_board(self) -> None:
        faults = self.board.of(SYSTEM)
        with self._lock:
            if self._following:
                self._apply(down="down" in faults, timeout="timeout" in faults)

    def _apply(self, down: bool, timeout: bool) -> None:
        # Release the lock before moving the file and take it after moving it back.
        if not timeout or down:
            self._unlock()
        if down and self.path.exists():
            os.replace(self.path, self.aside)
        elif not down and self.aside.exists() and not self.path.exists():
            os.replace(self.aside, self.path)
        if timeout and not down:
            self._lock_file()

    def _lock_file(self) -> None:
        if self._locker is not None or not self.path.exists():
            return
        locker = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False)
        try:
            # In rollback-journal mode an EXCLUSIVE lock keeps readers out until it is released.
            locker.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            locker.close()
            log.warning("billing: could not lock the SQLite file for the timeout fault: %s", exc)
            return
        self._locker = locker

    def _unlock(self) -> None:
        locker, self._locker = self._locker, None
        if locker is not None:
            locker.execute("ROLLBACK")
            locker.close()
