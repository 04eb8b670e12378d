"""How tickets that arrive together are cut into runs.

Fewer, larger runs pay the orchestrator's per-run and per-step start-up fewer times; enough of them
fill every run slot, so a burst is served on all slots at once.
"""

from __future__ import annotations

import itertools
import math


def batches(request_ids: list[str], *, size: int, runs: int) -> list[list[str]]:
    """The new requests cut into consecutive batches of near-equal size: enough batches to fill every
    run slot (`runs`), in whole waves of `runs`, none larger than `size`."""
    count, slots, size = len(request_ids), max(1, runs), max(1, size)
    waves = math.ceil(count / (slots * size)) if count else 0
    total = min(count, slots * waves)
    bounds = [-(-index * count // total) for index in range(total + 1)] if total else [0]
    return [request_ids[start:end] for start, end in itertools.pairwise(bounds)]
