"""What a dataset file compiles into: collections, fields, reference edges and entry points (no I/O here).

References: on field F of collection A, `{field: B.g, direction: from}` means A's rows are found
from B.g's values (an edge B.g → A.F); `to` means B is queried with A.F's values (A.F → B.g); no
direction means both, as in Fides. `connectors.dataset.compile` builds a `Plan` from a file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Literal

from connectors.contract import Source
from connectors.dataset.extensions import Compare, Form
from connectors.dataset.values import Converter
from connectors.identity import IdentityType

UNKEYED_ROWS = 10_000  # rows one query may return from a collection without a primary key to page by


class DatasetInvalid(ValueError):
    """The file cannot be used; `problems` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Variant:
    value: str
    field: str
    category: str
    identity: IdentityType | None
    compare: Compare
    forms: tuple[Form, ...]


@dataclass(frozen=True)
class FieldPlan:
    name: str
    category: str
    convert: Converter = field(repr=False)
    primary_key: bool = False
    identity: IdentityType | None = None
    reveals: IdentityType | None = None
    compare: Compare = "exact"
    forms: tuple[Form, ...] = ()
    variants_by: str | None = None
    variants: Mapping[str, Variant] = field(default_factory=dict)

    def record_fields(self) -> dict[str, str]:
        """Record field name → category (a field with variants yields one name per meaning)."""
        if self.variants:
            return {variant.field: variant.category for variant in self.variants.values()}
        return {self.name: self.category}


@dataclass(frozen=True)
class Edge:
    """Rows of `target` are found where `target_field` equals a value of `source.source_field`."""

    source: str
    source_field: str
    target: str
    target_field: str


@dataclass(frozen=True)
class Lookup:
    """An entry point: rows of `collection` whose `field` holds a value of `identity`."""

    collection: str
    field: str
    identity: IdentityType
    compare: Compare
    forms: tuple[Form, ...]
    when: tuple[str, str] | None = None  # (discriminator field, value) for a variant


@dataclass(frozen=True)
class EventDate:
    kind: Literal["field", "ref", "ref_event", "latest"]
    field: str  # this row's field (field, ref, ref_event); the date field of `collection` (latest)
    other: str | None = None  # the referenced row's field (ref)
    collection: str | None = None  # latest: the referencing collection
    by: str | None = None  # latest: its field that references this row
    otherwise: str | None = None  # latest: this row's field when nothing references it


@dataclass(frozen=True)
class CollectionPlan:
    name: str
    description: str
    fields: tuple[FieldPlan, ...]
    key: tuple[str, ...]
    parent: str | None = None
    event_date: EventDate | None = None
    retention_rule: str | None = None

    def field(self, name: str) -> FieldPlan:
        return self.by_name[name]

    @cached_property
    def by_name(self) -> Mapping[str, FieldPlan]:
        return MappingProxyType({f.name: f for f in self.fields})

    @cached_property
    def revealing(self) -> tuple[FieldPlan, ...]:
        """The fields whose values are identifiers of the person (entry points, `reveals`, variants)."""
        return tuple(f for f in self.fields if f.identity or f.reveals or any(v.identity for v in f.variants.values()))

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def source(self) -> Source:
        categories: dict[str, str] = {}
        for f in self.fields:
            categories.update(f.record_fields())
        return Source(self.name, MappingProxyType(categories), self.description, self.retention_rule)


@dataclass(frozen=True)
class Plan:
    key: str  # the dataset's fides_key
    name: str
    collections: Mapping[str, CollectionPlan]
    edges: tuple[Edge, ...]
    lookups: tuple[Lookup, ...]
    schema: str | None = None  # fides_meta.namespace.schema: qualify table names with it
    warnings: tuple[str, ...] = ()

    @property
    def accepts(self) -> frozenset[IdentityType]:
        return frozenset(lookup.identity for lookup in self.lookups)

    @property
    def reveals(self) -> frozenset[IdentityType]:
        return frozenset(kind for _, _, kind in self.revealing())

    def revealing(self) -> Iterator[tuple[CollectionPlan, FieldPlan, IdentityType]]:
        for collection in self.collections.values():
            for f in collection.fields:
                for kind in {f.identity, f.reveals, *(v.identity for v in f.variants.values())}:
                    if kind is not None:
                        yield collection, f, kind

    def sources(self) -> Mapping[str, Source]:
        return MappingProxyType({name: c.source() for name, c in self.collections.items()})

    def belongs(self, edge: Edge) -> bool:
        """True for a `parent` reference, either way: one of the two rows belongs to the other."""
        return self.collections[edge.source].parent == edge.source_field or \
            self.collections[edge.target].parent == edge.target_field

    def outgoing(self, collection: str) -> tuple[Edge, ...]:
        return self.outgoing_edges.get(collection, ())

    @cached_property
    def outgoing_edges(self) -> Mapping[str, tuple[Edge, ...]]:
        return MappingProxyType({name: tuple(e for e in self.edges if e.source == name) for name in self.collections})

    @cached_property
    def references(self) -> Mapping[tuple[str, str], Edge]:
        """(collection, field) → the edge to the row that field references, for every field with a reference."""
        out = {}
        for name, collection in self.collections.items():
            for fname in collection.names:
                edge = _referenced(self, name, fname)
                if edge is not None:
                    out[(name, fname)] = edge
        return MappingProxyType(out)


def referenced(plan: Plan, collection: str, fname: str) -> Edge | None:
    """The edge from `collection.fname` to the row it references (for parents and event dates)."""
    return plan.references.get((collection, fname))


def _referenced(plan: Plan, collection: str, fname: str) -> Edge | None:
    for edge in plan.edges:
        if edge.source == collection and edge.source_field == fname:
            return edge
        if edge.target == collection and edge.target_field == fname:
            return Edge(collection, fname, edge.source, edge.source_field)
    return None
