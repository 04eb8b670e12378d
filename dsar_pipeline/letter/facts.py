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


class Purpose(_Frozen):
    """A purpose with its legal bases; with ``systems``, it concerns only data found in those systems
    (the e-mail address of a billing customer is not used for the Volt app)."""

    basis: tuple[LegalBasis, ...] = Field(min_length=1)
    text: Text
    systems: tuple[SystemName, ...] = ()
    notice: str = Field(min_length=1, description="where the notice says so (its paragraph numbers)")


class Party(_Frozen):
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
    notice: str = Field(min_length=1)


class Retention(_Frozen):
    """How long the data under one retention rule is kept.

    ``counted_from: rule`` — the period runs from the date the rule counts from (``RULES``), so
    retention findings can use it; ``contract_end`` — the notice counts it from the end of the
    contract while the rule counts from the record's own date, so the letter says "after the
    contract ends" and retention findings do not use it (it would flag records of live contracts).
    Without a period, ``criteria`` states how the period is determined.
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


class Automated(_Frozen):
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
    notice: str = Field(min_length=1)


class Transfer(_Frozen):
    """A transfer outside the EU/EEA (Art. 15(2)) and its safeguard."""

    categories: tuple[str, ...] | Literal["any"]
    text: Text
    safeguard: Text
    recipient: str = Field(min_length=1)
    from_notice: bool = Field(description="false when the safeguard is not stated in the notice (for the DPO)")
    notice: str = Field(min_length=1)


class ContactPoint(_Frozen):
    email: str | None = None
    phone: str | None = None

    def channels(self) -> list[str]:
        return [value for value in (self.email, self.phone) if value]


class Dpo(ContactPoint):
    appointed: bool


class Authority(BaseModel):
    """The supervisory authority with the contact details a complaint needs (Art. 15(1)(f))."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    email: str = Field(min_length=3)
    address: str = Field(min_length=1)
    phone: str | None = None


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
    website: str | None = None
    supervisory_authority: Authority
    notice: Notice
    dpo: Dpo
    customer_service: ContactPoint
    systems: tuple[SystemName, ...] = Field(min_length=1)
    systems_note: str = Field(min_length=1, description="why these systems, from the notice")
    purposes: dict[str, Purpose] = Field(min_length=1)
    categories: dict[str, tuple[str, ...]] = Field(min_length=1)
    recipients: dict[str, Party] = Field(min_length=1)
    sources: dict[str, Party] = Field(min_length=1)
    retention: dict[str, Retention] = Field(min_length=1)
    automated: dict[str, Automated] = Field(default_factory=dict)
    transfers: dict[str, Transfer] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> ControllerFacts:
        if len(set(self.systems)) != len(self.systems):
            raise ValueError("systems: listed twice")
        for category, purposes in self.categories.items():
            if not is_listed(category):
                raise ValueError(f"categories: {category!r} is not a personal data category")
            if not purposes:
                raise ValueError(f"categories: {category!r} serves no purpose")
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
    "CriteriaKey",
    "Dpo",
    "LegalBasis",
    "Notice",
    "Party",
    "Period",
    "PeriodSpec",
    "Purpose",
    "Retention",
    "Text",
    "Transfer",
    "facts_of",
    "load_facts",
]
