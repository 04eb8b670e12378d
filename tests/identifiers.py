"""The ticket's identities as the pipeline builds them at intake, for tests that skip the ticket."""

from __future__ import annotations

from collections.abc import Iterable

from connectors.identity import Identifier
from dsar_pipeline.intake.ticket import SEARCH_TYPES, IdentityType


def ticket_identifiers(identities: Iterable[tuple[str, str]]) -> tuple[Identifier, ...]:
    """(ticket identity type, value) pairs -> the anchor (the personal code) and the claims."""
    return tuple(Identifier.anchor(value) if kind == "personal_code"
                 else Identifier.claimed(SEARCH_TYPES[IdentityType(kind)], value) for kind, value in identities)
