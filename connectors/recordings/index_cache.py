"""Month indexes read once per process while they are unchanged, for requests searched side by side.

Every request scans every month index of the call centre: the index is the only way to find a
caller's calls. A batch of 25 requests read each index 25 times — most of the recordings step and
of the S3 service's work. An index named by the listing with an ETag is fetched once and its lines
kept in memory, under the ETag of the GET that read them; a request uses them only when its own
listing names the same ETag, so a changed index is always read again (no stale hit, no window).

Index lines hold phone numbers and customer ids: they live in this process's memory only (never on
disk, never logged), and the cache is bounded (`max_bytes`; an index larger than a quarter of it
is not kept), least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_MAX_BYTES = 64 * 2**20

Key = tuple[str, str, str]  # (bucket identity, object key, ETag)


class IndexCache:
    """Thread-safe LRU of index lines by (bucket, key, ETag), bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, tuple[list[bytes], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def lines(self, bucket: str, key: str, etag: str, read: Callable[[], tuple[str, list[bytes]]]) -> list[bytes]:
        """The index's lines: kept ones when `etag` matches, else `read()` -> (ETag read, lines)."""
        wanted = (bucket, key, etag)
        with self._lock:
            entry = self._entries.get(wanted)
            if entry is not None:
                self._entries.move_to_end(wanted)
                self.hits += 1
                return entry[0]
            self.misses += 1
        read_etag, lines = read()
        self._keep((bucket, key, read_etag), lines)
        return lines

    def _keep(self, key: Key, lines: list[bytes]) -> None:
        size = sum(map(len, lines)) + 64 * len(lines)
        if not key[2] or size > self.max_bytes // 4:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            self._entries[key] = (lines, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


SHARED = IndexCache()
