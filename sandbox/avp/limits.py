"""Per-client call-rate limit of the hub: a minimum interval between accepted calls.

The real hub throttles each market participant; a client that calls sooner than allowed is told how
long to wait (429 with Retry-After) and the refused call does not move its clock, so a client that
waits as told always gets through on the next try.
"""

from __future__ import annotations

import math
import threading
import time

from sandbox.avp.protocol import Problem


class CallRateLimiter:
    """Thread-safe; `min_interval_s` <= 0 disables it."""

    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, client: str) -> None:
        """Accept the call (and start the client's interval) or raise a 429 Problem."""
        if self.min_interval_s <= 0:
            return
        with self._lock:
            now = time.monotonic()
            last = self._last.get(client)
            if last is not None and now - last < self.min_interval_s:
                wait = self.min_interval_s - (now - last)
                retry_after = f"{max(math.ceil(wait * 1000) / 1000, 0.001):.3f}"
                raise Problem(429, "TOO_MANY_REQUESTS",
                              f"at most one call per {self.min_interval_s:g} s per client; retry after "
                              f"{retry_after} s", {"Retry-After": retry_after})
            self._last[client] = now
