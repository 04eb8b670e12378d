"""Write the Art. 15 letter (HTML) from a ``LetterContext``.

The letter is built in two steps: the section builders (``sections_facts``, ``sections_rights``)
turn the context into the sentences and rows of each section — all tailoring decisions are there, in
Python, where they are tested — and the Jinja2 template lays them out. The HTML is self-contained —
inline CSS, no scripts, images, fonts or style sheets from elsewhere — so it opens offline and prints
cleanly. Each Art. 15 element is its own ``<section>`` with a stable id (``art15-1a`` … ``art15-1h``,
``art15-2``, ``art15-3``, ``art15-4``) and an ``<h2>`` heading (the PDF's bookmarks).

``render_letter(context, sources=True)`` writes the DPO's review copy: the same letter with the source
of every paragraph and list item beside it (``provenance``). The customer's letter has none of it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from . import provenance as src
from . import sections_facts as facts_sections
from . import sections_rights as rights_sections
from .blocks import SECTION_IDS, Section
from .context import LetterContext
from .phrases import contact as contact_of
from .phrases import registration, with_country
from .words import Words

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_letter(context: LetterContext, sources: bool = False) -> str:
    """The letter as one self-contained HTML document in ``context.language``; with ``sources``, the
    DPO's review copy (each statement's source beside it)."""
    return _environment().get_template("letter.html.j2").render(**_view(context), sources=sources)


def letter_sections(c: LetterContext) -> list[Section]:
    """The Art. 15 sections of the letter, in order, each with the notice's extra statements for it."""
    w = Words(c.language)
    contact = contact_of(w, c.facts.dpo, c.facts.customer_service)
    due = w.date(c.due_on)
    failed = w.join([w.system(s.system) for s in c.failed_systems])
    sections = [
        facts_sections.purposes(c, w, contact), facts_sections.categories(c, w),
        facts_sections.recipients(c, w, contact), facts_sections.retention(c, w, contact),
        rights_sections.rights(c, w, contact), rights_sections.complaint(c, w),
        facts_sections.sources(c, w, contact), rights_sections.automated(c, w, contact),
        rights_sections.transfers(c, w, contact), rights_sections.copy(c, w, failed, due),
        rights_sections.withheld(c, w),
    ]
    assert tuple(s.id for s in sections) == SECTION_IDS
    for section in sections:
        for key, statement in c.statements(section.id):
            section.p(statement.text.get(c.language),
                      src.of_entry(statement, f"statements.{key}", c.profile.id,
                                   statement.text.en if c.language != "en" else None))
    return sections


def _view(c: LetterContext) -> dict[str, Any]:
    w = Words(c.language)
    facts = c.facts
    controller = facts.legal_name
    contact = contact_of(w, facts.dpo, facts.customer_service)
    due = w.date(c.due_on)
    failed = w.join([w.system(s.system) for s in c.failed_systems])
    if c.holds_data:
        confirmation = w("confirm_yes", controller=controller)
    elif c.failed_systems:
        confirmation = w("confirm_no_incomplete")
    else:
        confirmation = w("confirm_no", controller=controller)
    country = facts.country
    identity = [controller]
    if facts.registration_number:
        identity.append(registration(w, country, facts.registration_number))
    if facts.address:
        identity.append(with_country(w, facts.address, country))
    intro = [{"text": st.text.get(c.language),
              "source": src.of_entry(st, f"statements.{key}", c.profile.id,
                                     st.text.en if c.language != "en" else None)}
             for key, st in c.statements("intro")]
    return {
        "lang": c.language,
        "w": w,
        "title": w.table["title"],
        "meta": [
            (w.table["meta_controller"], controller),
            (w.table["meta_request"], c.request_id),
            (w.table["meta_received"], w.date(c.received_on)),
            (w.table["meta_due"], due),
            (w.table["meta_answered"], w.date(c.answered_on)),
        ],
        "salutation": w("salutation_named", name=c.person_name) if c.person_name else w("salutation"),
        "intro": w("intro", received=w.date(c.received_on)),
        "intro_source": src.letter("the request's date of receipt; the letter's standard wording"),
        "intro_statements": intro,
        "confirmation": confirmation,
        "confirmation_source": src.search("records found per system (Art. 15(1) confirmation)"),
        "systems": [{"name": w.system(s.system), "failed": s.status == "failed",
                     "status": w.table["status_failed" if s.status == "failed" else "status_complete"],
                     "records": w.number(s.records)} for s in c.ordered_systems],
        "systems_source": src.search("every system the controller runs, with its search status and record count"),
        "incomplete": w("incomplete", systems=failed, due=due) if c.failed_systems else None,
        "sections": letter_sections(c),
        "closing": w("closing", contact=contact),
        "closing_source": src.letter("contacts from the profile's dpo / customer_service"),
        "identity": identity,
    }


__all__ = ["SECTION_IDS", "Section", "letter_sections", "render_letter"]
