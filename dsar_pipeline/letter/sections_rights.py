"""Art. 15(1)(e), (f), (h), 15(2), 15(3) and 15(4): rights, complaint, automated decisions,
transfers, the copy and what was withheld."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from . import provenance as src
from .blocks import Section, new_section
from .context import LetterContext
from .facts import Automated
from .phrases import with_country
from .sections_facts import english, negative
from .words import Words

RIGHT_ARTICLES = {"right_rectification": "Art. 16", "right_erasure": "Art. 17", "right_erasure_energy": "Art. 17",
                  "right_restriction": "Art. 18", "right_objection": "Art. 21", "right_portability": "Art. 20",
                  "right_withdraw": "Art. 7(3)", "right_automated": "Art. 22(3)"}


def rights(c: LetterContext, w: Words, contact: Markup) -> Section:
    """The rights that apply, each a whole sentence with its own subject (issue 14: "You can ask us"
    did not fit withdrawing consent, portability or Art. 22)."""
    s = new_section(w, "art15-1e", "h_1e")
    bases = {b for _, p in c.purposes() for b in p.basis}
    energy = bool(c.facts.electricity_supplier)
    keys = ["right_rectification", "right_erasure_energy" if energy else "right_erasure", "right_restriction"]
    if "f" in bases or "e" in bases or not c.holds_data:
        keys.append("right_objection")
    keys.append("right_portability")
    if "a" in bases or not c.holds_data:
        keys.append("right_withdraw")
    if c.decisions:
        keys.append("right_automated")
    s.p(w("p_1e"), src.law("GDPR Art. 16–22; the rights chosen by the legal bases of the purposes printed"))
    s.ul([{"text": str(w.table[key]), "source": src.law("GDPR " + RIGHT_ARTICLES[key] + (
        "; erasure exception worded for an electricity supplier (profile electricity_supplier: true)"
        if key == "right_erasure_energy" else ""))} for key in keys])
    s.p(w("how_to_exercise", contact=contact), src.letter("contacts from the profile's dpo / customer_service"))
    _answer_rule(c, w, s)
    return s


def _promise(c: LetterContext) -> Any:
    """The profile's ``answer_promise`` (typed by the intake's profile model), or None."""
    promise = getattr(c.profile, "answer_promise", None)
    if promise is None:
        promise = (c.profile.model_extra or {}).get("answer_promise")
    return promise


def _get(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _answer_rule(c: LetterContext, w: Words, s: Section) -> None:
    """The notice's own rule for answering (days, and its extension if it states one); else the law's."""
    promise = _promise(c)
    days = _get(promise, "days") if promise is not None else None
    if not days:
        s.p(w("answer_law"), src.law("GDPR Art. 12(3) (the notice promises no period of its own)"))
        return
    forms = w.table["units"]["within_days"]
    within = str(forms.get(w.locale.plural_form(int(days))) or forms["other"]).format(n=w.number(int(days)))
    s.p(w("answer_promise_days", within=within),
        src.Source("notice", f"{_get(promise, 'notice')} — profile {c.profile.id} answer_promise.days"
                             + (f": “{_get(promise, 'quote')}”" if _get(promise, "quote") else "")))
    extension = _get(promise, "extension")
    months = _get(extension, "months") if extension is not None else None
    if months in (1, 2):
        s.p(w.phrase(w.table["answer_extension"][f"m{months}"]),
            src.Source("notice", f"{_get(extension, 'notice')} — profile {c.profile.id} "
                                 "answer_promise.extension"
                                 + (f": “{_get(extension, 'quote')}”" if _get(extension, "quote") else "")))


def complaint(c: LetterContext, w: Words) -> Section:
    s = new_section(w, "art15-1f", "h_1f")
    authority = c.facts.supervisory_authority
    where = (f"its contact details from {authority.source}" if authority.source
             else "its contact details from the profile")
    s.p(w("p_1f"), src.law("GDPR Art. 77"))
    country = authority.country
    lines = [authority.name_in(c.language), with_country(w, authority.address, country), authority.email,
             authority.phone, authority.url]
    s.ul([{"text": line, "source": src.letter(f"profile {c.profile.id} supervisory_authority: {where}")}
          for line in lines if line])
    s.p(w("courts"), src.law("GDPR Art. 79"))
    return s


def _explained(c: LetterContext, w: Words, key: str, facts: Automated) -> dict[str, Any]:
    lang = c.language
    return {"label": facts.title.get(lang), "text": f"{w.table['logic']} {facts.logic.get(lang)}",
            "detail": f"{w.table['consequences']} {facts.consequences.get(lang)}",
            "source": src.of_entry(facts, f"automated.{key}", c.profile.id, english(c, facts.logic))}


def automated(c: LetterContext, w: Words, contact: Markup) -> Section:
    s = new_section(w, "art15-1h", "h_1h")
    decisions = [(d, a if a is not None and a.printable else None) for d, a in c.decisions_with_facts()]
    if decisions:
        s.p(w("p_1h_decisions"), src.search("automated decisions in the released records"))
        rows: list[list[Any]] = []
        explained: dict[str, dict[str, Any]] = {}
        for decision, facts in decisions:
            outcome = decision.outcome or ""
            rows.append([w.date(decision.on), facts.title.get(c.language) if facts else decision.kind,
                         w.table["outcomes"].get(outcome, outcome)])
            if facts is not None:
                explained.setdefault(decision.kind, _explained(c, w, decision.kind, facts))
        s.table([w.table["th_date"], w.table["th_decision"], w.table["th_outcome"]], rows,
                src.search("the decisions' dates and results in the released records"))
        s.ul(list(explained.values()))
        if any(facts is None for _, facts in decisions):
            s.p(w("decision_fallback"), src.search("a decision the profile does not explain (or not yet confirmed)"))
    else:
        if c.holds_data:
            s.p(w("no_decisions"), src.search("no automated decision in the released records"))
        if not c.describes("decision"):
            negative(c, w, s, "automated_decisions", contact, stated="stated_none_decisions",
                     silent="silent_decisions")
    others = c.other_automated()
    if others:
        s.p(w("p_1h_profiling"), src.search("profiling / AI-assisted processing of the categories found"))
        s.ul([_explained(c, w, key, a) for key, a in others])
    elif not c.describes("profiling"):
        negative(c, w, s, "profiling", contact, stated="stated_none_profiling", silent="silent_profiling")
    return s


def transfers(c: LetterContext, w: Words, contact: Markup) -> Section:
    s = new_section(w, "art15-2", "h_2")
    found = c.transfers()
    if not c.holds_data:
        s.p(w("none_2_no_data"), src.search("no personal data found, so none transferred"))
        return s
    if not found:
        described = any(t.printable for t in c.facts.transfers.values())
        negative(c, w, s, "transfers", contact, stated="stated_none_2", silent="silent_2",
                 not_concerned="not_concerned_2" if described else None)
        return s
    s.p(w("p_2"), src.search("transfers whose categories were found, from the profile"))
    items = []
    for key, t in found:
        if t.safeguard is not None:
            detail = f"{w.table['safeguard']} {t.safeguard.get(c.language)}"
        else:
            detail = str(w("safeguard_not_stated", contact=contact))
        items.append({"text": t.text.get(c.language), "detail": detail,
                      "source": src.of_entry(t, f"transfers.{key}", c.profile.id, english(c, t.text))})
    s.ul(items)
    return s


def copy(c: LetterContext, w: Words, failed: str, due: str) -> Section:
    s = new_section(w, "art15-3", "h_3")
    parts = c.copy_parts()
    package = src.search("what the package holds (the records found and the package's contents)")
    if not c.holds_data and parts <= {"manifest"}:
        s.p(w("copy_none"), package)
    else:
        s.p(w("p_3"), package)
        items: list[dict[str, Any]] = [{"text": w.table["copy_letter"], "source": package}]
        if "report" in parts:
            items.append({"text": w.table["copy_report"], "source": package})
            if "consumption" in parts:
                items.append({"text": w.table["copy_consumption_chart"], "source": package})
        if "export" in parts:
            items.append({"text": w.table["copy_export"], "source": package})
        if "consumption" in parts:
            items.append({"text": w.table["copy_consumption"], "source": package})
        if "recordings" in parts:
            items.append({"text": w("copy_recordings", count=w.number(c.recordings)),
                          "source": src.search(f"{c.recordings} call records with an audio file")})
        if c.chats and "report" in parts:
            items.append({"text": w("copy_chats", count=w.number(c.chats)),
                          "source": src.search(f"{c.chats} chatbot sessions (no audio; transcript in the report)")})
        if c.calls_without_audio and "report" in parts:
            items.append({"text": w("copy_calls_without_audio", count=w.number(c.calls_without_audio)),
                          "source": src.search(f"{c.calls_without_audio} voice calls without an audio file")})
        if "manifest" in parts:
            items.append({"text": w.table["copy_manifest"], "source": package})
        s.ul(items)
    s.p(w("copy_encrypted"), src.letter("how the package is delivered"))
    if not c.is_copy_complete:
        s.p(w("copy_incomplete", systems=failed, due=due) if failed else w("copy_incomplete_other", due=due),
            src.search("systems not searched completely"), css="notice")
    return s


def withheld(c: LetterContext, w: Words) -> Section:
    s = new_section(w, "art15-4", "h_4")
    items = c.withheld_items()
    if not items:
        s.p(w("none_4"), src.search("nothing withheld (review outcome and redaction tally)"))
        return s
    s.p(w("p_4"), src.law("GDPR Art. 15(4)"))
    s.table([w.table["th_kind"], w.table["th_count"]],
            [[w.sub("withheld", kind), w.number(count)] for kind, count in items],
            src.search("the review outcome (records held back) and the redaction tally"))
    return s


__all__ = ["automated", "complaint", "copy", "rights", "transfers", "withheld"]

