"""Which collected records go to the person, which wait for the DPO, which are someone else's.

The anchor is the request's personal code (the one its eID signature verified; for a request
awaiting manual verification, the one it names, and the DPO must approve before anything goes).

- other_person: the record holds a personal code other than the anchor (a household member's
  portal account found through the shared phone, the stranger behind a customer number somebody
  typed into a form), or any personal code when the request names none: withheld, reported to the
  DPO. A record that belongs to such a record (a Volt session under its account) shares its fate.
- release: reached through a strong identifier (bound to the anchor), or holding the anchor itself
  (a system shows the identifier that found it belongs to the anchor); a record that belongs to a
  released record is released with it;
- review: reached only through weak identifiers (e-mail, phone: `weak_match`) or only through
  identifiers the ticket claims and no record binds to the anchor (`unbound_identifier`); never
  released without the DPO.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from connectors.contract import Record
from connectors.identity import IdentityType, InvalidIdentifier, Strength, normalise

PERSONAL_CODE_CATEGORY = "user.government_id.national_identification_number"


class Disposition(StrEnum):
    RELEASE = "release"
    REVIEW = "review"
    OTHER_PERSON = "other_person"


class ReviewCause(StrEnum):
    """Why a record in review was not released on its own."""

    WEAK_MATCH = "weak_match"
    UNBOUND_IDENTIFIER = "unbound_identifier"


def classify(records: Iterable[Record], anchor: str | None) -> dict[tuple[str, str, str], Disposition]:
    """Disposition of every record by `Record.ref`; each decided after the records it belongs to.

    `anchor` is the request's personal code in `Identifier` form (None when the request names none).
    Fails closed: two records under one ref get the worse of their dispositions, and a record whose
    parent was not collected (or whose parents form a cycle) is never released without the DPO.
    """
    own: dict[tuple[str, str, str], Disposition] = {}
    parents: dict[tuple[str, str, str], tuple[str, str, str] | None] = {}
    for record in records:
        mine = _own_disposition(record, anchor)
        own[record.ref] = _worse(own[record.ref], mine) if record.ref in own else mine
        parent = (record.system, *record.parent) if record.parent else None
        if record.ref in parents and parents[record.ref] != parent:
            own[record.ref] = _worse(own[record.ref], Disposition.REVIEW)
        parents.setdefault(record.ref, parent)
    decided: dict[tuple[str, str, str], Disposition] = {}
    for ref in own:
        _decide(ref, own, parents, decided)
    return decided


def _decide(ref: tuple[str, str, str], own: dict[tuple[str, str, str], Disposition],
            parents: dict[tuple[str, str, str], tuple[str, str, str] | None],
            decided: dict[tuple[str, str, str], Disposition]) -> Disposition:
    """Walk up to the first decided ancestor (or the root), then decide downwards."""
    chain = [ref]
    while (parent := parents[chain[-1]]) is not None and parent in own and parent not in decided:
        if parent in chain:  # records that belong to each other: none is released without the DPO
            for member in chain[chain.index(parent):]:
                decided[member] = _worse(own[member], Disposition.REVIEW)
            break
        chain.append(parent)
    for current in reversed(chain):
        if current in decided:
            continue
        mine, parent = own[current], parents[current]
        if parent is None:
            decided[current] = mine
        elif parent not in own or parent not in decided:  # not collected, or part of a cycle
            decided[current] = _worse(mine, Disposition.REVIEW)
        elif decided[parent] is Disposition.OTHER_PERSON:
            decided[current] = Disposition.OTHER_PERSON
        elif decided[parent] is Disposition.RELEASE and mine is Disposition.REVIEW:
            decided[current] = Disposition.RELEASE
        else:
            decided[current] = mine
    return decided[ref]


_SEVERITY = {Disposition.RELEASE: 0, Disposition.REVIEW: 1, Disposition.OTHER_PERSON: 2}


def _worse(a: Disposition, b: Disposition) -> Disposition:
    return a if _SEVERITY[a] >= _SEVERITY[b] else b


def review_cause(record: Record) -> ReviewCause:
    """Why a record that is not released waits: the best path that reached it was weak or unbound."""
    return ReviewCause.UNBOUND_IDENTIFIER if record.strength is Strength.UNBOUND else ReviewCause.WEAK_MATCH


def personal_codes(record: Record) -> set[str]:
    """Every personal code the record holds, normalised (values that are not one are ignored)."""
    codes = set()
    for name, value in record.fields.items():
        if record.categories.get(name) == PERSONAL_CODE_CATEGORY and value:
            try:
                codes.add(normalise(IdentityType.PERSONAL_CODE, str(value)))
            except InvalidIdentifier:
                continue
    return codes


def _own_disposition(record: Record, anchor: str | None) -> Disposition:
    held = personal_codes(record)
    if held - ({anchor} if anchor else set()):
        return Disposition.OTHER_PERSON
    if record.strength is Strength.STRONG or (anchor is not None and anchor in held):
        return Disposition.RELEASE
    return Disposition.REVIEW
