"""Intake: the request ticket, its parsing, opaque request ids, deadlines and the sealed ticket store.

Names are resolved lazily (PEP 562) so that ``import dsar_pipeline.intake`` stays cheap for the CLI
and the inbox sensor.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Ticket": "ticket",
    "SubjectIdentity": "ticket",
    "IdentityType": "ticket",
    "RequestType": "ticket",
    "EvidenceType": "ticket",
    "TicketError": "errors",
    "parse_ticket": "parse",
    "derive_request_id": "request_ids",
    "is_request_id": "request_ids",
    "Deadline": "deadlines",
    "DeadlineError": "deadlines",
    "ExtensionReason": "deadlines",
    "compute_deadline": "deadlines",
    "deadline_for_ticket": "deadlines",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
