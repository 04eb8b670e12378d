"""Where each statement of the letter comes from, for the DPO's review copy.

Why: the letter must say only what the controller's notice says, what the law says, or what our own
search found. The DPO checks that line by line, so the review copy of the letter
(``render_letter(context, sources=True)``) prints beside every paragraph and list item its
``Source``: the notice's section, "our reading, confirmed by X on D", the GDPR article of a standard
wording, or "our search" for a finding. The customer's letter carries none of it.

``to_confirm`` lists what the customer's letter leaves out because it is our reading and nobody has
confirmed it yet (``from_notice: false`` without ``confirmed_by``/``confirmed_on``), with the sentence
that would be printed once confirmed, so the DPO can confirm it (in the profile) or leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .facts import Pairing, Provenance, Text
from .phrases import category_name, retention_text
from .words import Words

if TYPE_CHECKING:
    from .context import LetterContext

SourceKind = Literal["notice", "confirmed", "unconfirmed", "law", "search", "silence", "letter"]
"""notice: the notice states it; confirmed: our reading, confirmed by the DPO; unconfirmed: our reading,
not confirmed (never in the customer's letter); law: the GDPR, in the letter's standard wording;
search: a finding of our own search; silence: the notice does not address it (we say so); letter:
the letter's own framing (salutation, how to open the package)."""


@dataclass(frozen=True)
class Source:
    """The source of one statement, in English for the DPO."""

    kind: SourceKind
    note: str
    english: str | None = None  # the statement in English, when the letter is in another language

    @property
    def label(self) -> str:
        return {"notice": "notice", "confirmed": "our reading, confirmed", "unconfirmed": "our reading, NOT confirmed",
                "law": "law", "search": "our search", "silence": "notice silent", "letter": "letter"}[self.kind] + ":"


def of_entry(entry: Provenance, where: str, profile: str, english: str | None = None) -> Source:
    """The source of a profile entry (``where``: e.g. ``purposes.contract``)."""
    place = f"profile {profile} {where}"
    if entry.from_notice:
        return Source("notice", f"{entry.notice or '(no section given)'} — {place}", english)
    if entry.confirmed:
        return Source("confirmed", f"confirmed by {entry.confirmed_by} on {entry.confirmed_on.isoformat()} — "  # type: ignore[union-attr]
                                   f"{place}: {entry.why}", english)
    return Source("unconfirmed", f"{place}: {entry.why}", english)


def of_pairings(purpose: Source, pairings: list[tuple[str, Pairing]], profile: str) -> Source:
    """A purpose's source with the pairings that bring it into this letter (``categories.<category>``):
    the notice's, or our reading confirmed by the DPO — then the purpose is printed on that confirmation
    when no pairing of the notice's brings it in."""
    if not pairings:
        return purpose
    notes = []
    for category, pairing in pairings:
        if pairing.from_notice:
            notes.append(f"{category} (notice{' ' + pairing.notice if pairing.notice else ''})")
        else:
            notes.append(f"{category} (our reading, confirmed by {pairing.confirmed_by} on "
                         f"{pairing.confirmed_on.isoformat() if pairing.confirmed_on else ''}: {pairing.why})")
    kind = purpose.kind
    if kind == "notice" and not any(p.from_notice for _c, p in pairings):
        kind = "confirmed"
    return Source(kind, f"{purpose.note}; paired with the categories found (profile {profile} categories): "
                        + "; ".join(notes), purpose.english)


def law(article: str) -> Source:
    return Source("law", f"{article} (the letter's standard wording)")


def search(what: str) -> Source:
    return Source("search", what)


def silence(topic: str, profile: str) -> Source:
    return Source("silence", f"nothing on {topic} (profile {profile}: no printable entry, no stated_none.{topic}) "
                             "— the letter says so and whom to ask")


def letter(what: str) -> Source:
    return Source("letter", what)


@dataclass(frozen=True)
class Unconfirmed:
    """A fact that concerns this request but is left out of the letter until the DPO confirms it."""

    where: str  # e.g. "transfers.google_login"
    section: str  # the letter section it would be printed in
    why: str
    sentence: str  # in the letter's language
    english: str


def to_confirm(c: LetterContext) -> list[Unconfirmed]:
    """Every unconfirmed ``from_notice: false`` fact that would be printed for this request."""
    lang = c.language
    out: list[Unconfirmed] = []

    def add(where: str, section: str, entry: Provenance, texts: list[Text]) -> None:
        if entry.printable:
            return
        sentence = " ".join(t.get(lang) for t in texts)
        out.append(Unconfirmed(where, section, entry.why or "", sentence, " ".join(t.en for t in texts)))

    local, en = Words(lang), Words("en")
    for key, purpose in c.purposes(include_unconfirmed=True):
        add(f"purposes.{key}", "art15-1a", purpose, [purpose.text])
    for category, pairing in c.unconfirmed_pairings():
        named = [(k, c.facts.purposes[k]) for k in pairing.purposes if k in c.facts.purposes]
        out.append(Unconfirmed(
            f"categories.{category}", "art15-1a", pairing.why or "",
            f"{category_name(local, category, c.facts.electricity_supplier)}: "
            + " ".join(p.text.get(lang) for _k, p in named),
            f"{category_name(en, category, c.facts.electricity_supplier)}: " + " ".join(p.text.en for _k, p in named)))
    for key, party in c.recipients(include_unconfirmed=True):
        add(f"recipients.{key}", "art15-1c", party, [party.text])
    for rule, entry in c.retention():
        if entry is not None and not entry.printable:
            out.append(Unconfirmed(f"retention.{rule}", "art15-1d", entry.why or "",
                                   f"{local.sub('rules', rule)}: {retention_text(local, rule, entry)}",
                                   f"{en.sub('rules', rule)}: {retention_text(en, rule, entry)}"))
    for key, party in c.sources(include_unconfirmed=True):
        add(f"sources.{key}", "art15-1g", party, [party.text])
    kinds = {d.kind for d in c.decisions}
    for key, automated in c.facts.automated.items():
        if automated.kind == "decision" and key in kinds:
            add(f"automated.{key}", "art15-1h", automated, [automated.title, automated.logic, automated.consequences])
    for key, automated in c.other_automated(include_unconfirmed=True):
        add(f"automated.{key}", "art15-1h", automated, [automated.title, automated.logic, automated.consequences])
    for key, transfer in c.transfers(include_unconfirmed=True):
        add(f"transfers.{key}", "art15-2", transfer,
            [transfer.text] + ([transfer.safeguard] if transfer.safeguard is not None else []))
    for key, statement in c.facts.statements.items():
        add(f"statements.{key}", statement.section, statement, [statement.text])
    return out


__all__ = ["Source", "SourceKind", "Unconfirmed", "law", "letter", "of_entry", "of_pairings", "search", "silence",
           "to_confirm"]
