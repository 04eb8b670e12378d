"""The draft Art. 15 letter in the review bundle, and where each of its statements comes from.

The draft's context comes from the same function as the package's letter
(`letter.request_context.request_letter_context`), for the scope the package takes when the DPO
includes nothing under review: the released records, other people's records and every record under
review counted as held back. One difference, stated in the bundle: the counts of staff identities
and other people's names redacted *inside* call metadata and transcripts are only known once the
recordings are written into the package, so the draft counts only the fields FoundData sees.

Sources: every fact of a controller profile that the letter states carries the notice's paragraphs
(`notice:`; for retention, `basis:` with the notice's line and any choice made). A statement whose
profile entry has no notice reference, or whose basis says it is our choice, or whose safeguard the
notice does not state (`from_notice: false`), is shown as "our reading (not from the notice)".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from connectors.categories import CATEGORIES
from dsar_pipeline.collection.collect import SystemResult
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.letter import SECTION_IDS, LetterContext, render_letter
from dsar_pipeline.letter.facts import Retention, Text
from dsar_pipeline.letter.render import retention_text
from dsar_pipeline.letter.request_context import request_letter_context
from dsar_pipeline.letter.words import Words, strings
from dsar_pipeline.review.findings import ReviewOutcome, released_records, source_rules

NOTICE = "notice"
OURS = "our reading (not from the notice)"
DATA = "this request's records"
REVIEW = "this request's review"
SECTION_KEYS = dict(zip(SECTION_IDS, ("h_1a", "h_1b", "h_1c", "h_1d", "h_1e", "h_1f", "h_1g", "h_1h", "h_2", "h_3",
                                      "h_4"), strict=True))


class LetterLayoutError(ValueError):
    """The rendered letter is not the single HTML document the bundle embeds (its body not found)."""


@dataclass(frozen=True)
class Statement:
    """One thing the letter says, in English and in the letter's language, and where it comes from."""

    section: str  # art15-… (the letter's section id)
    heading: str  # the section's English heading
    text: str  # English
    letter_text: str | None  # in the letter's language, when that is not English
    kind: str  # NOTICE | OURS | DATA | REVIEW
    source: str  # e.g. "profile enefit-ee purposes.contract; notice 4.2.1.1–4.2.1.5"


@dataclass(frozen=True)
class DraftLetter:
    language: str
    body: Markup  # the letter's own <body> content, escaped by the letter's renderer
    statements: tuple[Statement, ...]
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
    return DraftLetter(language=context.language, body=letter_body(render_letter(context)),
                       statements=tuple(statements(context)),
                       notice=f"{notice.seed} ({notice.language}{in_force})", withheld=dict(context.withheld))


def letter_body(html: str) -> Markup:
    """What is inside the letter's <body>: the letter renderer escaped every value in it already."""
    _head, marker, rest = html.partition("<body>")
    body, end, _ = rest.rpartition("</body>")
    if not marker or not end or "<body" in body:
        raise LetterLayoutError("the rendered letter has no single <body> to embed")
    return Markup(body)  # noqa: S704 - produced by render_letter, whose environment autoescapes every value


def statements(c: LetterContext) -> list[Statement]:
    """Every statement of the letter with its source, in the letter's order."""
    en = Words("en")
    lang = c.language
    profile = c.profile.id
    out: list[Statement] = []

    def add(section: str, text: Text | str, kind: str, source: str) -> None:
        heading = str(strings("en")[SECTION_KEYS[section]])
        if isinstance(text, Text):
            english, local = text.en, (text.get(lang) if lang != "en" else None)
        else:
            english, local = text, None
        out.append(Statement(section, heading, english, local, kind, source))

    def noted(where: str, notice: str | None) -> tuple[str, str]:
        if notice:
            return NOTICE, f"profile {profile} {where}; notice {notice}"
        return OURS, f"profile {profile} {where} (no notice reference)"

    for key, purpose in c.purposes():
        bases = ", ".join(f"Art. 6(1)({b})" for b in purpose.basis)
        add("art15-1a", Text(**{lg: f"{purpose.text.get(lg)} [{bases}]" for lg in ("et", "lv", "ru", "en")}),
            *noted(f"purposes.{key}", purpose.notice))
    if not c.purposes():
        add("art15-1a", "No purpose stated (no data found).", DATA, "the records found")
    found = [CATEGORIES[name] for name in CATEGORIES if name in c.found_categories]
    add("art15-1b", "Categories found: " + (", ".join(found) if found else "none"), DATA,
        "the fields of the released records (each connector declares the category of every field)")
    for key, party in c.recipients():
        involved = c.involved(party)
        add("art15-1c", party.text, *noted(f"recipients.{key}", party.notice))
        if involved:
            add("art15-1c", f"In this case: {', '.join(involved)}", DATA, "the released records")
    for rule, entry in c.retention():
        kind, source = _retention_source(profile, rule, entry)
        add("art15-1d", f"{en.sub('rules', rule)}: {retention_text(en, rule, entry)}", kind, source)
    add("art15-1e", "The rights of Art. 16–22 (standard wording), chosen by the legal bases of the purposes above; "
        "contact: " + ", ".join(c.facts.dpo.channels() or c.facts.customer_service.channels()), OURS,
        f"letter string tables; contacts from profile {profile} dpo / customer_service")
    authority = c.facts.supervisory_authority
    add("art15-1f", f"Complaint to {authority.name} ({authority.url})", OURS,
        f"profile {profile} supervisory_authority (no notice reference)")
    for key, party in c.sources():
        add("art15-1g", party.text, *noted(f"sources.{key}", party.notice))
        involved = c.involved(party)
        if involved:
            add("art15-1g", f"In this case: {', '.join(involved)}", DATA, "the released records")
    for decision, automated in c.decisions_with_facts():
        label = automated.title.en if automated is not None else decision.kind
        outcome = f", {decision.outcome}" if decision.outcome else ""
        add("art15-1h", f"{label} on {decision.on.isoformat()}{outcome}", DATA, "the released records")
        if automated is not None:
            add("art15-1h", automated.logic, *noted(f"automated.{decision.kind}", automated.notice))
        else:
            add("art15-1h", "Decision explained in general terms (the profile has no entry for it)", OURS,
                "letter string tables")
    for key, automated in c.other_automated():
        add("art15-1h", automated.logic, *noted(f"automated.{key}", automated.notice))
    for key, transfer in c.transfers():
        add("art15-2", transfer.text, *noted(f"transfers.{key}", transfer.notice))
        if transfer.from_notice:
            add("art15-2", transfer.safeguard, *noted(f"transfers.{key}.safeguard", transfer.notice))
        else:
            add("art15-2", transfer.safeguard, OURS, f"profile {profile} transfers.{key}.safeguard "
                "(from_notice: false)")
    add("art15-3", "Copy: " + ", ".join(sorted(c.copy_parts())) + ("" if c.is_copy_complete else " (incomplete: "
        + ", ".join(s.system for s in c.failed_systems) + ")"), DATA, "the released records and system statuses")
    withheld = ", ".join(f"{kind} {count}" for kind, count in c.withheld_items()) or "nothing"
    add("art15-4", f"Withheld: {withheld}", REVIEW,
        "the review outcome (other people's records, records under review) and third-party fields")
    stated = {s.section for s in out}
    for section in SECTION_IDS:  # a section the profile gives nothing for says so, from what was found
        if section not in stated:
            add(section, "Nothing of the profile applies to the data found: the letter says so", DATA,
                "the released records")
    order = {section: n for n, section in enumerate(SECTION_IDS)}
    return sorted(out, key=lambda s: order[s.section])


def _retention_source(profile: str, rule: str, entry: Retention | None) -> tuple[str, str]:
    if entry is None:
        return OURS, f"profile {profile} has no retention entry for {rule}: the standard criteria"
    kind = OURS if "choice" in entry.basis.lower() else NOTICE
    return kind, f"profile {profile} retention.{rule}: {entry.basis}"


__all__ = ["DATA", "NOTICE", "OURS", "REVIEW", "DraftLetter", "LetterLayoutError", "Statement", "draft_letter",
           "draft_letter_context", "letter_body", "statements"]
