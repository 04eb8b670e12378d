"""Client-side query deadlines kept by one watchdog thread, instead of a timer thread per query.

The plain `Deadline` (`connectors.sql.deadline`) starts a `threading.Timer` for every attempt: on
these 2-core machines starting and cancelling that thread cost ~2.5 ms a query, more than a keyed
SELECT itself. The behaviour is the same — when the time runs out the attempt's connections are
cut — but every deadline of the process waits in one heap, watched by one daemon thread.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time

from connectors.sql.deadline import Deadline

COMPACT_AT = 4096


class _NoTimer:
    def cancel(self) -> None:
        return None


class Watchdog:
    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int, SharedDeadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: SharedDeadline) -> None:
        with self._wake:
            if len(self._heap) > COMPACT_AT:  # finished deadlines wait for their time to pass: drop them now
                self._heap = [entry for entry in self._heap if not entry[2].finished]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (time.monotonic() + deadline.seconds, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="dsar-query-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                due, _, deadline = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline._fire()


    def reset(self) -> None:
        """In a forked child: the parent's thread is gone and its lock may have been held at the fork."""
        self._wake = threading.Condition()
        self._heap = []
        self._thread = None


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.reset)


class SharedDeadline(Deadline):
    """The plain `Deadline` (same `watch`, `fired`, cutting), timed by the shared watchdog."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._targets = []
        self._done = False
        self._timer = _NoTimer()  # type: ignore[assignment]

    @property
    def finished(self) -> bool:
        return self._done

    def __enter__(self) -> SharedDeadline:
        WATCHDOG.add(self)
        return self
