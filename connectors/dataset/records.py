"""Records from a walk: fields by the dataset's names, categories, provenance, reveals, parent, event date.

Every field the dataset declares is in the record (a field with variants under the name its
discriminator says); the categories come from the dataset. A record's `matched_by` is the walk's
provenance of its row; what it reveals carries that provenance's best path plus this collection, at
the strength of the match, as every connector reveals (`connectors.identity`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from connectors.classification import PERSONAL_CODE_CATEGORY
from connectors.contract import Record
from connectors.dataset.plan import CollectionPlan, Plan, referenced
from connectors.dataset.walk import WalkResult, as_target
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, InvalidIdentifier, Strength, normalise


def records(plan: Plan, system: str, walk: WalkResult) -> Iterator[Record]:
    """Collection by collection in the dataset's order (parents first, as the file lists them), by key."""
    dates = _EventDates(plan, walk)
    owners = Owners(plan, walk)
    for collection in plan.collections.values():
        rows = walk.rows.get(collection.name, {})
        now = datetime.now(UTC)
        for key in _sorted(rows):
            row = rows[key]
            by = tuple(walk.matched_by[(collection.name, key)].values())
            yield Record(system=system, source=collection.name, key=record_key(key),
                         fields=(fields := _fields(system, collection, row)),
                         categories=_categories(collection, row, fields), matched_by=by, retrieved_at=now,
                         reveals=reveals(system, collection, row, by, owners.codes(collection.name, key)),
                         event_date=dates.of(collection, key), parent=_parent_ref(plan, walk, collection, row))


def record_key(key: tuple[Any, ...]) -> str:
    """A row's key as a record key: the value itself for one column, a JSON array for several (so that
    ('x/y', 'z') and ('x', 'y/z') can never be the same record)."""
    if len(key) == 1:
        return str(key[0])
    return json.dumps([part if isinstance(part, int | None) else str(part) for part in key], ensure_ascii=False)


class Owners:
    """The personal codes a row holds, with those of the rows it belongs to (its `parent` chain)."""

    def __init__(self, plan: Plan, walk: WalkResult) -> None:
        self.plan = plan
        self.walk = walk
        self.memo: dict[tuple[str, tuple[Any, ...]], frozenset[str]] = {}

    def codes(self, collection: str, key: tuple[Any, ...]) -> frozenset[str]:
        memo_key = (collection, key)
        if memo_key not in self.memo:
            self.memo[memo_key] = frozenset()  # a cycle of parents ends here
            plan = self.plan.collections[collection]
            row = self.walk.row(collection, key)
            own = {code for f in plan.fields if f.category == PERSONAL_CODE_CATEGORY
                   if (code := _code(row.get(f.name))) is not None}
            parent = _parent_row(self.plan, self.walk, plan, row)
            self.memo[memo_key] = frozenset(own | (self.codes(*parent) if parent else set()))
        return self.memo[memo_key]


def _code(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return normalise(IdentityType.PERSONAL_CODE, str(value))
    except InvalidIdentifier:
        return None


def reveals(system: str, collection: CollectionPlan, row: dict[str, Any],
            matched_by: tuple[Identifier, ...], held_with: frozenset[str] = frozenset()) -> tuple[Identifier, ...]:
    if not matched_by:
        return ()
    strength = Strength.best(matched_by)
    best = min(matched_by, key=lambda i: (-i.strength.rank, len(i.via)))
    via = (*best.via, f"{system}.{collection.name}")
    out: list[Identifier] = []
    for f in collection.revealing:
        value = row.get(f.name)
        if value is None:
            continue
        kinds: list[IdentityType] = [k for k in (f.identity, f.reveals) if k is not None]
        if f.variants_by is not None:
            variant = f.variants.get(str(row.get(f.variants_by)))
            if variant is not None and variant.identity is not None:
                kinds.append(variant.identity)
        for kind in dict.fromkeys(kinds):
            try:
                found = Identifier.of(kind, str(value), via=via, source_strength=strength)
            except InvalidIdentifier:
                continue  # a stored value that is not a usable identifier (a malformed phone)
            out.append(Identifier(found.type, found.value, found.strength, found.via, found.expandable, held_with))
    return tuple(out)


def _fields(system: str, collection: CollectionPlan, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in collection.fields:
        if f.variants_by is None:
            out[f.name] = row[f.name]
            continue
        variant = f.variants.get(str(row.get(f.variants_by)))
        if variant is None:  # the schema allows a meaning the dataset does not describe: it changed
            raise ConnectorError(system, f"{collection.name}.{f.name}: a {f.variants_by} value the dataset "
                                         "does not describe")
        out[variant.field] = row[f.name]
    return out


def _categories(collection: CollectionPlan, row: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
    categories: dict[str, str] = {}
    for f in collection.fields:
        if f.variants_by is None:
            categories[f.name] = f.category
        else:
            variant = f.variants[str(row.get(f.variants_by))]
            categories[variant.field] = variant.category
    return {name: categories[name] for name in fields}


def _parent_row(plan: Plan, walk: WalkResult, collection: CollectionPlan,
                row: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
    """The row this one belongs to, as the walk read it (by the values it matched), or None."""
    if collection.parent is None or row.get(collection.parent) is None:
        return None
    edge = referenced(plan, collection.name, collection.parent)
    if edge is None:
        return None
    target = plan.collections[edge.target]
    value = as_target(target, edge.target_field, row[collection.parent])
    if value is None:
        return None
    if target.key == (edge.target_field,):
        return (edge.target, (value,)) if (value,) in walk.rows.get(edge.target, {}) else None
    keys = walk.reached(edge.target, edge.target_field, value)
    return (edge.target, keys[0]) if keys else None


def _parent_ref(plan: Plan, walk: WalkResult, collection: CollectionPlan,
                row: dict[str, Any]) -> tuple[str, str] | None:
    """The record this one belongs to. A parent the walk did not read is still named (by the value the
    row holds), so the classification sees a missing parent and holds the record for review."""
    parent = _parent_row(plan, walk, collection, row)
    if parent is not None:
        return (parent[0], record_key(parent[1]))
    if collection.parent is None or row.get(collection.parent) is None:
        return None
    edge = referenced(plan, collection.name, collection.parent)
    return (edge.target, f"unread:{row[collection.parent]}") if edge is not None else None


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    return value if isinstance(value, date) else None


class _EventDates:
    """Each row's event date by the collection's `dsar.event_date` rule (memoised: rules may chain)."""

    def __init__(self, plan: Plan, walk: WalkResult) -> None:
        self.plan = plan
        self.walk = walk
        self.memo: dict[tuple[str, tuple[Any, ...]], date | None] = {}

    def of(self, collection: CollectionPlan, key: tuple[Any, ...]) -> date | None:
        memo_key = (collection.name, key)
        if memo_key not in self.memo:
            self.memo[memo_key] = None  # a cycle of rules ends here
            self.memo[memo_key] = self._compute(collection, key)
        return self.memo[memo_key]

    def _compute(self, collection: CollectionPlan, key: tuple[Any, ...]) -> date | None:
        spec = collection.event_date
        if spec is None:
            return None
        row = self.walk.row(collection.name, key)
        if spec.kind == "field":
            return _day(row.get(spec.field))
        if spec.kind == "latest":
            return self._latest(collection, row, spec.collection or "", spec.field, spec.by or "", spec.otherwise)
        edge = referenced(self.plan, collection.name, spec.field)
        if edge is None or row.get(spec.field) is None:
            return None
        keys = self._referenced_keys(edge.target, edge.target_field, row[spec.field])
        if not keys:
            return None
        target = self.plan.collections[edge.target]
        if spec.kind == "ref_event":
            return self.of(target, keys[0])
        return _day(self.walk.row(edge.target, keys[0]).get(spec.other or ""))

    def _referenced_keys(self, target: str, fname: str, value: Any) -> list[tuple[Any, ...]]:
        plan = self.plan.collections[target]
        rows = self.walk.rows.get(target, {})
        if plan.key == (fname,):
            return [(value,)] if (value,) in rows else []
        return [key for key, row in rows.items() if row.get(fname) == value]

    def _latest(self, collection: CollectionPlan, row: dict[str, Any], other: str, date_field: str, by: str,
                otherwise: str | None) -> date | None:
        """Latest `date_field` of the `other` rows whose `by` references this row; None while one is null."""
        edge = referenced(self.plan, other, by)
        if edge is None or edge.target != collection.name:
            return None
        mine = row.get(edge.target_field)
        dates = [r.get(date_field) for r in self.walk.rows.get(other, {}).values() if r.get(by) == mine]
        if not dates:
            return _day(row.get(otherwise)) if otherwise else None
        if any(d is None for d in dates):
            return None
        return max(d for d in (_day(d) for d in dates) if d is not None)


def _sorted(rows: dict[tuple[Any, ...], Any]) -> list[tuple[Any, ...]]:
    try:
        return sorted(rows)
    except TypeError:  # mixed key types (a NULL in a composite key): a stable order all the same
        return sorted(rows, key=lambda key: tuple(str(part) for part in key))
