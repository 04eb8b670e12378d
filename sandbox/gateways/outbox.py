"""Read what the gateways were asked to send: pure file reading, for tests and the demo.

Channels: `mail`, `sms`, `helpdesk` (accepted status callbacks) and `helpdesk-rejected`
(callbacks refused for a bad or missing signature or an invalid body). See `sandbox.gateways.app`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHANNELS = ("mail", "sms", "helpdesk", "helpdesk-rejected")
SEQ_DIGITS = 6


def sequence_of(path: Path) -> int | None:
    """The send-order number in a file name `<seq>-<id>.json`; None for anything else."""
    head = path.name.split("-", 1)[0]
    return int(head) if head.isdigit() and not path.name.startswith(".") else None


def read_outbox(outbox_dir: Path, channel: str) -> list[dict[str, Any]]:
    """Every message of one channel in send order, each with its file as `path` (a Path)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}; channels: {', '.join(CHANNELS)}")
    folder = Path(outbox_dir) / channel
    if not folder.is_dir():
        return []
    files = sorted((seq, p) for p in folder.glob("*.json") if (seq := sequence_of(p)) is not None)
    messages = []
    for _, path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        record["path"] = path
        messages.append(record)
    return messages
