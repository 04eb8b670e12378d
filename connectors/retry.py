"""Bounded retries with exponential backoff and full jitter, honouring Retry-After.

Shared by every connector whatever its protocol: an attempt raises `TransientError` (worth
another try), `PermanentError` (not), or returns. The loop is bounded by attempts and by a
deadline, and its final error names the system, the operation and the last cause.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from connectors.errors import ConnectorError, PermanentError, TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0  # a server asking for a longer pause is treated as a failure
    deadline_s: float = 120.0  # for one operation, all attempts and pauses included

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^(n-1))]."""
        return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


def call_with_retries(system: str, operation: str, attempt: Callable[[], T], policy: RetryPolicy,
                      rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep) -> T:
    rng = rng or random.Random()
    started = time.monotonic()
    last = "no attempt made"
    for number in range(1, policy.max_attempts + 1):
        try:
            return attempt()
        except PermanentError as exc:
            raise ConnectorError(system, f"{operation}: {exc}") from None
        except TransientError as exc:
            last = exc.cause
            if number == policy.max_attempts:
                break
            if exc.retry_after is not None and exc.retry_after > policy.max_retry_after_s:
                raise ConnectorError(system, f"{operation}: asked to retry after {exc.retry_after:g} s, more than "
                                             f"the {policy.max_retry_after_s:g} s we wait") from None
            pause = (exc.retry_after + rng.uniform(0, 0.05)) if exc.retry_after is not None \
                else policy.backoff(number, rng)
            if time.monotonic() - started + pause > policy.deadline_s:
                break
            sleep(pause)
    elapsed = time.monotonic() - started
    raise ConnectorError(system, f"{operation}: gave up after {number} attempt{'s' * (number > 1)} "
                                 f"in {elapsed:.1f} s; last error: {last}")


class MinIntervalLimiter:
    """At most one call per `interval_s`, across threads: the client side of a rate limit."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.interval_s <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval_s
        if slot > now:
            time.sleep(slot - now)

    def push_back(self, seconds: float) -> None:
        """The server said wait: no call before now + seconds."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)
