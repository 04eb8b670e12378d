"""The gateways' write side of the outbox: one JSON file per accepted (or rejected) message.

Files are `<outbox>/<channel>/<seq>-<id>.json`, `seq` a six-digit counter per channel that goes on
from the highest file already there (a restarted gateway does not overwrite). Each file appears
whole or not at all: written under a dot-name in the same directory, then renamed. Sequence
numbers are taken and files renamed under one lock, so when file n is visible, so are 1..n-1.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from sandbox.gateways.outbox import SEQ_DIGITS, sequence_of


class Spool:
    """Sequenced, atomic JSON files under one outbox directory."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}

    def write(self, channel: str, name: str, record: dict[str, Any]) -> tuple[int, Path]:
        """Store `record` (plus its `seq`) as the channel's next file; returns (seq, path)."""
        folder = self.outbox_dir / channel
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            seq = self._next.get(channel) or self._highest(folder) + 1
            self._next[channel] = seq + 1
            path = folder / f"{seq:0{SEQ_DIGITS}d}-{name}.json"
            temp = folder / f".{uuid.uuid4().hex}.tmp"
            with open(temp, "w", encoding="utf-8") as out:
                json.dump({"seq": seq, **record}, out, ensure_ascii=False, indent=1)
            os.replace(temp, path)
        return seq, path

    @staticmethod
    def _highest(folder: Path) -> int:
        seqs = [sequence_of(p) for p in folder.glob("*.json")]
        return max((s for s in seqs if s is not None), default=0)
