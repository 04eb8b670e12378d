"""Write the Art. 15 letter (HTML) from a ``LetterContext``.

The letter is built in two steps: ``_view`` turns the context into the sentences and rows of each
section (all tailoring decisions are here, in Python, where they are tested), and the Jinja2
template lays them out. The HTML is self-contained — inline CSS, no scripts, images, fonts or style
sheets from elsewhere — so it opens offline and prints cleanly. Each Art. 15 element is its own
``<section>`` with a stable id (``art15-1a`` … ``art15-1h``, ``art15-2``, ``art15-3``, ``art15-4``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from connectors.categories import CATEGORIES

from .context import LetterContext
from .facts import Automated, Retention
from .words import Words

TEMPLATES = Path(__file__).with_name("templates")
SECTION_IDS: tuple[str, ...] = (
    "art15-1a", "art15-1b", "art15-1c", "art15-1d", "art15-1e", "art15-1f", "art15-1g", "art15-1h",
    "art15-2", "art15-3", "art15-4",
)
"""The stable anchors of the letter's Art. 15 sections, in order."""


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


@dataclass
class Section:
    """One Art. 15 section: a heading and blocks (paragraphs, lists, tables) in reading order."""

    id: str
    ref: str
    heading: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def p(self, text: Markup | str, css: str | None = None) -> None:
        self.blocks.append({"kind": "p", "text": text, "css": css})

    def ul(self, items: list[dict[str, Any]]) -> None:
        """A list; each item has ``text`` and optionally ``label`` (before it) and ``detail`` (under it)."""
        if items:
            self.blocks.append({"kind": "ul", "items": [{"label": None, "detail": None, **i} for i in items]})

    def table(self, head: list[str], rows: list[list[Any]]) -> None:
        """A table; a cell is a string or a list of strings (shown as lines)."""
        self.blocks.append({"kind": "table", "head": head, "rows": rows})


def render_letter(context: LetterContext) -> str:
    """The letter as one self-contained HTML document in ``context.language``."""
    return _environment().get_template("letter.html.j2").render(**_view(context))


# -- the view ----------------------------------------------------------------------------------------


def _view(c: LetterContext) -> dict[str, Any]:
    w = Words(c.language)
    facts = c.facts
    controller = facts.legal_name
    contact = _contact(c, w)
    due = w.date(c.due_on)
    failed = w.join([w.sub("systems", s.system) for s in c.failed_systems])
    sections = [
        _purposes(c, w), _categories(c, w), _recipients(c, w), _retention(c, w),
        _rights(c, w, contact), _complaint(c, w), _sources(c, w), _automated(c, w),
        _transfers(c, w), _copy(c, w, failed, due), _withheld(c, w),
    ]
    assert tuple(s.id for s in sections) == SECTION_IDS
    if c.holds_data:
        confirmation = w("confirm_yes", controller=controller)
    elif c.failed_systems:
        confirmation = w("confirm_no_incomplete")
    else:
        confirmation = w("confirm_no", controller=controller)
    identity = [controller]
    if facts.registration_number:
        identity.append(str(w("registration", number=facts.registration_number)))
    if facts.address:
        identity.append(facts.address)
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
        "confirmation": confirmation,
        "systems": [{"name": w.sub("systems", s.system), "failed": s.status == "failed",
                     "status": w.table["status_failed" if s.status == "failed" else "status_complete"],
                     "records": w.number(s.records)} for s in c.ordered_systems],
        "incomplete": w("incomplete", systems=failed, due=due) if c.failed_systems else None,
        "sections": sections,
        "closing": w("closing", contact=contact),
        "identity": identity,
    }


def _section(w: Words, sid: str, heading_key: str) -> Section:
    tail = sid.removeprefix("art15-")
    ref = w("ref_1", point=tail[1]) if tail.startswith("1") else w("ref_n", n=tail)
    return Section(id=sid, ref=str(ref), heading=str(w.table[heading_key]))


def _purposes(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-1a", "h_1a")
    purposes = c.purposes()
    if not purposes:
        s.p(w("none_1a"))
        return s
    s.p(w("p_1a"))
    s.ul([{"text": purpose.text.get(c.language),
           "detail": f"{w.table['basis_label']} {'; '.join(w.sub('basis', b) for b in purpose.basis)}"}
          for _, purpose in purposes])
    return s


def _categories(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-1b", "h_1b")
    rows: list[list[Any]] = []
    for search in c.ordered_systems:
        found = [name for name in CATEGORIES if name in search.listed_categories]
        if search.records and found:
            rows.append([w.sub("systems", search.system), [w.category(name) for name in found]])
    if not c.holds_data or not rows:
        s.p(w("none_1b"))
        return s
    s.p(w("p_1b"))
    s.table([w.table["th_system"], w.table["th_categories"]], rows)
    return s


def _recipients(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-1c", "h_1c")
    recipients = c.recipients()
    if not recipients:
        s.p(w("none_1c"))
        return s
    s.p(w("p_1c"))
    items = []
    for _, party in recipients:
        details = [w.table["processor"]] if party.processor else []
        involved = c.involved(party)
        if involved:
            details.append(str(w("in_your_case", names=w.join(list(involved)))))
        items.append({"text": party.text.get(c.language), "detail": " — ".join(details) or None})
    s.ul(items)
    return s


def retention_text(w: Words, rule: str, entry: Retention | None) -> str:
    """How long a rule keeps data, in the letter's words (the review bundle uses it in English)."""
    if entry is None:
        return w.sub("criteria", "not_stated")
    if entry.period is not None:
        period = w.period(entry.period)
        if entry.counted_from == "contract_end":
            return str(w("after_contract_end", period=period))
        return str(w("counted", period=period, start=w.sub("rule_start", rule)))
    if isinstance(entry.criteria, str):
        return w.sub("criteria", entry.criteria)
    return entry.criteria.get(w.language) if entry.criteria is not None else w.sub("criteria", "not_stated")


def _retention(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-1d", "h_1d")
    entries = c.retention()
    if not entries:
        s.p(w("none_1d"))
        return s
    s.p(w("p_1d"))
    s.ul([{"label": w.sub("rules", rule), "text": retention_text(w, rule, entry),
           "detail": entry.note.get(c.language) if entry is not None and entry.note is not None else None}
          for rule, entry in entries])
    return s


def _rights(c: LetterContext, w: Words, contact: Markup) -> Section:
    s = _section(w, "art15-1e", "h_1e")
    bases = {b for _, p in c.purposes() for b in p.basis}
    keys = ["right_rectification", "right_erasure", "right_restriction"]
    if "f" in bases or "e" in bases or not c.holds_data:
        keys.append("right_objection")
    keys.append("right_portability")
    if "a" in bases or not c.holds_data:
        keys.append("right_withdraw")
    if c.decisions:
        keys.append("right_automated")
    texts = [str(w.table[key]) for key in keys]
    texts[-1] = texts[-1].rstrip(";") + ("" if texts[-1].endswith(".") else ".")
    s.p(w("p_1e"))
    s.ul([{"text": text} for text in texts])
    s.p(w("how_to_exercise", contact=contact))
    return s


def _complaint(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-1f", "h_1f")
    authority = c.facts.supervisory_authority
    s.p(w("p_1f"))
    lines = [authority.name, authority.address, authority.email, authority.phone, authority.url]
    s.ul([{"text": line} for line in lines if line])
    s.p(w("courts"))
    return s


def _sources(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-1g", "h_1g")
    sources = c.sources()
    if not sources:
        s.p(w("none_1g"))
        return s
    s.p(w("p_1g"))
    items = []
    for _, party in sources:
        involved = c.involved(party)
        items.append({"text": party.text.get(c.language),
                      "detail": str(w("in_your_case", names=w.join(list(involved)))) if involved else None})
    s.ul(items)
    return s


def _explained(w: Words, language: str, facts: Automated) -> dict[str, Any]:
    return {"label": facts.title.get(language),  # type: ignore[arg-type]
            "text": f"{w.table['logic']} {facts.logic.get(language)}",  # type: ignore[arg-type]
            "detail": f"{w.table['consequences']} {facts.consequences.get(language)}"}  # type: ignore[arg-type]


def _automated(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-1h", "h_1h")
    decisions = c.decisions_with_facts()
    if decisions:
        s.p(w("p_1h_decisions"))
        rows: list[list[Any]] = []
        explained: dict[str, dict[str, Any]] = {}
        for decision, facts in decisions:
            outcome = decision.outcome or ""
            rows.append([w.date(decision.on), facts.title.get(c.language) if facts else decision.kind,
                         w.table["outcomes"].get(outcome, outcome)])
            if facts is not None:
                explained.setdefault(decision.kind, _explained(w, c.language, facts))
        s.table([w.table["th_date"], w.table["th_decision"], w.table["th_outcome"]], rows)
        s.ul(list(explained.values()))
        if any(facts is None for _, facts in decisions):
            s.p(w("decision_fallback"))
    else:
        s.p(w("no_decisions"))
    others = c.other_automated()
    if others:
        s.p(w("p_1h_profiling"))
        s.ul([_explained(w, c.language, a) for _, a in others])
    return s


def _transfers(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-2", "h_2")
    transfers = c.transfers()
    if not transfers:
        s.p(w("none_2"))
        return s
    s.p(w("p_2"))
    s.ul([{"text": t.text.get(c.language), "detail": f"{w.table['safeguard']} {t.safeguard.get(c.language)}"}
          for _, t in transfers])
    return s


def _copy(c: LetterContext, w: Words, failed: str, due: str) -> Section:
    s = _section(w, "art15-3", "h_3")
    parts = c.copy_parts()
    if not c.holds_data and parts <= {"manifest"}:
        s.p(w("copy_none"))
    else:
        s.p(w("p_3"))
        items: list[dict[str, Any]] = [{"text": w.table["copy_letter"]}]
        if "report" in parts:
            items.append({"text": w.table["copy_report"]})
            if "consumption" in parts:
                items.append({"text": w.table["copy_consumption_chart"]})
        if "export" in parts:
            items.append({"text": w.table["copy_export"]})
        if "consumption" in parts:
            items.append({"text": w.table["copy_consumption"]})
        if "recordings" in parts:
            items.append({"text": w("copy_recordings", count=w.number(c.recordings))})
        if "manifest" in parts:
            items.append({"text": w.table["copy_manifest"]})
        s.ul(items)
    s.p(w("copy_encrypted"))
    if not c.is_copy_complete:
        s.p(w("copy_incomplete", systems=failed, due=due) if failed else w("copy_incomplete_other", due=due),
            css="notice")
    return s


def _withheld(c: LetterContext, w: Words) -> Section:
    s = _section(w, "art15-4", "h_4")
    items = c.withheld_items()
    if not items:
        s.p(w("none_4"))
        return s
    s.p(w("p_4"))
    s.table([w.table["th_kind"], w.table["th_count"]],
            [[w.sub("withheld", kind), w.number(count)] for kind, count in items])
    return s


def _contact(c: LetterContext, w: Words) -> Markup:
    dpo, service = c.facts.dpo, c.facts.customer_service
    if dpo.appointed and dpo.channels():
        return w("contact_dpo", channels=w.join(dpo.channels()))
    if dpo.appointed:
        return w("dpo_via_service", channels=w.join(service.channels()))
    return w("contact_service", channels=w.join(service.channels() or dpo.channels()))


__all__ = ["SECTION_IDS", "Section", "render_letter"]
