"""Identity resolution: expand the request's identifiers in rounds until nothing new is found.

Each round asks every system that accepts some of the newest identifiers which identifiers of the
person it holds (`discover`). Only identifiers found through a strong match are expanded further:
an identifier revealed by a weak match (say, a portal account found by a shared phone number) or by
an unbound one (a customer number the ticket claims) may belong to someone else and must not pull
that person's data in. A claimed identifier the anchor's path later reaches becomes strong and is
asked again, so what it reveals is then searched too. Rounds and calls are bounded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from connectors.contract import Connector
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType

MAX_ROUNDS = 6
MAX_CALLS = 500


@dataclass
class IdentityGraph:
    """Every identifier known for the subject, and what could not be asked."""

    identifiers: dict[tuple[IdentityType, str], Identifier] = field(default_factory=dict)
    rounds: int = 0
    calls: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # system -> cause (no personal values)
    stopped_early: str | None = None  # why expansion stopped before reaching a fixed point
    anchor: str | None = None  # the request's personal code

    def add(self, identifier: Identifier) -> bool:
        """Keep the strongest path to each identifier; True when it is new or became strong.

        What a record of another person reveals (it holds a personal code that is not the anchor's) is
        kept as theirs: weak and never searched, however strong the path that reached the record."""
        if identifier.is_anchor and self.anchor is None:
            self.anchor = identifier.value
        if identifier.held_by_another(self.anchor):
            identifier = identifier.as_someone_elses()
        key = (identifier.type, identifier.value)
        known = self.identifiers.get(key)
        if known is None or identifier.outranks(known):
            self.identifiers[key] = identifier
            return True
        return False

    def for_connector(self, connector: Connector) -> list[Identifier]:
        """The identifiers this system accepts, those revealed by weak matches excluded from expansion."""
        return [i for i in self.identifiers.values() if i.type in connector.accepts and i.expandable]


def expand(subject: Sequence[Identifier], connectors: Mapping[str, Connector],
           max_rounds: int = MAX_ROUNDS, max_calls: int = MAX_CALLS) -> IdentityGraph:
    graph = IdentityGraph(anchor=next((i.value for i in subject if i.is_anchor), None))
    given = [i for i in subject if graph.add(i)]
    # The anchor's own search goes first and the claims a round later: a claim the anchor's path
    # reaches in the meantime is asked once, already bound, instead of twice (unbound, then bound).
    frontier = [i for i in given if i.is_bound] or given
    claims = [i for i in given if i not in frontier]
    asked: dict[str, set[tuple[IdentityType, str, str]]] = {name: set() for name in connectors}
    with ThreadPoolExecutor(max_workers=max(1, len(connectors))) as pool:
        while frontier or claims:
            if not frontier or graph.rounds >= 1:
                frontier, claims = [*frontier, *claims], []
            # each identifier once, by the best path known now
            frontier = list({(i.type, i.value): graph.identifiers[(i.type, i.value)] for i in frontier}.values())
            if graph.rounds >= max_rounds:
                graph.stopped_early = f"round limit ({max_rounds}) reached"
                break
            if graph.calls >= max_calls:
                graph.stopped_early = f"call limit ({max_calls}) reached"
                break
            graph.rounds += 1
            jobs = {}
            for name, connector in connectors.items():
                new = [i for i in frontier if i.type in connector.accepts and i.expandable
                       and (i.type, i.value, i.strength.value) not in asked[name]]
                if new:
                    asked[name].update((i.type, i.value, i.strength.value) for i in new)
                    jobs[name] = pool.submit(_discover, connector, new)
            frontier = []
            for name, job in jobs.items():
                found, calls, error = job.result()
                graph.calls += calls
                if error:
                    graph.errors[name] = error
                frontier.extend(i for i in found if graph.add(i))
    return graph


def _discover(connector: Connector, identifiers: list[Identifier]) -> tuple[list[Identifier], int, str | None]:
    before = connector.calls_made
    started = time.monotonic()
    try:
        found = list(connector.discover(identifiers))  # type: ignore[attr-defined]
        return found, connector.calls_made - before, None
    except ConnectorError as exc:
        return [], connector.calls_made - before, f"{exc.cause} (after {time.monotonic() - started:.1f} s)"
