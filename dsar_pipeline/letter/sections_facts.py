"""Art. 15(1)(a)–(d) and (g): purposes, categories, recipients, retention and sources.

The rule throughout (issue 14): the letter states what the notice states (or what the DPO confirmed),
and what our search found. Where the notice is silent, the letter says so and whom to ask; it never
turns silence into a negative ("we disclose to no one") or fills it with a guess.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from connectors.categories import CATEGORIES

from . import provenance as src
from .blocks import Section, new_section
from .context import LetterContext
from .facts import Party, Purpose, StatedNoneTopic, Text
from .phrases import category_name, retention_text, states_period
from .words import Words


def english(c: LetterContext, text: Text) -> str | None:
    """The English wording for the review copy, when the letter is in another language."""
    return text.en if c.language != "en" else None


def purposes(c: LetterContext, w: Words, contact: Markup) -> Section:
    s = new_section(w, "art15-1a", "h_1a")
    found = c.purposes()
    if not c.holds_data:
        s.p(w("none_1a"), src.search("no personal data found"))
        return s
    if found:
        s.p(w("p_1a"), src.search("purposes of the categories found, from the profile"))
        s.ul([_purpose_item(c, w, contact, key, purpose) for key, purpose in found])
    unstated = c.categories_without_purpose()
    if unstated:
        s.p(w("purpose_not_stated", categories=w.join_items(names(c, w, unstated)), contact=contact),
            src.Source("silence", "the notice ties no purpose to these categories (profile categories: [], only "
                                  "unconfirmed purposes, or a pairing that is our reading not yet confirmed) — the "
                                  "letter says so and whom to ask"))
    return s


def names(c: LetterContext, w: Words, categories: list[str]) -> list[str]:
    """The categories' names in the letter (neutral ones for a controller that is not an electricity supplier)."""
    return [category_name(w, name, c.facts.electricity_supplier) for name in categories]


def _purpose_item(c: LetterContext, w: Words, contact: Markup, key: str, purpose: Purpose) -> dict[str, Any]:
    """One purpose with its legal basis — or, when the notice states none (``basis: []``), that it does
    not and whom to ask; its source names the pairings that bring it into this letter."""
    source = src.of_pairings(src.of_entry(purpose, f"purposes.{key}", c.profile.id, english(c, purpose.text)),
                             c.pairings_of(key), c.profile.id)
    if purpose.basis_stated:
        detail: str | Markup = f"{w.table['basis_label']} {'; '.join(w.sub('basis', b) for b in purpose.basis)}"
    else:
        detail = w("basis_not_stated", contact=contact)
        source = src.Source(source.kind, f"{source.note}; legal basis: notice silent (basis: []) — the letter "
                                         "says the notice does not state it and whom to ask", source.english)
    return {"text": purpose.text.get(c.language), "detail": detail, "source": source}


def categories(c: LetterContext, w: Words) -> Section:
    s = new_section(w, "art15-1b", "h_1b")
    rows: list[list[Any]] = []
    for search in c.ordered_systems:
        found = [name for name in CATEGORIES if name in search.listed_categories]
        if search.records and found:
            rows.append([w.system(search.system), names(c, w, found)])
    if not c.holds_data or not rows:
        s.p(w("none_1b"), src.search("no personal data found"))
        return s
    s.p(w("p_1b"), src.search("the categories of the fields of the released records"))
    s.table([w.table["th_system"], w.table["th_categories"]], rows,
            src.search("each connector declares the category of every field it returns"))
    return s


def _parties(c: LetterContext, w: Words, s: Section, parties: list[tuple[str, Party]], group: str,
             with_processor: bool) -> None:
    items = []
    for key, party in parties:
        details: list[Markup] = [w.phrase(w.table["processor"])] if with_processor and party.processor else []
        involved = c.involved(party)
        if involved:  # kept as markup: the names from the data are escaped once, by the phrase
            details.append(w("in_your_case", names=w.join(list(involved))))
        source = src.of_entry(party, f"{group}.{key}", c.profile.id, english(c, party.text))
        if involved:
            source = src.Source(source.kind, f"{source.note}; named in your case: our search (the released records)",
                                source.english)
        items.append({"text": party.text.get(c.language), "detail": Markup(" ").join(details) or None,
                      "source": source})
    s.ul(items)


def negative(c: LetterContext, w: Words, s: Section, topic: StatedNoneTopic, contact: Markup, *, stated: str,
             silent: str, not_concerned: str | None = None) -> None:
    """What the letter says when nothing of ``topic`` is printed for this person.

    The negative (``stated``) only when the notice itself states it (``stated_none``); else, when the
    notice describes the topic only for data not found about this person (``not_concerned`` given),
    that; else that the notice does not address it, and whom to ask (``silent``).
    """
    none = c.stated_none(topic)
    if none is not None:
        s.p(w(stated), src.Source("notice", f"{none.notice} — profile {c.profile.id} stated_none.{topic}"))
    elif not_concerned is not None:
        s.p(w(not_concerned), src.search(f"the {topic} the notice describes concern none of the categories found"))
    else:
        s.p(w(silent, contact=contact), src.silence(topic, c.profile.id))


def _described(entries: list[Party]) -> bool:
    return any(entry.printable for entry in entries)


def recipients(c: LetterContext, w: Words, contact: Markup) -> Section:
    s = new_section(w, "art15-1c", "h_1c")
    if not c.holds_data:
        s.p(w("none_1c"), src.search("no personal data found, so none disclosed"))
        return s
    found = c.recipients()
    if not found:
        negative(c, w, s, "recipients", contact, stated="stated_none_1c", silent="silent_1c",
                 not_concerned="not_concerned_1c" if _described(list(c.facts.recipients.values())) else None)
        return s
    s.p(w("p_1c"), src.search("recipients whose categories were found, from the profile"))
    _parties(c, w, s, found, "recipients", with_processor=True)
    return s


def retention(c: LetterContext, w: Words, contact: Markup) -> Section:
    s = new_section(w, "art15-1d", "h_1d")
    entries = c.retention()
    if not entries:
        s.p(w("none_1d"), src.search("no personal data found"))
        return s
    stated = [(rule, entry) for rule, entry in entries if states_period(entry)]
    unstated = [rule for rule, entry in entries if not states_period(entry)]
    if stated:
        s.p(w("p_1d"), src.search("the retention rules of the records found, periods from the profile"))
        items = []
        for rule, entry in stated:
            assert entry is not None
            source = src.of_entry(entry, f"retention.{rule}", c.profile.id,
                                  retention_text(Words("en"), rule, entry) if c.language != "en" else None)
            source = src.Source(source.kind, f"{source.note} (basis: {entry.basis})", source.english)
            items.append({"label": w.sub("rules", rule), "text": retention_text(w, rule, entry),
                          "detail": entry.note.get(c.language) if entry.note is not None else None, "source": source})
        s.ul(items)
    if unstated:
        s.p(w("retention_not_stated", rules=w.join_items([w.sub("rules", rule) for rule in unstated]), contact=contact),
            src.Source("silence", "no printable retention entry for: " + ", ".join(unstated)
                       + " (none in the profile, `criteria: not_stated`, or our reading not confirmed)"))
    return s


def sources(c: LetterContext, w: Words, contact: Markup) -> Section:
    s = new_section(w, "art15-1g", "h_1g")
    if not c.holds_data:
        s.p(w("none_1g"), src.search("no personal data found"))
        return s
    found = c.sources()
    if not found:
        described = _described(list(c.facts.sources.values()))
        negative(c, w, s, "sources", contact, stated="stated_none_1g", silent="silent_1g",
                 not_concerned="not_concerned_1g" if described else None)
        if described:
            _sources_not_stated(c, w, s, contact)
        return s
    s.p(w("p_1g"), src.search("sources whose categories were found, from the profile"))
    _parties(c, w, s, found, "sources", with_processor=False)
    _sources_not_stated(c, w, s, contact)
    return s


def _sources_not_stated(c: LetterContext, w: Words, s: Section, contact: Markup) -> None:
    """The categories found that no printable source covers: the notice does not say where they come
    from (nothing when the notice states that the data come from the person)."""
    uncovered = c.categories_without_source()
    if uncovered:
        s.p(w("source_not_stated", categories=w.join_items(names(c, w, uncovered)), contact=contact),
            src.Source("silence", "no printable source covers these categories found: " + ", ".join(uncovered)
                                  + f" (profile {c.profile.id} sources; no stated_none.sources) — the letter says "
                                    "so and whom to ask"))


__all__ = ["categories", "english", "names", "negative", "purposes", "recipients", "retention", "sources"]
