"""The letter's context for one request, built in one place: the package's letter and the DPO's draft
in the review bundle must say the same thing about the same records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from connectors.contract import Record
from dsar_pipeline.collection.collect import SystemResult, SystemStatus
from dsar_pipeline.intake.deadlines import controller_today
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.letter.context import LetterContext
from dsar_pipeline.letter.summary import FoundData
from dsar_pipeline.profiles import load_profile


def request_letter_context(facts: RequestFacts, results: Mapping[str, SystemResult], released: Iterable[Record],
                           withheld: Mapping[str, int], rules: Mapping[tuple[str, str], str],
                           today: date | None = None, now: datetime | None = None) -> LetterContext:
    """What the letter says: the released records, what was held back and why (Art. 15(4)), how each
    of the controller's systems answered, and the request's dates."""
    profile = load_profile(facts.controller)
    found = FoundData(rules=rules).add_all(released)
    for kind, count in withheld.items():
        found.hold_back(kind, count)  # type: ignore[arg-type]
    statuses = {name: ("failed" if results[name].status is SystemStatus.FAILED else "complete")
                for name in profile.systems if name in results}
    return LetterContext(profile=profile, language=facts.language, request_id=facts.request_id,  # type: ignore[arg-type]
                         received_on=facts.received_date, due_on=facts.due_date,
                         answered_on=today or controller_today(facts.controller, now),
                         **found.context_fields(statuses))
