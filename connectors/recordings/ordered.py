"""Run a function over a stream on a few threads, yielding results in input order, with bounded look-ahead.

S3 answers one request at a time per connection, and a person's search is dozens of small GETs
(one per month index, one per matched call): overlapping a few of them cuts the wall time, while
the bounded look-ahead keeps memory flat and the stream a stream (results are yielded as soon as
the oldest is done; at most `ahead` are in flight).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

X = TypeVar("X")
Y = TypeVar("Y")


def ordered_map(pool: ThreadPoolExecutor, func: Callable[[X], Y], items: Iterable[X], ahead: int) -> Iterator[Y]:
    """`map(func, items)` on `pool`, at most `ahead` calls submitted and not yet yielded; pending ones
    are cancelled when the consumer stops or a call fails (its exception is raised in input order)."""
    pending: deque[Future[Y]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(func, item))
            if len(pending) >= max(1, ahead):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
