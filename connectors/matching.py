"""An object a connector found, with every identifier that led to it.

The best path to each identifier is kept; the object's strength is that of its strongest one,
and what it reveals carries its best path plus the step that revealed it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from connectors.identity import Identifier, IdentityType, Strength


@dataclasses.dataclass
class Found:
    item: Any = dataclasses.field(repr=False)  # reprs never show personal data
    matched_by: dict[tuple[IdentityType, str], Identifier] = dataclasses.field(default_factory=dict, repr=False)

    def add(self, *identifiers: Identifier) -> None:
        for identifier in identifiers:
            key = (identifier.type, identifier.value)
            known = self.matched_by.get(key)
            if known is None or identifier.outranks(known):
                self.matched_by[key] = identifier

    @property
    def identifiers(self) -> tuple[Identifier, ...]:
        return tuple(self.matched_by.values())

    @property
    def strength(self) -> Strength:
        return Strength.best(self.matched_by.values())

    @property
    def path(self) -> tuple[str, ...]:
        """The look-up path that found it: a strong (then expandable) identifier's if there is one."""
        return sorted(self.matched_by.values(), key=lambda i: (-i.strength.rank, not i.expandable))[0].via

    def reveal(self, kind: IdentityType, value: str, step: str) -> Identifier:
        """`value` as an identifier this object reveals: its best path + `step`, with its strength."""
        return Identifier.of(kind, value, via=(*self.path, step), source_strength=self.strength)
