"""Which collected records go to the person, which wait for the DPO, which are someone else's.

- release: reached through at least one strong identifier;
- review: reached only through weak identifiers (e-mail, phone) — never released on its own;
- other_person: the record names a different personal code than the subject's (a household
  member's portal account found through the shared phone): withheld, reported to the DPO.
A record that belongs to another record (a Volt session under its account) shares its parent's fate
when the parent is someone else's.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from connectors.contract import Record
from connectors.identity import IdentityType, InvalidIdentifier, normalise

PERSONAL_CODE_CATEGORY = "user.government_id.national_identification_number"


class Disposition(StrEnum):
    RELEASE = "release"
    REVIEW = "review"
    OTHER_PERSON = "other_person"


def classify(records: Iterable[Record], subject_codes: set[str]) -> dict[tuple[str, str, str], Disposition]:
    """Disposition of every record by `Record.ref`; parents are decided before their children."""
    decided: dict[tuple[str, str, str], Disposition] = {}
    pending = list(records)
    for record in pending:
        decided[record.ref] = _own_disposition(record, subject_codes)
    for record in pending:
        if record.parent and decided.get((record.system, *record.parent)) is Disposition.OTHER_PERSON:
            decided[record.ref] = Disposition.OTHER_PERSON
    return decided


def _own_disposition(record: Record, subject_codes: set[str]) -> Disposition:
    """Without a known personal code of the subject nothing can be told apart: weak is review."""
    for name, value in record.fields.items() if subject_codes else ():
        if record.categories.get(name) == PERSONAL_CODE_CATEGORY and value:
            try:
                code = normalise(IdentityType.PERSONAL_CODE, str(value))
            except InvalidIdentifier:
                continue
            if code not in subject_codes:
                return Disposition.OTHER_PERSON
    return Disposition.RELEASE if record.strength == "strong" else Disposition.REVIEW
