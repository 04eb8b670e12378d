"""The Art. 15 facts of a controller profile, typed and checked.

Why a second model beside ``dsar_pipeline.profiles.ControllerProfile``: the intake types only what
it needs and keeps every other key of the profile file; this model types the rest — purposes with
legal bases, categories, recipients, sources, retention, automated decisions, transfers, contacts —
so that a profile missing a fact fails when it is loaded, not when a letter is half written.

Where translations live: every text that states a fact about one controller (a purpose, a
recipient, a source, the logic of an automated decision, a transfer) is in that controller's
profile, in all four letter languages (``Text``), so a lawyer reviews one file per controller. The
wording shared by all controllers (headings, rights, category and retention-rule names) is in the
letter's string tables (``dsar_pipeline/letter/strings/*.yaml``).

Provenance (issue 14): every fact-bearing entry (purposes, recipients, sources, retention,
automated, transfers, statements) says where it comes from — ``notice`` (the notice's sections) or
``from_notice: false`` with ``why`` (our reading, a project choice, an outside fact). A letter must
not present our reading as the controller's statement, so an entry that is not from the notice is
printed only once the DPO has confirmed it (``confirmed_by`` + ``confirmed_on``); until then it is
listed for the DPO under "To confirm" in the review bundle. ``stated_none`` records the negatives the
notice itself states (no transfers, ...): silence in a notice is never turned into a negative.
Category -> purpose pairings (``categories``) carry provenance too (``Pairing``): a plain list is the
notice's pairing, a mapping may mark it as our reading. A purpose the notice states without a legal
basis has ``basis: []``: the letter says the notice does not state it, and whom to ask.

Every entry from the notice names its section; every other entry says why. These rules are checked
for the whole profile at once (``ControllerFacts._provenance``), so whoever fixes a profile sees every
problem in one run (``python -m dsar_pipeline.letter.check_profiles``).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.categories import CATEGORIES
from connectors.retention import Period
from connectors.retention_rules import RULES

from ..profiles import ControllerProfile, Language, ProfileError, load_profile
from .catalog import SystemName, is_listed

LegalBasis = Literal["a", "b", "c", "d", "e", "f"]
"""GDPR Art. 6(1)(a)–(f)."""

StatedNoneTopic = Literal["transfers", "automated_decisions", "profiling", "recipients", "sources"]
"""Topics on which a notice may itself state a negative (``stated_none``)."""

LetterSection = Literal["intro", "art15-1a", "art15-1b", "art15-1c", "art15-1d", "art15-1e", "art15-1f", "art15-1g",
                        "art15-1h", "art15-2", "art15-3", "art15-4"]
"""Where a notice ``statement`` is printed: a letter section id, or the introduction."""

CriteriaKey = Literal["needed_then_law", "until_purpose", "not_stated"]
"""Standard retention criteria (Art. 15(1)(d) "the criteria used to determine that period"), worded in
the string tables; used where a notice gives no period."""

LANGUAGES: tuple[Language, ...] = ("et", "lv", "ru", "en")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Frozen):
    """One statement in the four letter languages."""

    et: str = Field(min_length=1)
    lv: str = Field(min_length=1)
    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, language: Language) -> str:
        return str(getattr(self, language))


class Provenance(_Frozen):
    """Where a fact comes from, and whether the DPO confirmed it when it is not the notice's.

    ``from_notice`` (default true) with ``notice``: the notice's sections state it. ``from_notice:
    false`` with ``why``: our reading, a project choice or an outside fact, printed in the letter only
    once ``confirmed_by`` and ``confirmed_on`` (always together) record the DPO's confirmation.
    """

    notice: str | None = Field(default=None, min_length=1, description="the notice section(s) that state it")
    from_notice: bool = True
    why: str | None = Field(default=None, min_length=1, description="when not from the notice: what we did and why")
    confirmed_by: str | None = Field(default=None, min_length=1)
    confirmed_on: date | None = None

    @model_validator(mode="after")
    def _confirmed_together(self) -> Provenance:
        if (self.confirmed_by is None) != (self.confirmed_on is None):
            raise ValueError("confirmed_by and confirmed_on come together")
        return self

    @property
    def confirmed(self) -> bool:
        return self.confirmed_by is not None and self.confirmed_on is not None

    @property
    def printable(self) -> bool:
        """Whether the customer's letter may state it: the notice's, or our reading the DPO confirmed."""
        return self.from_notice or self.confirmed

    def provenance_problem(self) -> str | None:
        """What the schema's provenance rules miss here (None when they hold); checked by the profile,
        which reports every entry's problem at once."""
        if self.from_notice and not self.notice:
            return "from_notice is true but no notice section is given"
        if not self.from_notice and not self.why:
            return "from_notice is false but no `why` is given"
        return None


class PeriodSpec(_Frozen):
    """A retention period as the profile writes it: ``{years|months|days|hours: N}``."""

    years: int = Field(default=0, ge=0, le=100)
    months: int = Field(default=0, ge=0, le=1200)
    days: int = Field(default=0, ge=0, le=36500)
    hours: int = Field(default=0, ge=0, le=876000)

    @model_validator(mode="after")
    def _not_zero(self) -> PeriodSpec:
        if not (self.years or self.months or self.days or self.hours):
            raise ValueError("a retention period must not be zero")
        return self

    def as_period(self) -> Period:
        return Period(years=self.years, months=self.months, days=self.days, hours=self.hours)


class Purpose(Provenance):
    """A purpose with its legal bases; with ``systems``, it concerns only data found in those systems
    (the e-mail address of a billing customer is not used for the Volt app).

    ``basis: []`` — the notice states the purpose but no legal basis for it: the letter prints the
    purpose and, instead of a basis, that the notice does not state it and whom to ask. Only a purpose
    from the notice may leave its basis empty; our reading of a basis is its own ``from_notice: false``
    entry.
    """

    basis: tuple[LegalBasis, ...] = Field(description="[]: the notice states no legal basis for it")
    text: Text
    systems: tuple[SystemName, ...] = ()

    @property
    def basis_stated(self) -> bool:
        return bool(self.basis)

    def provenance_problem(self) -> str | None:
        if not self.basis and not self.from_notice:
            return "basis: [] (the notice states none) is only for a purpose from the notice"
        return super().provenance_problem()


class Pairing(Provenance):
    """Which purposes the profile ties to one data category, and on whose word.

    The profile writes either a plain list (``[contract, billing]``: the notice's own pairing, as the
    purposes' sections state it) or this mapping: ``{purposes: [...], notice: "3.2"}`` or
    ``{purposes: [...], from_notice: false, why: "..."}`` — our reading of which purposes the data
    serve. An unconfirmed reading counts in the customer's letter as ``[]`` (the notice states no
    purpose for the category: the letter says so and whom to ask) and is listed for the DPO under
    "To confirm" (``categories.<category>``).
    """

    purposes: tuple[str, ...] = ()
    listed: bool = Field(default=False, exclude=True, description="written as a plain list in the profile")

    def provenance_problem(self) -> str | None:
        return None if self.listed else super().provenance_problem()


class Party(Provenance):
    """A recipient (Art. 15(1)(c)) or a source (Art. 15(1)(g)).

    It concerns the person when one of ``categories`` was found about them (``any``: whenever any
    data was found) — if ``systems`` is given, found in one of those systems. ``role``
    links it to the counterparties actually involved for this person (e.g. the credit bureau named
    in their credit check), which the letter names.
    """

    text: Text
    categories: tuple[str, ...] | Literal["any"]
    systems: tuple[SystemName, ...] = ()
    names: tuple[str, ...] = ()
    role: str | None = None
    processor: bool = False


class Retention(Provenance):
    """How long the data under one retention rule is kept.

    ``counted_from: rule`` — the period runs from the date the rule counts from (``RULES``), so
    retention findings can use it; ``contract_end`` — the notice counts it from the end of the
    contract while the rule counts from the record's own date, so the letter says "after the
    contract ends" and retention findings do not use it (it would flag records of live contracts).
    Without a period, ``criteria`` states how the period is determined. An entry that is a project
    choice (the notice has no line for those data) is ``from_notice: false``: until the DPO confirms
    it, the letter says the notice states no period for those data and whom to ask.
    """

    period: PeriodSpec | None = None
    counted_from: Literal["rule", "contract_end"] = "rule"
    criteria: CriteriaKey | Text | None = None
    note: Text | None = None
    basis: str = Field(min_length=1, description="why: the notice's line, and any choice we had to make")

    @model_validator(mode="after")
    def _period_or_criteria(self) -> Retention:
        if (self.period is None) == (self.criteria is None):
            raise ValueError("give either a period or criteria")
        return self


class Automated(Provenance):
    """An automated decision (Art. 22), profiling, or AI-assisted processing the notice describes.

    A ``decision`` concerns the person only when such a decision about them was found (the letter
    context lists them); ``profiling`` and ``ai_assisted`` concern them when one of ``categories`` was
    found about them.
    """

    kind: Literal["decision", "profiling", "ai_assisted"]
    categories: tuple[str, ...] = ()
    title: Text
    logic: Text
    consequences: Text


class Transfer(Provenance):
    """A transfer outside the EU/EEA (Art. 15(2)) and its safeguard (None: the notice names none)."""

    categories: tuple[str, ...] | Literal["any"]
    text: Text
    safeguard: Text | None = None
    recipient: str = Field(min_length=1)


class NoticeStatement(Provenance):
    """Something the notice says that Art. 15 readers need and that fits no other list (the
    portability route, how fast an opt-out takes effect, ...): printed in ``section``."""

    section: LetterSection
    text: Text


class StatedNone(_Frozen):
    """The notice itself states a negative (e.g. no transfers outside the EU/EEA) in ``notice``."""

    notice: str = Field(min_length=1)
    quote: str | None = None


class ContactPoint(_Frozen):
    email: str | None = None
    phone: str | None = None

    def channels(self) -> list[str]:
        return [value for value in (self.email, self.phone) if value]


class Dpo(ContactPoint):
    appointed: bool


Country = Literal["EE", "LV", "LT"]


class Authority(BaseModel):
    """The supervisory authority with the contact details a complaint needs (Art. 15(1)(f)).

    ``name`` is per language (its official name in that language where it has one, never an English
    gloss inside another language). ``address`` carries no country: the letter appends ``country`` in
    its own language. ``source`` says where the contact details were taken when the notice does not
    give them.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    name: Text
    url: str = Field(min_length=1)
    email: str = Field(min_length=3)
    address: str = Field(min_length=1)
    phone: str | None = None
    country: Country
    source: str | None = None

    def name_in(self, language: Language) -> str:
        return self.name.get(language)


class Notice(_Frozen):
    seed: str = Field(min_length=1, description="file in shared/seeds/")
    language: str = Field(min_length=2)
    in_force_from: date | None = None


class ControllerFacts(BaseModel):
    """Everything Art. 15(1)(a)–(h) and 15(2) need about one controller."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    legal_name: str
    registration_number: str | None = None
    address: str | None = None
    country: Country
    electricity_supplier: bool = Field(
        description="false: not an electricity retailer, so the letter never speaks of electricity market rules")
    website: str | None = None
    supervisory_authority: Authority
    notice: Notice
    dpo: Dpo
    customer_service: ContactPoint
    systems: tuple[SystemName, ...] = Field(min_length=1)
    systems_note: str = Field(min_length=1, description="why these systems, from the notice")
    purposes: dict[str, Purpose] = Field(min_length=1)
    categories: dict[str, tuple[str, ...]] = Field(
        min_length=1, description="category -> purpose keys (whatever the pairing's provenance; see `pairings`)")
    pairings: dict[str, Pairing] = Field(
        default_factory=dict, description="category -> its pairing with provenance, derived from `categories`")
    recipients: dict[str, Party] = Field(min_length=1)
    sources: dict[str, Party] = Field(min_length=1)
    retention: dict[str, Retention] = Field(min_length=1)
    automated: dict[str, Automated] = Field(default_factory=dict)
    transfers: dict[str, Transfer] = Field(default_factory=dict)
    statements: dict[str, NoticeStatement] = Field(default_factory=dict)
    stated_none: dict[StatedNoneTopic, StatedNone] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_pairings(cls, data: object) -> object:
        """``categories`` entries may be a plain list or a mapping with provenance: keep the purpose
        keys in ``categories`` (as before) and every entry's provenance in ``pairings``."""
        if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
            return data
        keys: dict[str, object] = {}
        pairings: dict[str, object] = {}
        for category, entry in data["categories"].items():
            if isinstance(entry, dict):
                keys[category] = entry.get("purposes", ())
                pairings[category] = entry
            else:
                keys[category] = entry
                pairings[category] = {"purposes": entry, "listed": True}
        return {**data, "categories": keys, "pairings": pairings}

    def pairing(self, category: str) -> Pairing:
        """The pairing of ``category`` (no purpose when the profile does not list it)."""
        return self.pairings.get(category) or Pairing(purposes=self.categories.get(category, ()), listed=True)

    def provenanced(self) -> list[tuple[str, Provenance]]:
        """Every fact-bearing entry with its place in the profile (``purposes.contract``, ...)."""
        groups: dict[str, dict[str, Provenance]] = {
            "purposes": dict(self.purposes), "recipients": dict(self.recipients), "sources": dict(self.sources),
            "retention": dict(self.retention), "automated": dict(self.automated),
            "transfers": dict(self.transfers), "statements": dict(self.statements),
            "categories": {k: v for k, v in self.pairings.items() if not v.listed}}
        return [(f"{group}.{key}", entry) for group, entries in groups.items() for key, entry in entries.items()]

    @model_validator(mode="after")
    def _provenance(self) -> ControllerFacts:
        # Every problem at once: whoever fixes a profile sees the whole list, not one per run.
        problems = [f"{where}: {problem}" for where, entry in self.provenanced()
                    if (problem := entry.provenance_problem())]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _references_resolve(self) -> ControllerFacts:
        if len(set(self.systems)) != len(self.systems):
            raise ValueError("systems: listed twice")
        for category, purposes in self.categories.items():
            if not is_listed(category):
                raise ValueError(f"categories: {category!r} is not a personal data category")
            # An empty list is allowed: the notice states no purpose for it (the letter says so).
            for purpose in purposes:
                if purpose not in self.purposes:
                    raise ValueError(f"categories: {category!r} names unknown purpose {purpose!r}")
        for rule in self.retention:
            if rule not in RULES:
                raise ValueError(f"retention: {rule!r} is not a retention rule")
        named = [("recipients", k, v.categories) for k, v in self.recipients.items()]
        named += [("sources", k, v.categories) for k, v in self.sources.items()]
        named += [("automated", k, v.categories) for k, v in self.automated.items()]
        named += [("transfers", k, v.categories) for k, v in self.transfers.items()]
        for section, key, categories in named:
            if categories == "any":
                continue
            for category in categories:
                if category not in CATEGORIES:
                    raise ValueError(f"{section}.{key}: unknown category {category!r}")
        if not (self.dpo.channels() or self.customer_service.channels()):
            raise ValueError("no contact channel for data protection questions")
        return self

    def retention_periods(self) -> dict[str, Period]:
        """Rule -> period for retention findings: only periods counted as the rule counts."""
        return {rule: entry.period.as_period() for rule, entry in self.retention.items()
                if entry.period is not None and entry.counted_from == "rule"}


def facts_of(profile: ControllerProfile) -> ControllerFacts:
    """Validate the Art. 15 facts of a loaded profile (its extra keys included)."""
    try:
        return ControllerFacts.model_validate(profile.model_dump())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(f"profile {profile.id!r}: {where}: {first['msg']}") from exc


@lru_cache(maxsize=16)
def load_facts(controller_id: str) -> ControllerFacts:
    """The checked facts of ``<controller_id>.yaml`` (``ProfileError`` if missing or incomplete)."""
    return facts_of(load_profile(controller_id))


__all__ = [
    "LANGUAGES",
    "Authority",
    "Automated",
    "ContactPoint",
    "ControllerFacts",
    "Country",
    "CriteriaKey",
    "Dpo",
    "LegalBasis",
    "LetterSection",
    "Notice",
    "NoticeStatement",
    "Pairing",
    "Party",
    "Period",
    "PeriodSpec",
    "Provenance",
    "Purpose",
    "Retention",
    "StatedNone",
    "StatedNoneTopic",
    "Text",
    "Transfer",
    "facts_of",
    "load_facts",
]

