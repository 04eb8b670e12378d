"""The draft Art. 15 letter in the review bundle: the DPO's review copy, and what is left to confirm.

The draft's context comes from the same function as the package's letter
(`letter.request_context.request_letter_context`), for the scope the package takes when the DPO
includes nothing under review: the released records, other people's records and every record under
review counted as held back. One difference, stated in the bundle: the counts of staff identities
and other people's names redacted *inside* call metadata and transcripts are only known once the
recordings are written into the package, so the draft counts only the fields FoundData sees.

The review copy (`render_letter(context, sources=True)`) is the letter the customer would receive,
with the source of each paragraph and list item beside it — the notice's section, "our reading,
confirmed by X on D", the GDPR article of a standard wording, or our search — so the DPO can check it
line by line against the notice (issue 14). "To confirm" lists what the letter leaves out because it
is our reading and nobody has confirmed it (`from_notice: false` without `confirmed_by`/`confirmed_on`),
with the sentence that would be printed once the profile records the DPO's confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from dsar_pipeline.collection.collect import SystemResult
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.letter import LetterContext, render_letter
from dsar_pipeline.letter.provenance import Unconfirmed, to_confirm
from dsar_pipeline.letter.request_context import request_letter_context
from dsar_pipeline.review.findings import ReviewOutcome, released_records, source_rules


class LetterLayoutError(ValueError):
    """The rendered letter is not the single HTML document the bundle embeds (its body not found)."""


@dataclass(frozen=True)
class DraftLetter:
    language: str
    body: Markup  # the review copy's own <body> content, escaped by the letter's renderer
    to_confirm: tuple[Unconfirmed, ...]
    notice: str  # the notice the profile was written from
    withheld: dict[str, int]


def draft_letter_context(facts: RequestFacts, results: Mapping[str, SystemResult], outcome: ReviewOutcome,
                         today: date | None = None) -> LetterContext:
    """The letter's context as the package builds it when the DPO includes nothing under review
    (the staff names redacted inside call transcripts are counted only when the package is staged)."""
    withheld = {"other_person": outcome.counts.get("other_person", 0), "unconfirmed_match": len(outcome.causes)}
    return request_letter_context(facts, results, released_records(results, outcome),
                                  {k: v for k, v in withheld.items() if v}, source_rules(), today)


def draft_letter(facts: RequestFacts, results: Mapping[str, SystemResult], outcome: ReviewOutcome,
                 today: date | None = None) -> DraftLetter:
    context = draft_letter_context(facts, results, outcome, today)
    notice = context.facts.notice
    in_force = f", in force from {notice.in_force_from.isoformat()}" if notice.in_force_from else ""
    return DraftLetter(language=context.language, body=letter_body(render_letter(context, sources=True)),
                       to_confirm=tuple(to_confirm(context)),
                       notice=f"{notice.seed} ({notice.language}{in_force})", withheld=dict(context.withheld))


def letter_body(html: str) -> Markup:
    """What is inside the letter's <body>: the letter renderer escaped every value in it already."""
    _head, marker, rest = html.partition("<body>")
    body, end, _ = rest.rpartition("</body>")
    if not marker or not end or "<body" in body:
        raise LetterLayoutError("the rendered letter has no single <body> to embed")
    return Markup(body)  # noqa: S704 - produced by render_letter, whose environment autoescapes every value


__all__ = ["DraftLetter", "LetterLayoutError", "draft_letter", "draft_letter_context", "letter_body"]
