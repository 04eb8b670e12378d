"""What one letter says: the facts of one request, checked before anything is written.

``LetterContext`` carries only what the letter needs — no record contents beyond the decisions it
describes — and derives the tailored parts (purposes, recipients, sources, retention, automated
processing, transfers) from the profile and from what was actually found, so that a letter lists
only what concerns this person. ``dsar_pipeline.letter.summary`` builds the found-data parts from
the connectors' records.

Only printable facts reach the letter: an entry that is our reading (``from_notice: false``) and that
the DPO has not confirmed is left out by the methods below (``include_unconfirmed=True`` gives them
too, for the review bundle's "To confirm" list).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from connectors.categories import CATEGORIES
from connectors.retention_rules import RULES

from ..profiles import ControllerProfile, Language
from .catalog import SystemName, is_listed
from .facts import (
    Automated,
    ControllerFacts,
    NoticeStatement,
    Pairing,
    Party,
    Provenance,
    Purpose,
    Retention,
    StatedNone,
    StatedNoneTopic,
    Transfer,
    facts_of,
)

SearchStatus = Literal["complete", "failed"]
WithheldKind = Literal["staff_identity", "other_person", "unconfirmed_match"]
"""What Art. 15(4) made us leave out: staff identities in call metadata (redacted), other people's
data inside the person's records (redacted), and records reached only through a contact detail the
person may share (held back for the DPO's review)."""
CopyPart = Literal["report", "consumption", "export", "recordings", "manifest"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SystemSearch(_Frozen):
    """The outcome of searching one system for this person."""

    system: SystemName
    status: SearchStatus
    records: int = Field(default=0, ge=0, description="records disclosed to the person from this system")
    categories: frozenset[str] = frozenset()
    rules: frozenset[str] = Field(default=frozenset(), description="retention rules of the records found")

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = [c for c in value if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown data categories: {sorted(unknown)}")
        return value

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = [r for r in value if r not in RULES]
        if unknown:
            raise ValueError(f"unknown retention rules: {sorted(unknown)}")
        return value

    @property
    def listed_categories(self) -> frozenset[str]:
        return frozenset(c for c in self.categories if is_listed(c))


class DecisionFound(_Frozen):
    """An automated decision about this person found in the data (e.g. a credit check)."""

    kind: str = Field(min_length=1, description="key of the profile's `automated` entry, e.g. credit_check")
    on: date
    outcome: str | None = Field(default=None, description="e.g. approved | deposit_required | declined")


class LetterContext(BaseModel):
    """Everything one Art. 15 letter is written from.

    ``systems`` must list every system the controller runs, each with its search status; a letter
    never silently leaves one out. Dates are calendar dates in the controller's time zone.
    ``counterparties`` names, per role (``credit_bureau``, ``collection_agency``, ``grid_operator``),
    the companies actually involved for this person, so recipients and sources can name them.
    ``contents`` says what the package holds; by default it is derived from what was found.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: ControllerProfile
    language: Language
    request_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    received_on: date
    due_on: date
    answered_on: date
    person_name: str | None = Field(default=None, max_length=200)
    systems: tuple[SystemSearch, ...]
    decisions: tuple[DecisionFound, ...] = ()
    counterparties: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    withheld: dict[WithheldKind, int] = Field(default_factory=dict)
    copy_complete: bool | None = Field(default=None, description="default: complete unless a system failed")
    recordings: int = Field(default=0, ge=0, description="recordings (audio files) in the copy")
    chats: int = Field(default=0, ge=0, description="chatbot sessions: no audio, their transcripts are in the report")
    calls_without_audio: int = Field(default=0, ge=0, description="voice calls whose audio is not held")
    contents: frozenset[CopyPart] | None = None

    _facts: ControllerFacts = PrivateAttr()

    @model_validator(mode="after")
    def _consistent(self) -> LetterContext:
        self._facts = facts_of(self.profile)
        names = [s.system for s in self.systems]
        if len(set(names)) != len(names):
            raise ValueError("a system is listed twice")
        runs = set(self._facts.systems)
        if set(names) != runs:
            missing, extra = sorted(runs - set(names)), sorted(set(names) - runs)
            raise ValueError(f"systems must be exactly those the controller runs (missing {missing}, not run {extra})")
        if self.due_on < self.received_on or self.answered_on < self.received_on:
            raise ValueError("due and answer dates cannot precede the date of receipt")
        if any(count < 0 for count in self.withheld.values()):
            raise ValueError("withheld counts cannot be negative")
        if self.failed_systems and self.copy_complete:
            raise ValueError("the copy cannot be complete when a system was not searched completely")
        return self

    @property
    def is_copy_complete(self) -> bool:
        return not self.failed_systems if self.copy_complete is None else self.copy_complete

    # -- what was found ------------------------------------------------------------------------------

    @property
    def facts(self) -> ControllerFacts:
        return self._facts

    @property
    def ordered_systems(self) -> list[SystemSearch]:
        """Systems in the profile's order."""
        by_name = {s.system: s for s in self.systems}
        return [by_name[name] for name in self._facts.systems]

    @property
    def failed_systems(self) -> list[SystemSearch]:
        return [s for s in self.ordered_systems if s.status == "failed"]

    @property
    def holds_data(self) -> bool:
        """Whether any personal data about the person was found (the confirmation of Art. 15(1))."""
        return any(s.records > 0 for s in self.systems)

    @property
    def found_categories(self) -> frozenset[str]:
        return frozenset().union(*(s.listed_categories for s in self.systems)) if self.holds_data else frozenset()

    @property
    def systems_with_data(self) -> frozenset[str]:
        return frozenset(s.system for s in self.systems if s.records > 0)

    @property
    def found_rules(self) -> frozenset[str]:
        return frozenset().union(*(s.rules for s in self.systems if s.records > 0)) if self.holds_data else frozenset()

    # -- the tailored facts ------------------------------------------------------------------------

    def _found_in(self, systems: tuple[str, ...]) -> frozenset[str]:
        """Categories found in ``systems`` (all systems when empty)."""
        return frozenset().union(*(s.listed_categories for s in self.systems
                                   if s.records > 0 and (not systems or s.system in systems)))

    def _paired(self, category: str, include_unconfirmed: bool = False) -> tuple[str, ...]:
        """The purposes tied to ``category``: none while the pairing is our unconfirmed reading (the
        customer's letter then treats it as ``[]``), unless ``include_unconfirmed``."""
        pairing = self._facts.pairing(category)
        return pairing.purposes if _shown(pairing, include_unconfirmed) else ()

    def pairings_of(self, key: str) -> list[tuple[str, Pairing]]:
        """The found categories whose printable pairing brings in purpose ``key`` (for its source)."""
        purpose = self._facts.purposes[key]
        return [(c, self._facts.pairing(c)) for c in CATEGORIES if c in self._found_in(purpose.systems)
                and key in self._paired(c)]

    def purposes(self, include_unconfirmed: bool = False) -> list[tuple[str, Purpose]]:
        """Purposes served by the categories found (in the systems a purpose is limited to), in profile order."""
        return [(key, purpose) for key, purpose in self._facts.purposes.items()
                if _shown(purpose, include_unconfirmed)
                and any(key in self._paired(c, include_unconfirmed) for c in self._found_in(purpose.systems))]

    def unconfirmed_pairings(self) -> list[tuple[str, Pairing]]:
        """Found categories whose pairing is our reading, not yet confirmed (the DPO's "To confirm")."""
        return [(c, self._facts.pairing(c)) for c in CATEGORIES
                if c in self.found_categories and not self._facts.pairing(c).printable]

    def categories_without_purpose(self) -> list[str]:
        """Categories found for which the letter can state no purpose: the notice ties none to them
        (``[]`` in the profile, or a pairing that is our reading not yet confirmed), or only purposes
        not yet confirmed, or only purposes of other systems."""
        printable = dict(self.purposes())
        out = []
        for category in CATEGORIES:
            if category not in self.found_categories:
                continue
            keys = [k for k in self._paired(category) if k in printable]
            if not any(category in self._found_in(printable[k].systems) for k in keys):
                out.append(category)
        return out

    def categories_without_source(self) -> list[str]:
        """Categories found that no printable source covers (for Art. 15(1)(g)): empty when the notice
        states that the data come from the person (``stated_none.sources``)."""
        if self.stated_none("sources") is not None:
            return []
        covered: set[str] = set()
        for _key, party in self.sources():
            found = self._found_in(party.systems)
            covered |= found if party.categories == "any" else set(party.categories) & found
        return [c for c in CATEGORIES if c in self.found_categories and c not in covered]

    def _concerns(self, party: Party) -> bool:
        found = self._found_in(party.systems)
        return bool(found) and (party.categories == "any" or bool(set(party.categories) & found))

    def recipients(self, include_unconfirmed: bool = False) -> list[tuple[str, Party]]:
        return [(key, party) for key, party in self._facts.recipients.items()
                if _shown(party, include_unconfirmed) and self._concerns(party)]

    def sources(self, include_unconfirmed: bool = False) -> list[tuple[str, Party]]:
        """The sources actually used: those whose categories (and systems) were found for this person."""
        return [(key, party) for key, party in self._facts.sources.items()
                if _shown(party, include_unconfirmed) and self._concerns(party)]

    def involved(self, party: Party) -> tuple[str, ...]:
        """Names of the companies in ``party``'s role actually involved for this person."""
        return self.counterparties.get(party.role, ()) if party.role else ()

    def retention(self) -> list[tuple[str, Retention | None]]:
        """Retention rule -> the profile's entry, for the rules of the records found (in ``RULES`` order)."""
        return [(rule, self._facts.retention.get(rule)) for rule in RULES if rule in self.found_rules]

    def decisions_with_facts(self) -> list[tuple[DecisionFound, Automated | None]]:
        ordered = sorted(self.decisions, key=lambda d: (d.on, d.kind))
        return [(d, self._facts.automated.get(d.kind)) for d in ordered]

    def other_automated(self, include_unconfirmed: bool = False) -> list[tuple[str, Automated]]:
        """Profiling and AI-assisted processing that concern this person (by the categories found)."""
        found = self.found_categories
        return [(key, a) for key, a in self._facts.automated.items()
                if a.kind != "decision" and _shown(a, include_unconfirmed) and set(a.categories) & found]

    def transfers(self, include_unconfirmed: bool = False) -> list[tuple[str, Transfer]]:
        found = self.found_categories
        return [(key, t) for key, t in self._facts.transfers.items()
                if _shown(t, include_unconfirmed) and self.holds_data
                and (t.categories == "any" or set(t.categories) & found)]

    def statements(self, section: str, include_unconfirmed: bool = False) -> list[tuple[str, NoticeStatement]]:
        """The profile's extra notice statements printed in ``section`` (a letter section id or ``intro``)."""
        return [(key, st) for key, st in self._facts.statements.items()
                if st.section == section and _shown(st, include_unconfirmed)]

    def stated_none(self, topic: StatedNoneTopic) -> StatedNone | None:
        """Where the notice itself states the negative on ``topic`` (None: the notice is silent on it)."""
        return self._facts.stated_none.get(topic)

    def describes(self, kind: str) -> bool:
        """Whether the profile has a printable automated entry of ``kind`` (the notice addresses it)."""
        return any(a.kind == kind and a.printable for a in self._facts.automated.values())

    def copy_parts(self) -> frozenset[str]:
        if self.contents is not None:
            return frozenset(self.contents)
        if not self.holds_data:
            return frozenset({"manifest"})
        parts = {"report", "export", "manifest"}
        if "user.energy.consumption_series" in self.found_categories:
            parts.add("consumption")
        if self.recordings:
            parts.add("recordings")
        return frozenset(parts)

    def withheld_items(self) -> list[tuple[str, int]]:
        order: Iterable[str] = ("staff_identity", "other_person", "unconfirmed_match")
        return [(kind, self.withheld[kind]) for kind in order if self.withheld.get(kind, 0) > 0]  # type: ignore[index]


def _shown(entry: Provenance, include_unconfirmed: bool) -> bool:
    return include_unconfirmed or entry.printable


__all__ = ["CopyPart", "DecisionFound", "LetterContext", "SearchStatus", "SystemSearch", "WithheldKind"]
