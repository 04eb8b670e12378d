"""The walk: from the request's identifiers, follow the dataset's references until nothing new is reached.

Two phases, so that no query is repeated and no row's provenance is lost:

1. Reading. Entry lookups ask each identity field for the identifiers of its type (in every written
   form the field declares); then, round by round, every reference is followed with the values the
   rows read so far hold — each (collection, field, value) asked once, all values of a round in one
   IN list per field, read in keyset pages. Reading a row by its primary key is skipped when that row
   was read already. Identifiers the rows reveal (a phone in a person row) are never asked here: they
   go to the pipeline's identity rounds, which decide whether they may be searched at all.
2. Provenance. Each row is tagged with the request identifiers that reach it: the entry rows with the
   identifier that found them, then along every reference edge between the rows read, until no tag
   set grows. A row reached only through a stranger's claimed customer number carries that claim
   alone (unbound), so the pipeline's classification withholds it. Strength passes whole only along
   a `parent` reference (a row and the row it belongs to, either way); any other reference passes it
   as weak at best. A shared row (an address, a household) may be referenced by other people's rows:
   what is reached through it waits for the DPO instead of being released as the person's.

Values are matched back to what was asked by the identity's own normalisation (entry lookups) or by
equality, falling back to case- and trailing-space-insensitive equality for text (MariaDB's default
collations compare that way). A row the database returned that matches nothing asked is dropped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.dataset import statements
from connectors.dataset.plan import UNKEYED_ROWS, CollectionPlan, Lookup, Plan
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, InvalidIdentifier, Strength, latvian_display, normalise
from connectors.sql import values as v

RowId = tuple[str, tuple[Any, ...]]  # (collection, primary key values)
Asked = tuple[str, str]  # (collection, field)
MAX_INTEGER = 2**63 - 1
CHUNK = 500  # values in one IN list


@dataclass
class WalkResult:
    """The rows read (converted values by field name) and the request identifiers that reach each."""

    rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    matched_by: dict[RowId, dict[tuple[IdentityType, str], Identifier]] = field(
        default_factory=lambda: defaultdict(dict))
    hits: dict[tuple[str, str, Any], list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0

    def row(self, collection: str, key: tuple[Any, ...]) -> dict[str, Any]:
        return self.rows[collection][key]

    def reached(self, collection: str, fname: str, value: Any) -> list[tuple[Any, ...]]:
        """Keys of the rows of `collection` whose `fname` equals `value` (as the walk matched them)."""
        return self.hits.get((collection, fname, value_key(value)), [])


def value_key(value: Any) -> Any:
    """How values compare across tables: integers as integers, everything else as text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return str(value)


def content_key(row: dict[str, Any]) -> str:
    """The key of a row of a collection without a primary key: a digest of its values (identical rows are one)."""
    text = json.dumps([repr(row[name]) for name in sorted(row)], ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _loose(value: Any) -> Any:
    return value.casefold().rstrip(" ") if isinstance(value, str) else value


class Walk:
    """One walk over one database; `collections` limits it (identity discovery reads fewer tables)."""

    def __init__(self, plan: Plan, db: Any, page_size: int, collections: Iterable[str] | None = None) -> None:
        self.plan = plan
        self.db = db
        self.page_size = page_size
        self.allowed = set(plan.collections if collections is None else collections)
        self.result = WalkResult()
        self._asked: dict[Asked, set[Any]] = defaultdict(set)
        self._edges: dict[RowId, list[tuple[str, str, Any, bool]]] = defaultdict(list)
        self._pending: dict[Asked, dict[Any, Any]] = defaultdict(dict)

    def run(self, identifiers: Sequence[Identifier]) -> WalkResult:
        started = time.monotonic()
        for lookup in self.plan.lookups:
            if lookup.collection in self.allowed:
                self._enter(lookup, identifiers)
        while self._pending:
            pending, self._pending = self._pending, defaultdict(dict)
            for (collection, fname), values in pending.items():
                self._follow(self.plan.collections[collection], fname, values)
        self._propagate()
        self.result.seconds = time.monotonic() - started
        return self.result

    # -- reading ---------------------------------------------------------------------------------------

    def _enter(self, lookup: Lookup, identifiers: Sequence[Identifier]) -> None:
        by_value: dict[str, Identifier] = {}
        for identifier in identifiers:
            if identifier.type is lookup.identity:
                known = by_value.get(identifier.value)
                if known is None or identifier.outranks(known):
                    by_value[identifier.value] = identifier
        if not by_value:
            return
        collection = self.plan.collections[lookup.collection]
        asked = _forms(collection, lookup, by_value)
        if not asked:
            return
        for row in self._read(collection, lookup.field, asked, lower=lookup.compare == "lower", when=lookup.when):
            identifier = by_value.get(_normalised(lookup.identity, row[lookup.field]))
            if identifier is None:
                continue  # the database matched a value we would not (another form, collation)
            key = self._keep(collection, row)
            _add(self.result.matched_by[(collection.name, key)], identifier)

    def _follow(self, collection: CollectionPlan, fname: str, values: dict[Any, Any]) -> None:
        if collection.key == (fname,):  # rows read already need no query: their key is the value
            known = {value_key(key[0]): key for key in self.result.rows[collection.name]}
            for vkey in [vkey for vkey in values if vkey in known]:
                self.result.hits[(collection.name, fname, vkey)].append(known[vkey])
                del values[vkey]
        if not values:
            return
        loose = {_loose(vkey): vkey for vkey in values}
        for row in self._read(collection, fname, list(values.values())):
            got = value_key(row[fname]) if row[fname] is not None else None
            vkey = got if got in values else loose.get(_loose(got))
            if vkey is None:
                continue
            key = self._keep(collection, row)
            self.result.hits[(collection.name, fname, vkey)].append(key)

    def _read(self, collection: CollectionPlan, fname: str, values: list[Any], *, lower: bool = False,
              when: tuple[str, str] | None = None) -> Iterable[dict[str, Any]]:
        """Every row (converted values by field) whose `fname` is one of `values`, in keyset pages."""
        names = collection.names
        converters = [f.convert for f in collection.fields]
        key_at = [names.index(name) for name in collection.key]
        limit = self.page_size if key_at else UNKEYED_ROWS + 1
        for start in range(0, len(values), CHUNK):
            chunk = values[start:start + CHUNK]
            after: tuple[Any, ...] | None = None
            while True:
                statement = statements.page(collection, self.plan.schema, fname, chunk, lower=lower, when=when,
                                            after=after, limit=limit)
                rows = self.db.fetch(collection.name, statement, {})
                if not key_at and len(rows) > UNKEYED_ROWS:
                    raise ConnectorError(self.db.system, f"{collection.name}: more than {UNKEYED_ROWS} rows for one "
                                                         "query and no primary key to read them in pages")
                for row in rows:
                    yield self._converted(collection, names, converters, row)
                if len(rows) < limit or not key_at:
                    break
                after = tuple(rows[-1][i] for i in key_at)

    def _converted(self, collection: CollectionPlan, names: Sequence[str], converters: Sequence[Any],
                   row: Sequence[Any]) -> dict[str, Any]:
        """The row's values as the dataset types them; a value that is not of its type is a failure of
        the system that names the field, never the value (free text in a date column may be anything)."""
        out: dict[str, Any] = {}
        for name, convert, value in zip(names, converters, row, strict=True):
            try:
                out[name] = convert(value)
            except (TypeError, ValueError, ArithmeticError):
                failed = name
                break
        else:
            return out
        raise ConnectorError(self.db.system, f"{collection.name}.{failed}: a stored value is not of the field's type")

    def _keep(self, collection: CollectionPlan, row: dict[str, Any]) -> tuple[Any, ...]:
        """Remember the row (once) and queue the values its references lead to."""
        key = tuple(row[name] for name in collection.key) if collection.key else (content_key(row),)
        rows = self.result.rows[collection.name]
        if key in rows:
            return key
        rows[key] = row
        for edge in self.plan.outgoing(collection.name):
            if edge.target not in self.allowed:
                continue
            value = as_target(self.plan.collections[edge.target], edge.target_field, row.get(edge.source_field))
            if value is None:
                continue
            vkey = value_key(value)
            self._edges[(collection.name, key)].append((edge.target, edge.target_field, vkey, self.plan.belongs(edge)))
            asked = self._asked[(edge.target, edge.target_field)]
            if vkey not in asked:
                asked.add(vkey)
                self._pending[(edge.target, edge.target_field)][vkey] = value
        return key

    # -- provenance ------------------------------------------------------------------------------------

    def _propagate(self) -> None:
        matched_by = self.result.matched_by
        queue = list(matched_by)
        while queue:
            row = queue.pop()
            mine = list(matched_by[row].values())
            for target, fname, vkey, belongs in self._edges.get(row, ()):
                passed = mine if belongs else [_weak(identifier) for identifier in mine]
                for key in self.result.hits.get((target, fname, vkey), ()):
                    theirs = matched_by[(target, key)]
                    if any([_add(theirs, identifier) for identifier in passed]):
                        queue.append((target, key))


def _add(found: dict[tuple[IdentityType, str], Identifier], identifier: Identifier) -> bool:
    """Keep the best path to each identifier; True when something changed."""
    key = (identifier.type, identifier.value)
    known = found.get(key)
    if known is None or identifier.outranks(known):
        found[key] = identifier
        return True
    return False


def _weak(identifier: Identifier) -> Identifier:
    """The identifier as it reaches a row through a reference that is not a `parent` one."""
    if identifier.strength is not Strength.STRONG:
        return identifier
    return Identifier(identifier.type, identifier.value, Strength.WEAK, identifier.via, identifier.expandable)


def as_target(collection: CollectionPlan, fname: str, value: Any) -> Any:
    """`value` typed as the referenced field (a text column may reference an integer one); None if it cannot be."""
    if value is None:
        return None
    try:
        return collection.field(fname).convert(value)
    except (TypeError, ValueError, ArithmeticError):
        return None


def _normalised(kind: IdentityType, stored: Any) -> str | None:
    if stored is None:
        return None
    try:
        return normalise(kind, str(stored))
    except InvalidIdentifier:
        return None


def _forms(collection: CollectionPlan, lookup: Lookup, by_value: dict[str, Identifier]) -> list[Any]:
    """The values to ask for: each identifier in every written form the field declares, typed as the field."""
    integer = collection.field(lookup.field).convert is v.integer
    out: dict[Any, None] = {}
    for value in sorted(by_value):
        forms = [value]
        if "latvian_hyphen" in lookup.forms:
            forms.append(latvian_display(value))
        for form in forms:
            if integer:
                if not (form.isascii() and form.isdigit()) or str(int(form)) != form or int(form) > MAX_INTEGER:
                    continue  # not a number the column can hold: nothing to ask
                out[int(form)] = None
            else:
                out[form.lower() if lookup.compare == "lower" else form] = None
    return list(out)
