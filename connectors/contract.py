"""The one small contract every system's connector keeps.

A connector declares which identity types it accepts and which it can reveal, and the data
category of every field of every source (table, endpoint, object) it reads. Its `collect` call
takes the identifiers known so far and yields `Record`s as a stream; each record says where it
came from, when, and which identifiers found it. A connector knows nothing of Dagster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from connectors.categories import check_category
from connectors.identity import Identifier, IdentityType, Strength
from connectors.retention_rules import RULES


@dataclass(frozen=True)
class Source:
    """A table, endpoint or object family of one system, with its fields' data categories."""

    name: str
    fields: Mapping[str, str]
    description: str = ""
    retention_rule: str | None = None  # a key of connectors.retention.RULES

    def __post_init__(self) -> None:
        for category in self.fields.values():
            check_category(category)
        if self.retention_rule is not None and self.retention_rule not in RULES:
            raise KeyError(f"unknown retention rule {self.retention_rule!r}")


@dataclass(frozen=True)
class Attachment:
    """A large object that belongs to a record (e.g. a call's audio): fetched by streaming, later."""

    uri: str
    size: int
    media_type: str


@dataclass
class Record:
    """One record held on the person, with its provenance and match strength."""

    system: str
    source: str
    key: str
    fields: dict[str, Any]
    categories: dict[str, str]
    matched_by: tuple[Identifier, ...]
    retrieved_at: datetime
    reveals: tuple[Identifier, ...] = ()
    attachment: Attachment | None = None
    event_date: date | None = None  # the date retention counts from (e.g. a contract's end)
    parent: tuple[str, str] | None = None  # (source, key) this record belongs to

    @property
    def strength(self) -> Strength:
        return Strength.best(self.matched_by)

    @property
    def ref(self) -> tuple[str, str, str]:
        return (self.system, self.source, self.key)


@runtime_checkable
class Connector(Protocol):
    system: ClassVar[str]
    accepts: ClassVar[frozenset[IdentityType]]
    reveals: ClassVar[frozenset[IdentityType]]
    sources: ClassVar[Mapping[str, Source]]

    def discover(self, identifiers: Sequence[Identifier]) -> Iterator[Identifier]:
        """Identifiers of the person this system reveals for `identifiers` (a few cheap look-ups).

        Each revealed identifier is built with `Identifier.of(..., via=..., source_strength=...)`, the
        source strength being that of the match that revealed it.
        """
        ...

    def collect(self, identifiers: Sequence[Identifier]) -> Iterator[Record]:
        """Yield every record the system holds for any of `identifiers` (only accepted types are passed)."""
        ...

    def close(self) -> None: ...

    @property
    def calls_made(self) -> int:
        """Requests/queries sent so far (for the resolution's call budget and the benchmarks)."""
        ...


def make_record(connector: Connector, source: str, key: str, fields: dict[str, Any],
                matched_by: Sequence[Identifier], retrieved_at: datetime, **extra: Any) -> Record:
    """Build a record whose field categories come from the connector's declaration (none undeclared)."""
    declared = connector.sources[source].fields
    unknown = set(fields) - set(declared)
    if unknown:
        raise KeyError(f"{connector.system}.{source}: fields without a declared category: {sorted(unknown)}")
    return Record(system=connector.system, source=source, key=key, fields=fields,
                  categories={name: declared[name] for name in fields}, matched_by=tuple(matched_by),
                  retrieved_at=retrieved_at, **extra)
