"""The ticket's identities as the pipeline builds them at intake, for tests that skip the ticket."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.identity import Identifier
from dsar_pipeline.intake.ticket import SEARCH_TYPES, IdentityType


def collect_everything(settings: dict[str, str], identifiers: tuple[Identifier, ...]) -> tuple[Any, dict[str, Any]]:
    """Resolve `identifiers` across all five systems and collect from each: (graph, results)."""
    from connectors.registry import build_connectors
    from connectors.resolution import expand
    from dsar_pipeline.collection.collect import collect_system

    connectors = build_connectors(settings)
    try:
        graph = expand(identifiers, connectors)
        return graph, {name: collect_system(c, graph) for name, c in connectors.items()}
    finally:
        for connector in connectors.values():
            connector.close()


def ticket_identifiers(identities: Iterable[tuple[str, str]]) -> tuple[Identifier, ...]:
    """(ticket identity type, value) pairs -> the anchor (the personal code) and the claims."""
    return tuple(Identifier.anchor(value) if kind == "personal_code"
                 else Identifier.claimed(SEARCH_TYPES[IdentityType(kind)], value) for kind, value in identities)
