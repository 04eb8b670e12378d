"""Our extensions of a fideslang dataset: the `dsar` key inside a field's or collection's `fides_meta`.

fideslang's models ignore keys they do not know, so a file with these extensions still loads in
Fides unchanged; we read them from the same place with these strict models (a misspelt key is a
validation problem, not a silently ignored one). Each covers a need plain references cannot:

Field (`fides_meta.dsar`):
- `compare: lower` — an identity stored as typed (mixed-case e-mail): compared as `lower(column)`.
- `forms: [latvian_hyphen]` — more written forms of an identity value to ask for (a Latvian personal
  code stored as issued, `DDMMYY-NNNNN`, while the request's canonical form has no hyphen). Rows are
  matched back by the identity's own normalisation, so any stored form matches its canonical value.
- `reveals: TYPE` — values of this field are identifiers of the person (reported, never followed in
  the walk); every `identity` field reveals its type already.
- `type: date | timestamp | decimal` (+ `scale`) — a value type fideslang's `data_type` lacks; values
  come back as the same Python type from every back end (SQLite keeps dates as text, money as REAL).
- `variants` — the column's meaning depends on another column of the row (`contacts.value` is an
  e-mail, a phone or an address as `kind` says): per discriminator value, the record field name, its
  data category, and the identity it is an entry point for. A row with another discriminator value is
  an error of the system (its schema changed), never a guess.

Collection (`fides_meta.dsar`):
- `parent: FIELD` — the field whose reference names the row this record belongs to (a contact's
  customer): the pipeline's classification decides children with their parent.
- `event_date` — the day retention counts from: `FIELD` (this row's date or timestamp),
  `FIELD.OTHER` (OTHER of the row FIELD references), `FIELD.@event_date` (that row's own event date),
  or `{latest_of: COLLECTION.FIELD, by: COLLECTION_FK, otherwise: FIELD}` (the latest such date among
  the rows that reference this one — none while one is open, i.e. null — or, when there are none,
  this row's `otherwise`; a customer's data counts from the end of their last contract).
- `retention_rule: RULE` — a key of `connectors.retention_rules.RULES`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Compare = Literal["exact", "lower"]
Form = Literal["latvian_hyphen"]
ValueType = Literal["date", "timestamp", "decimal"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Strict):
    """What the column holds when the discriminator has one value."""

    field: str = Field(description="The record field name for this meaning (e.g. `email`).")
    category: str = Field(description="Its data category.")
    identity: str | None = Field(default=None, description="The identity it is an entry point for.")
    compare: Compare = "exact"
    forms: tuple[Form, ...] = ()


class Variants(_Strict):
    by: str = Field(description="The discriminator column of the same collection (e.g. `kind`).")
    values: dict[str, Variant]


class FieldExtension(_Strict):
    compare: Compare = "exact"
    forms: tuple[Form, ...] = ()
    reveals: str | None = None
    type: ValueType | None = None
    scale: int | None = Field(default=None, ge=0, le=12)
    variants: Variants | None = None


class LatestOf(_Strict):
    latest_of: str = Field(description="COLLECTION.FIELD: a date of the rows that reference this one.")
    by: str = Field(description="The field of that collection that references this row.")
    otherwise: str | None = Field(default=None, description="This row's field when no row references it.")


class CollectionExtension(_Strict):
    parent: str | None = None
    event_date: str | LatestOf | None = None
    retention_rule: str | None = None
