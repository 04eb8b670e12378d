"""Per-client token buckets: the Volt API's published rate limit.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each call takes one.
A refused call learns how long until a token is back, which becomes the `Retry-After` header.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    """One bucket per key (client id), created full on first use; thread-safe."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    def take(self, key: str) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one token will be available."""
        with self._lock:
            now = self._clock()
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate
