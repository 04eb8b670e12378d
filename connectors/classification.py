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
    """Disposition of every record by `Record.ref`; parents are decided before their children.

    `anchor` is the request's personal code in `Identifier` form (None when the request names none).
    """
    decided: dict[tuple[str, str, str], Disposition] = {}
    pending = list(records)
    for record in pending:
        decided[record.ref] = _own_disposition(record, anchor)
    for record in pending:
        parent = decided.get((record.system, *record.parent)) if record.parent else None
        if parent is Disposition.OTHER_PERSON:
            decided[record.ref] = Disposition.OTHER_PERSON
        elif parent is Disposition.RELEASE and decided[record.ref] is Disposition.REVIEW:
            decided[record.ref] = Disposition.RELEASE
    return decided


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
