"""Bounded retries with exponential backoff and full jitter, honouring Retry-After; client-side pacing.

Shared by every connector whatever its protocol: an attempt raises `TransientError` (worth
another try), `PermanentError` (not), or returns. The loop is bounded by attempts and by a
deadline, and its final error names the system, the operation and the last cause.

A refusal for the system's rate limit (`RateLimited`: HTTP 429) is no failure of the call but a
"not yet": it is waited out — Retry-After, or the limit's own window when the answer gives none —
and budgeted by time (the deadline), not by attempts. Counting refusals as attempts gave up after
five quick refusals in 0.4 s while the limit itself was the only problem (issue 13).
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from connectors.errors import ConnectorError, PermanentError, TransientError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: pacing stays per process
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")


class RateLimited(TransientError):
    """The system refused the call for its rate limit (HTTP 429): retry once it allows.

    `retry_after` is the server's Retry-After (None when absent); `window_s` the limit's own window
    as the client knows it (its pacing interval; 0 when unknown), the least it waits when the server
    says nothing."""

    def __init__(self, cause: str, retry_after: float | None = None, window_s: float = 0.0) -> None:
        super().__init__(cause, retry_after)
        self.window_s = window_s


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # failed attempts (refusals for the rate limit are budgeted by the deadline)
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0  # a server asking for a longer pause is treated as a failure
    deadline_s: float = 120.0  # for one operation, all attempts and pauses included

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^(n-1))]."""
        return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))

    def rate_limit_pause(self, refused: RateLimited, refusals: int, rng: random.Random) -> float:
        """How long to wait after the `refusals`-th refusal: at least Retry-After or, without one, the
        limit's window; with neither, an exponential backoff that never falls to 0 ("equal jitter")."""
        told = refused.retry_after if refused.retry_after is not None else refused.window_s
        if told > 0:
            return told + rng.uniform(0, min(0.05, told))
        step = min(self.max_delay_s, self.base_delay_s * 2 ** (refusals - 1))
        return step / 2 + rng.uniform(0, step / 2)


def call_with_retries(system: str, operation: str, attempt: Callable[[], T], policy: RetryPolicy,
                      rng: random.Random | None = None, sleep: Callable[[float], None] | None = None) -> T:
    rng = rng or random.Random()
    sleep = sleep or time.sleep
    started = time.monotonic()
    last = "no attempt made"
    attempts = failures = refusals = 0
    while True:
        attempts += 1
        try:
            return attempt()
        except PermanentError as exc:
            raise ConnectorError(system, f"{operation}: {exc}") from None
        except TransientError as exc:
            last = exc.cause
            if isinstance(exc, RateLimited):
                refusals += 1
            else:
                failures += 1
                if failures >= policy.max_attempts:
                    break
            if exc.retry_after is not None and exc.retry_after > policy.max_retry_after_s:
                raise ConnectorError(system, f"{operation}: asked to retry after {exc.retry_after:g} s, more than "
                                             f"the {policy.max_retry_after_s:g} s we wait") from None
            if isinstance(exc, RateLimited):
                pause = policy.rate_limit_pause(exc, refusals, rng)
            elif exc.retry_after is not None:
                pause = exc.retry_after + rng.uniform(0, 0.05)
            else:
                pause = policy.backoff(failures, rng)
            if time.monotonic() - started + pause > policy.deadline_s:
                break
            sleep(pause)
    elapsed = time.monotonic() - started
    refused = f" ({refusals} refused for the rate limit)" if refusals else ""
    raise ConnectorError(system, f"{operation}: gave up after {attempts} attempt{'s' * (attempts > 1)}{refused} "
                                 f"in {elapsed:.1f} s; last error: {last}")


class MinIntervalLimiter:
    """At most one call per `interval_s`, across threads: the client side of a rate limit.

    With `shared_key` (a rate-limited client's identity: system, base URL, client id), the next free
    slot is also kept in a small file every process of this machine opens under an exclusive lock, so
    that the steps of runs side by side (each in a process of its own) keep one pace between them
    instead of one each. Where that file cannot be used, the pace is this process's alone.
    """

    def __init__(self, interval_s: float, *, shared_key: str | None = None) -> None:
        self.interval_s = interval_s
        self._next = 0.0
        self._lock = threading.Lock()
        self._slots = SlotFile.for_key(shared_key) if shared_key else None

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self.interval_s <= 0 and self._next <= now:
                return  # unpaced, and no push-back pending
            slot = now

            def take(shared: float) -> float:
                nonlocal slot
                slot = max(now, self._next, shared)
                self._next = slot + max(0.0, self.interval_s)
                return self._next

            self._update(take, now)
        if slot > now:
            time.sleep(slot - now)

    def push_back(self, seconds: float) -> None:
        """The server said wait: no call before now + seconds (by any process sharing this pace)."""
        with self._lock:
            now = time.monotonic()
            until = now + max(0.0, seconds)
            self._next = max(self._next, until)
            self._update(lambda shared: max(shared, until), now)

    def _update(self, change: Callable[[float], float], now: float) -> None:
        if self._slots is None or not self._slots.update(change, now, horizon=self.interval_s + 60.0):
            change(0.0)


class SlotFile:
    """A client's next free slot (`time.monotonic()`, the same clock in every process of a machine)
    in an 8-byte file, read and written under `flock`. The file names the client only by a hash."""

    _DIRECTORY = "dsar-pacing"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        self._broken = fcntl is None

    @classmethod
    def for_key(cls, key: str) -> SlotFile | None:
        if fcntl is None:
            return None
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return cls(Path(tempfile.gettempdir()) / f"{cls._DIRECTORY}-{os.getuid()}" / digest)

    def update(self, change: Callable[[float], float], now: float, horizon: float) -> bool:
        """Apply `change` to the shared slot (0.0 when unset, or further than `horizon` away: stale); False
        when it was not applied because the file cannot be used (the caller then keeps the slot in-process)."""
        if self._broken:
            return False
        applied = False
        try:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, 8, 0)
                shared = struct.unpack("<d", raw)[0] if len(raw) == 8 else 0.0
                if not now - horizon <= shared <= now + horizon:
                    shared = 0.0  # unset, garbage, or from before a reboot
                value, applied = change(shared), True
                os.pwrite(fd, struct.pack("<d", value), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            self._broken = True
        return applied

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own (flock is per open file)
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.path.parent.stat().st_uid != os.getuid():
                raise PermissionError("the pacing directory belongs to another user")
            self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        return self._fd


_PACERS: dict[tuple[str, str, str], MinIntervalLimiter] = {}
_PACERS_LOCK = threading.Lock()


def client_pacer(system: str, base_url: str, client_id: str, interval_s: float) -> MinIntervalLimiter:
    """The one pacer of an API client (system, base URL, client id) in this process, keeping its next
    slot where the other processes of this machine pacing the same client see it. A server limits
    the client, not a connector instance: connectors built one per thread, and the steps of runs side
    by side, must share its pace. A longer interval asked for the same client widens the shared pace;
    a shorter one never narrows it."""
    base = base_url.rstrip("/")
    with _PACERS_LOCK:
        pacer = _PACERS.get((system, base, client_id))
        if pacer is None:
            pacer = _PACERS[(system, base, client_id)] = MinIntervalLimiter(
                interval_s, shared_key=f"{system}\n{base}\n{client_id}")
        elif interval_s > pacer.interval_s:
            pacer.interval_s = interval_s
        return pacer
