"""A fideslang dataset file, validated and compiled into a `Plan` (connectors.dataset.plan).

The file is validated by fideslang's own `Dataset` model first (so what Fides accepts, we accept, and
what it refuses, we refuse), then checked for what a walk needs and Fides leaves open: references that
name fields of this dataset, known identities and data categories, and our `fides_meta.dsar`
extensions (`connectors.dataset.extensions`). Every problem is one line naming the collection and
field; none quotes a data value (a dataset holds none). Notes that do not stop a walk (no primary key,
no category, a collection nothing reaches) are the plan's warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from connectors.categories import CATEGORIES
from connectors.dataset.categories import UNCATEGORISED, fideslang_categories, record_category
from connectors.dataset.extensions import CollectionExtension, FieldExtension, LatestOf
from connectors.dataset.identities import identity_type
from connectors.dataset.plan import (
    UNKEYED_ROWS,
    CollectionPlan,
    DatasetInvalid,
    Edge,
    EventDate,
    FieldPlan,
    Lookup,
    Plan,
    Variant,
)
from connectors.dataset.values import converter
from connectors.identity import IdentityType
from connectors.retention_rules import RULES


def load_plan(path: str | Path) -> Plan:
    """The compiled dataset in `path`; DatasetInvalid (one line per problem) when it cannot be used."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetInvalid([f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DatasetInvalid([f"{path}: not YAML{where}"]) from None
    return compile_dataset(_one_dataset(raw, path))


def _one_dataset(raw: Any, path: Path) -> dict[str, Any]:
    if isinstance(raw, dict) and isinstance(raw.get("dataset"), list):
        datasets = raw["dataset"]
        if len(datasets) != 1 or not isinstance(datasets[0], dict):
            raise DatasetInvalid([f"{path}: holds {len(datasets)} datasets; one file describes one database"])
        return datasets[0]
    if isinstance(raw, dict) and "fides_key" in raw:
        return raw
    raise DatasetInvalid([f"{path}: not a fideslang dataset file (expected a `dataset:` list)"])


def compile_dataset(raw: dict[str, Any]) -> Plan:
    try:
        from fideslang.models import Dataset  # fideslang's own model: no copy of it
    except ImportError:
        raise DatasetInvalid(["fideslang is not installed: pip install --no-deps 'fideslang==3.1.4' "
                              "(it pins pydantic<2.13; its models work with ours)"]) from None

    try:
        dataset = Dataset.model_validate(raw)
    except ValidationError as exc:
        raise DatasetInvalid([f"{_where(raw, err['loc'])}: {err['msg']}" for err in exc.errors()]) from None
    return _Compiler(dataset, raw).plan()


def _where(raw: Any, loc: tuple[Any, ...]) -> str:
    """A pydantic error location with names instead of list indexes (`collections.customers.fields.id`)."""
    parts: list[str] = []
    node = raw
    for step in loc:
        if isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node):
            node = node[step]
            parts.append(str(node.get("name", step)) if isinstance(node, dict) else str(step))
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(str(step))
    return ".".join(parts) or "dataset"


class _Compiler:
    """Walks the validated dataset once, collecting problems instead of stopping at the first."""

    def __init__(self, dataset: Any, raw: dict[str, Any]) -> None:
        self.dataset = dataset
        self.raw = raw
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.edges: list[Edge] = []
        self.lookups: list[Lookup] = []

    def plan(self) -> Plan:
        raw_collections = {c.get("name"): c for c in self.raw.get("collections") or [] if isinstance(c, dict)}
        declared = {c.name: c for c in self.dataset.collections}
        names = {c.name: [f.name for f in c.fields] for c in self.dataset.collections}
        collections: dict[str, CollectionPlan] = {}
        for name in raw_collections:  # the file's order, not fideslang's sorted one
            if name in declared:
                compiled = self._collection(declared[name], raw_collections[name], names)
                if compiled is not None:
                    collections[name] = compiled
        for collection in collections.values():
            self._check_collection_extension(collection, collections)
        if not self.lookups:
            self.problems.append("dataset: no field has fides_meta.identity: the walk has no entry point")
        self._warn_unreachable(collections)
        if self.problems:
            raise DatasetInvalid(self.problems)
        namespace = (self.dataset.fides_meta.namespace or {}) if self.dataset.fides_meta else {}
        schema = namespace.get("schema") if isinstance(namespace, dict) else None
        return Plan(self.dataset.fides_key, self.dataset.name or self.dataset.fides_key,
                    MappingProxyType(collections), tuple(dict.fromkeys(self.edges)), tuple(self.lookups),
                    schema if isinstance(schema, str) and schema else None, tuple(self.warnings))

    # -- one collection --------------------------------------------------------------------------------

    def _collection(self, collection: Any, raw: dict[str, Any],
                    names: dict[str, list[str]]) -> CollectionPlan | None:
        raw_fields = {f.get("name"): f for f in raw.get("fields") or [] if isinstance(f, dict)}
        by_name = {f.name: f for f in collection.fields}
        fields = []
        for fname in raw_fields:
            compiled = self._field(collection.name, by_name[fname], raw_fields[fname], names)
            if compiled is not None:
                fields.append(compiled)
        key = tuple(f.name for f in fields if f.primary_key)
        if not key:
            self.warnings.append(f"{collection.name}: no primary key: read unpaged (at most {UNKEYED_ROWS} rows a "
                                 "query), its rows identified by their content")
        extension = self._extension(CollectionExtension, raw, collection.name)
        if extension is None:
            return None
        return CollectionPlan(collection.name, collection.description or "", tuple(fields), key,
                              extension.parent, self._event_date(collection.name, extension.event_date),
                              extension.retention_rule)

    def _field(self, collection: str, f: Any, raw: dict[str, Any], names: dict[str, list[str]]) -> FieldPlan | None:
        where = f"{collection}.{f.name}"
        if f.fields:
            self.problems.append(f"{where}: nested fields are for document stores; this connector reads SQL columns")
            return None
        extension = self._extension(FieldExtension, raw, where)
        if extension is None:
            return None
        meta = f.fides_meta
        identity = self._identity(where, meta.identity if meta else None)
        reveals = self._identity(where, extension.reveals)
        variants = self._variants(where, extension, names[collection])
        # With variants, records carry each variant's category; the field's own (for Fides) need only be known.
        category = self._known(where, f.data_categories) if variants else self._category(where, f.data_categories)
        if identity is not None:
            if variants:
                self.problems.append(f"{where}: put the identity on each variant, not on the field")
            self.lookups.append(Lookup(collection, f.name, identity, extension.compare, extension.forms))
        for variant in variants.values():
            if variant.identity is not None:
                self.lookups.append(Lookup(collection, f.name, variant.identity, variant.compare, variant.forms,
                                           (extension.variants.by, variant.value)))  # type: ignore[union-attr]
        for reference in (meta.references or []) if meta else []:
            self._reference(collection, f.name, reference, names)
        return FieldPlan(f.name, category, converter(meta.data_type if meta else None, extension),
                         bool(meta and meta.primary_key), identity, reveals, extension.compare, extension.forms,
                         extension.variants.by if extension.variants else None, MappingProxyType(variants))

    def _variants(self, where: str, extension: FieldExtension, siblings: list[str]) -> dict[str, Variant]:
        if extension.variants is None:
            return {}
        if extension.variants.by not in siblings:
            self.problems.append(f"{where}: variants by {extension.variants.by!r}, which is not a field here")
        out = {}
        for value, variant in extension.variants.values.items():
            category = self._category(f"{where}[{value}]", [variant.category])
            out[value] = Variant(value, variant.field, category, self._identity(f"{where}[{value}]", variant.identity),
                                 variant.compare, variant.forms)
        return out

    def _reference(self, collection: str, fname: str, reference: Any, names: dict[str, list[str]]) -> None:
        where = f"{collection}.{fname}"
        if reference.dataset != self.dataset.fides_key:
            self.problems.append(f"{where}: references dataset {reference.dataset!r}; only references within "
                                 f"this dataset ({self.dataset.fides_key!r}) can be followed")
            return
        target, _, target_field = reference.field.partition(".")
        if target not in names:
            self.problems.append(f"{where}: dangling reference to {reference.field!r}: no collection {target!r}")
            return
        if target_field not in names[target]:
            self.problems.append(f"{where}: dangling reference to {reference.field!r}: "
                                 f"{target!r} has no field {target_field!r}")
            return
        direction = reference.direction.value if reference.direction else None
        if direction in (None, "from"):
            self.edges.append(Edge(target, target_field, collection, fname))
        if direction in (None, "to"):
            self.edges.append(Edge(collection, fname, target, target_field))

    # -- pieces ----------------------------------------------------------------------------------------

    def _extension(self, model: Any, raw: dict[str, Any], where: str) -> Any:
        meta = raw.get("fides_meta") or raw.get("fidesops_meta") or {}
        try:
            return model.model_validate((meta.get("dsar") if isinstance(meta, dict) else None) or {})
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(part) for part in err["loc"])
                self.problems.append(f"{where}: fides_meta.dsar{'.' + loc if loc else ''}: {err['msg']}")
            return None

    def _category(self, where: str, declared: list[str] | None) -> str:
        if not declared:
            self.warnings.append(f"{where}: no data category; recorded as {UNCATEGORISED}")
            return UNCATEGORISED
        try:
            return record_category(declared[0])
        except ValueError as exc:
            self.problems.append(f"{where}: {exc}")
            return UNCATEGORISED

    def _known(self, where: str, declared: list[str] | None) -> str:
        for name in declared or []:
            if name not in CATEGORIES and name not in fideslang_categories():
                self.problems.append(f"{where}: unknown data category {name!r} (neither fideslang's taxonomy nor ours)")
        return UNCATEGORISED

    def _identity(self, where: str, name: str | None) -> IdentityType | None:
        if name is None:
            return None
        try:
            return identity_type(name)
        except KeyError as exc:
            self.problems.append(f"{where}: {exc.args[0]}")
            return None

    def _event_date(self, collection: str, spec: str | LatestOf | None) -> EventDate | None:
        if spec is None:
            return None
        if isinstance(spec, LatestOf):
            target, _, date_field = spec.latest_of.partition(".")
            return EventDate("latest", date_field, collection=target, by=spec.by, otherwise=spec.otherwise)
        head, _, tail = spec.partition(".")
        if not tail:
            return EventDate("field", head)
        if tail == "@event_date":
            return EventDate("ref_event", head)
        return EventDate("ref", head, other=tail)

    def _check_collection_extension(self, c: CollectionPlan, collections: Mapping[str, CollectionPlan]) -> None:
        where = c.name
        if c.retention_rule is not None and c.retention_rule not in RULES:
            self.problems.append(f"{where}: unknown retention rule {c.retention_rule!r}")
        if c.parent is not None and self._referenced(c.name, c.parent) is None:
            self.problems.append(f"{where}: parent {c.parent!r} is not a field with a reference")
        spec = c.event_date
        if spec is None:
            return
        if spec.kind == "latest":
            other = collections.get(spec.collection or "")
            if other is None or spec.field not in other.names or (spec.by or "") not in other.names:
                self.problems.append(f"{where}: event_date latest_of names no field of this dataset")
            if spec.otherwise is not None and spec.otherwise not in c.names:
                self.problems.append(f"{where}: event_date otherwise {spec.otherwise!r} is not a field here")
            return
        if spec.field not in c.names:
            self.problems.append(f"{where}: event_date field {spec.field!r} is not a field here")
        elif spec.kind != "field":
            target = self._referenced(c.name, spec.field)
            if target is None:
                self.problems.append(f"{where}: event_date via {spec.field!r}, which has no reference")
            elif spec.kind == "ref" and spec.other not in collections[target.target].names:
                self.problems.append(f"{where}: event_date {spec.field}.{spec.other}: no such field in {target.target}")

    def _referenced(self, collection: str, fname: str) -> Edge | None:
        """The reference of `collection.fname` to another collection's field (an edge in either direction)."""
        for edge in self.edges:
            if edge.source == collection and edge.source_field == fname:
                return edge
            if edge.target == collection and edge.target_field == fname:
                return Edge(collection, fname, edge.source, edge.source_field)
        return None

    def _warn_unreachable(self, collections: Mapping[str, CollectionPlan]) -> None:
        reached = {lookup.collection for lookup in self.lookups}
        frontier = list(reached)
        while frontier:
            current = frontier.pop()
            for edge in self.edges:
                if edge.source == current and edge.target not in reached:
                    reached.add(edge.target)
                    frontier.append(edge.target)
        for name in collections:
            if name not in reached:
                self.warnings.append(f"{name}: no identity and no reference reaches it: never read")
