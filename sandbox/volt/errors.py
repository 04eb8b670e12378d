"""The one error shape of the Volt API: `{"error": code, "error_description": text}` (RFC 6749 §5.2 style)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApiError(Exception):
    """Raised anywhere in a request; the app turns it into a JSON answer with `status` and `headers`."""

    status: int
    error: str
    description: str
    headers: dict[str, str] = field(default_factory=dict)
