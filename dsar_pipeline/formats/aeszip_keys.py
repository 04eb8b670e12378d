"""Each entry's keys, derived ahead of need in a small thread pool.

PBKDF2-HMAC-SHA1 with 1000 iterations costs ~0.5 ms an entry here: for a package of 200
recordings that is a tenth of a second, and for thousands of small files it would be most of the
time. It releases the GIL, so deriving the next entries' keys in other threads while the current
entry is encrypted takes it off the writer's path. Salts are random, so keys derived ahead and
not used are simply dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from dsar_pipeline.formats.aeszip_crypto import EntryKeys

KEYS_AHEAD = 4
KEY_WORKERS = 2


class KeySource:
    """Each entry's keys (fresh salt, PBKDF2), derived `ahead` entries in advance by `workers` threads.

    With `workers=0` keys are derived when asked for, in the asking thread.
    """

    def __init__(self, derive: Callable[[], EntryKeys], ahead: int = KEYS_AHEAD, workers: int = KEY_WORKERS) -> None:
        self._derive = derive
        self._ahead = ahead
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="aeszip-keys") if workers else None
        self._pending: deque[Future[EntryKeys]] = deque()

    def next(self) -> EntryKeys:
        if self._executor is None:
            return self._derive()
        while len(self._pending) <= self._ahead:
            self._pending.append(self._executor.submit(self._derive))
        return self._pending.popleft().result()

    def close(self) -> None:
        """Drop the keys derived ahead (salts are random: nothing is lost) and end the threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
