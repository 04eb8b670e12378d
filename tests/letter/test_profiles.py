"""Controller profiles carry every fact the Art. 15 letter needs, and the letter's strings are complete."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from connectors.categories import CATEGORIES
from connectors.retention import Period
from connectors.retention_rules import RULES
from dsar_pipeline.letter.catalog import SYSTEM_CATEGORIES, SYSTEM_RULES, SYSTEMS, declared_sources, is_listed
from dsar_pipeline.letter.context import WithheldKind
from dsar_pipeline.letter.facts import ControllerFacts, CriteriaKey, Text, facts_of, load_facts
from dsar_pipeline.letter.words import strings
from dsar_pipeline.profiles import ControllerProfile, ProfileError, load_profile

CONTROLLERS = ["enefit-ee", "enefit-lv", "enertek-lv", "kilowats-lv", "set-lv"]
LANGUAGES = ["et", "lv", "ru", "en"]


def _texts(value: Any) -> list[Text]:
    """Every localised text anywhere inside a facts model."""
    if isinstance(value, Text):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    if hasattr(type(value), "model_fields"):
        return [t for name in type(value).model_fields for t in _texts(getattr(value, name))]
    return []


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_profile_has_every_fact_the_letter_needs(controller):
    facts = load_facts(controller)
    runs = set(facts.systems)
    assert runs <= set(SYSTEMS) and "billing" in runs
    # Art. 15(1)(b) -> (a): every category the controller's systems can produce serves a stated purpose.
    producible = set().union(*(SYSTEM_CATEGORIES[s] for s in runs))
    assert producible <= set(facts.categories), sorted(producible - set(facts.categories))
    assert all(is_listed(c) for c in facts.categories)
    used = {p for purposes in facts.categories.values() for p in purposes}
    assert used == set(facts.purposes), "a purpose no category serves, or a category naming no purpose"
    for purpose in facts.purposes.values():
        # basis: [] — the notice states the purpose but no basis (the letter says so): only a notice purpose.
        assert set(purpose.basis) <= set("abcdef") and (purpose.basis or purpose.from_notice)
    # Art. 15(1)(d): a period or criteria for every retention rule of its systems, and only valid rules.
    needed_rules = set().union(*(SYSTEM_RULES[s] for s in runs))
    assert needed_rules <= set(facts.retention), sorted(needed_rules - set(facts.retention))
    assert set(facts.retention) <= set(RULES)
    for entry in facts.retention.values():
        assert (entry.period is None) != (entry.criteria is None) and entry.basis.strip()
    # Art. 15(1)(c) and (g): recipients and sources. A category the notice names no source for is
    # allowed (issue 14: the letter never fills the notice's silence with a guess).
    assert facts.recipients and facts.sources
    # Art. 15(1)(f) and contacts: the authority can be written to; someone answers data protection questions.
    authority = facts.supervisory_authority
    assert authority.url.startswith("https://") and "@" in authority.email and authority.address
    assert facts.dpo.channels() or facts.customer_service.channels()
    # Art. 15(1)(h) and 15(2): described decisions and transfers are complete (typed), and texts translated.
    authority = facts.supervisory_authority.name
    for text in _texts(facts):
        values = [text.get(lang) for lang in LANGUAGES]
        assert all(v.strip() for v in values)
        if text is not authority:  # an authority's official name may be the same in two languages
            assert len(set(values)) == 4, f"untranslated text: {text.en!r}"
    # The intake's deadline facts are still there.
    profile = load_profile(controller)
    assert profile.answer_deadline_months == 1 and profile.extension_months == 2
    assert profile.systems == facts.systems


def test_which_controller_runs_which_system():
    runs = {c: set(load_facts(c).systems) for c in CONTROLLERS}
    assert runs["enefit-ee"] == set(SYSTEMS)
    assert [c for c in CONTROLLERS if "volt" in runs[c]] == ["enefit-ee"]
    assert [c for c in CONTROLLERS if "avp" in runs[c]] == ["enefit-ee"]
    assert runs["enefit-lv"] == {"billing", "recordings", "portal"}
    assert runs["kilowats-lv"] == {"billing", "recordings"}


def test_retention_periods_from_the_notices():
    ee = load_facts("enefit-ee").retention_periods()
    assert ee["volt_signup"] == Period(hours=48)
    assert ee["call_recording"] == Period(years=3)
    assert ee["contract"] == ee["customer_relationship"] == Period(years=3)
    assert ee["accounting"] == Period(years=7)
    assert ee["debt"] == Period(years=10)
    # Counted from the contract's end in the notice, but from the record's date by the rule: no period
    # for retention findings (it would flag records of live contracts).
    assert "metering_data" not in ee and load_facts("enefit-ee").retention["metering_data"].period is not None
    lv = load_facts("enefit-lv").retention_periods()
    assert lv["call_recording"] == Period(years=3) and lv["contract"] == Period(years=7)
    for controller in ("kilowats-lv", "enertek-lv", "set-lv"):  # their notices set no periods
        assert load_facts(controller).retention_periods() == {}
        assert {e.criteria for e in load_facts(controller).retention.values()} <= set(get_args(CriteriaKey))


def test_catalog_covers_what_the_connectors_declare():
    declared = declared_sources()
    assert {"billing", "volt", "portal", "avp"} <= set(declared)
    for system, sources in declared.items():
        categories = {c for s in sources.values() for c in s.fields.values() if is_listed(c)}
        rules = {s.retention_rule for s in sources.values() if s.retention_rule}
        assert categories <= SYSTEM_CATEGORIES[system], (system, sorted(categories - SYSTEM_CATEGORIES[system]))
        assert rules <= SYSTEM_RULES[system], (system, sorted(rules - SYSTEM_RULES[system]))


def _keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in table.items():
        keys.add(prefix + key)
        if isinstance(value, dict) and key != "units":  # plural forms differ by language
            keys |= _keys(value, f"{prefix}{key}.")
    return keys


def test_string_tables_match_and_cover_every_name():
    english = strings("en")
    for language in LANGUAGES:
        table = strings(language)
        assert _keys(table) == _keys(english), language
        assert {c for c in CATEGORIES if is_listed(c)} <= set(table["categories"])
        assert set(table["rules"]) == set(RULES) == set(table["rule_start"])
        assert set(table["systems"]) == set(SYSTEMS)
        assert set(table["withheld"]) == set(get_args(WithheldKind))
        assert set(table["criteria"]) == set(get_args(CriteriaKey))
        assert set(table["basis"]) == set("abcdef")


def _mutated(change) -> dict[str, Any]:
    data = load_profile("enefit-ee").model_dump()
    change(data)
    return data


@pytest.mark.parametrize("change", [
    lambda d: d["categories"].__setitem__("user.no_such_category", ["contract"]),
    lambda d: d["categories"].__setitem__("user.contact.email", ["no_such_purpose"]),
    lambda d: d["retention"].__setitem__("no_such_rule", {"period": {"years": 1}, "basis": "x"}),
    lambda d: d["retention"].__setitem__("debt", {"period": {"years": 0}, "basis": "x"}),
    lambda d: d["retention"].__setitem__("debt", {"period": {"years": 1}, "criteria": "not_stated", "basis": "x"}),
    lambda d: d["purposes"]["contract"].__setitem__("basis", ["g"]),
    lambda d: d["purposes"]["contract"]["text"].pop("lv"),
    lambda d: d.__setitem__("systems", ["billing", "mainframe"]),
    lambda d: d["sources"]["google"].__setitem__("categories", ["user.nothing"]),
    lambda d: d.pop("dpo"),
])
def test_incomplete_or_wrong_profiles_are_rejected(change):
    data = _mutated(change)
    with pytest.raises((ProfileError, ValidationError)):
        facts_of(ControllerProfile.model_validate(data))


def test_a_valid_copy_is_accepted():
    """The mutation test above fails for the mutation, not for the copy."""
    facts = facts_of(ControllerProfile.model_validate(_mutated(lambda d: None)))
    assert isinstance(facts, ControllerFacts) and facts.id == "enefit-ee"
