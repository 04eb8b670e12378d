"""The one exception a caller of the ticket parser has to handle.

Why a dedicated type: the CLI, the Dagster sensor and the helpdesk callback all print or store the
reason a ticket was refused. Those places may end up in logs and in Dagster's instance database,
which keep everything forever, so the message is built to be ONE line that names the field and the
problem but never repeats the submitted value.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
MAX_MESSAGE_CHARS = 300


def one_line(text: str) -> str:
    """Collapse control characters and line breaks, and cap the length, so a reason stays one line."""
    flat = _CONTROL.sub(" ", text).strip()
    if len(flat) > MAX_MESSAGE_CHARS:
        flat = flat[: MAX_MESSAGE_CHARS - 1] + "…"
    return flat


class TicketError(ValueError):
    """A ticket was refused; ``str()`` is one line naming the field and the problem, never the value."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = one_line(message)
        super().__init__(f"{field}: {self.reason}" if field else self.reason)


__all__ = ["TicketError", "one_line"]
