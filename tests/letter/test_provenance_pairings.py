"""Issue 14, continued: category -> purpose pairings carry provenance, a notice purpose may state no
legal basis (``basis: []``), non-suppliers get neutral category names, and Art. 15(1)(g) names the
categories no printable source covers.

Like ``test_provenance``, each test edits a test-only copy of a real profile and checks both sides
(with and without the change), so it can fail.
"""

from __future__ import annotations

from typing import Any

import pytest

from dsar_pipeline.letter import render_letter
from dsar_pipeline.letter.facts import facts_of
from dsar_pipeline.letter.phrases import category_name
from dsar_pipeline.letter.provenance import to_confirm
from dsar_pipeline.letter.words import Words, strings
from dsar_pipeline.profiles import ProfileError, load_profile

from .test_provenance import CONFIRMED, LANGUAGES, contact_of, letter_context, say, text_of, variant

INVOICE = "user.financial.invoice"
READING = "Test: invoices read as payment information (our reading of the pairing)."


def _invoice_pairing(**extra: Any):
    def change(data: dict[str, Any]) -> None:
        data["categories"][INVOICE] = {"purposes": ["billing"], "from_notice": False, "why": READING, **extra}
    return change


def _billing_text(language: str) -> str:
    return facts_of(load_profile("enefit-lv")).purposes["billing"].text.get(language)


def _only_invoice_serves_billing(data: dict[str, Any]) -> None:
    # In enefit-lv, billing is also served by other categories; keep the invoice as its only tie here.
    for category, entry in data["categories"].items():
        if category != INVOICE and isinstance(entry, list | tuple) and "billing" in entry:
            data["categories"][category] = [p for p in entry if p != "billing"]


# -- pairings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unconfirmed_pairing_counts_as_no_stated_purpose_and_is_listed_to_confirm(language):
    ctx = letter_context(variant("enefit-lv", _only_invoice_serves_billing, _invoice_pairing()), language)
    a = text_of(render_letter(ctx), "art15-1a")
    w = Words(language)
    assert _billing_text(language) not in a
    assert say(language, "purpose_not_stated", categories=w.category(INVOICE), contact=contact_of(ctx)) in a
    (item,) = [u for u in to_confirm(ctx) if u.where == f"categories.{INVOICE}"]
    assert item.why == READING and item.section == "art15-1a"
    assert _billing_text(language) in item.sentence
    # the plain list form is the notice's pairing: printed, nothing to confirm
    plain = letter_context(variant("enefit-lv", _only_invoice_serves_billing), language)
    assert _billing_text(language) in text_of(render_letter(plain), "art15-1a")
    assert f"categories.{INVOICE}" not in [u.where for u in to_confirm(plain)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_confirmed_pairing_is_printed_and_the_review_copy_says_who_confirmed_it(language):
    ctx = letter_context(variant("enefit-lv", _only_invoice_serves_billing, _invoice_pairing(**CONFIRMED)),
                         language)
    a = text_of(render_letter(ctx), "art15-1a")
    assert _billing_text(language) in a
    assert say(language, "purpose_not_stated", categories=Words(language).category(INVOICE),
               contact=contact_of(ctx)) not in a
    assert f"categories.{INVOICE}" not in [u.where for u in to_confirm(ctx)]
    review = text_of(render_letter(ctx, sources=True), "art15-1a")
    assert f"{INVOICE} (our reading, confirmed by Mari Kask (DPO) on 2026-11-30" in review
    assert "our reading, confirmed:" in review


def test_a_pairing_that_is_our_reading_needs_its_why_and_a_notice_pairing_its_section():
    with pytest.raises(ProfileError, match=f"categories.{INVOICE}: from_notice is false but no `why`"):
        facts_of(variant("enefit-lv", lambda d: d["categories"].__setitem__(
            INVOICE, {"purposes": ["billing"], "from_notice": False})))
    with pytest.raises(ProfileError, match=f"categories.{INVOICE}: from_notice is true but no notice section"):
        facts_of(variant("enefit-lv", lambda d: d["categories"].__setitem__(INVOICE, {"purposes": ["billing"]})))
    ok = facts_of(variant("enefit-lv", lambda d: d["categories"].__setitem__(
        INVOICE, {"purposes": ["billing"], "notice": "7.1.5"})))
    assert ok.categories[INVOICE] == ("billing",) and ok.pairing(INVOICE).printable


def test_the_audited_readings_of_pairings_are_in_the_mapping_form_and_not_confirmed():
    # The audits mark these pairings "our reading — to confirm"; nobody has confirmed them.
    for controller, category in [("set-lv", "user.name"), ("set-lv", "user.financial.invoice"),
                                 ("enertek-lv", "user.contact.email"), ("enefit-ee", "user.unique_id")]:
        pairing = facts_of(load_profile(controller)).pairing(category)
        assert not pairing.from_notice and pairing.why and not pairing.confirmed, (controller, category)


# -- basis: [] -----------------------------------------------------------------------------------------


def _billing_without_basis(data: dict[str, Any]) -> None:
    data["purposes"]["billing"]["basis"] = []


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_purpose_without_a_stated_basis_is_printed_with_whom_to_ask(language):
    ctx = letter_context(variant("enefit-lv", _billing_without_basis), language)
    html = render_letter(ctx)
    a = text_of(html, "art15-1a")
    asked = say(language, "basis_not_stated", contact=contact_of(ctx))
    assert _billing_text(language) in a and asked in a
    assert "(" not in strings(language)["basis_not_stated"].split("{contact}")[0]  # no GDPR article guessed
    review = text_of(render_letter(ctx, sources=True), "art15-1a")
    assert "legal basis: notice silent (basis: [])" in review
    plain = letter_context(load_profile("enefit-lv"), language)
    assert asked not in text_of(render_letter(plain), "art15-1a")


def test_only_a_notice_purpose_may_leave_its_basis_empty():
    def reading(data: dict[str, Any]) -> None:
        data["purposes"]["billing"].update(basis=[], from_notice=False, why="Test reading.")

    with pytest.raises(ProfileError, match="basis: \\[\\]"):
        facts_of(variant("enefit-lv", reading))


@pytest.mark.parametrize(("controller", "key"), [("set-lv", "cookie_marketing"), ("enertek-lv", "website"),
                                                 ("kilowats-lv", "communication"), ("enefit-ee", "volt_google")])
def test_the_audited_purposes_without_a_basis_are_the_notices(controller, key):
    purpose = facts_of(load_profile(controller)).purposes[key]
    assert purpose.from_notice and purpose.notice and purpose.basis == ()


# -- category names ------------------------------------------------------------------------------------------


CONTRACT = "user.energy.contract"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("controller", ["enefit-lv", "set-lv", "enertek-lv", "kilowats-lv", "enefit-ee"])
def test_a_non_supplier_contract_is_not_an_electricity_contract(controller, language):
    facts = facts_of(load_profile(controller))
    found = {"billing": {"records": 3, "categories": {CONTRACT, "user.name"}, "rules": {"contract"}}}
    b = text_of(render_letter(letter_context(load_profile(controller), language, found=found)), "art15-1b")
    table = strings(language)
    neutral, electric = table["categories_non_supplier"][CONTRACT], table["categories"][CONTRACT]
    assert neutral != electric
    if facts.electricity_supplier:
        assert electric in b
    else:
        assert electric not in b and neutral in b
        assert category_name(Words(language), CONTRACT, False) == neutral


# -- Art. 15(1)(g) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_categories_no_source_covers_are_named_with_whom_to_ask(language):
    def invoice_source_only(data: dict[str, Any]) -> None:
        data.get("stated_none", {}).pop("sources", None)
        data["sources"] = {key: {**party, "categories": [INVOICE]} for key, party in data["sources"].items()}

    found = {"billing": {"records": 3, "categories": {INVOICE, "user.contact.email"}, "rules": {"accounting"}}}
    ctx = letter_context(variant("enefit-lv", invoice_source_only), language, found=found)
    g = text_of(render_letter(ctx), "art15-1g")
    w = Words(language)
    line = say(language, "source_not_stated", categories=w.category("user.contact.email"), contact=contact_of(ctx))
    assert line in g
    assert w.category(INVOICE) not in line
    assert "no printable source covers these categories found: user.contact.email" in \
        text_of(render_letter(ctx, sources=True), "art15-1g")

    def email_too(data: dict[str, Any]) -> None:
        data["sources"] = {key: {**party, "categories": [INVOICE, "user.contact.email"]}
                           for key, party in data["sources"].items()}

    covered = letter_context(variant("enefit-lv", invoice_source_only, email_too), language, found=found)
    assert w.table["source_not_stated"].split("{")[0].strip()[:30] not in text_of(render_letter(covered), "art15-1g")


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_source_line_when_the_notice_states_the_data_come_from_the_person(language):
    def only_from_you(data: dict[str, Any]) -> None:
        data["sources"] = {key: {**party, "categories": [INVOICE]} for key, party in data["sources"].items()}
        data["stated_none"] = {**data.get("stated_none", {}), "sources": {"notice": "6.1"}}

    found = {"billing": {"records": 3, "categories": {INVOICE, "user.contact.email"}, "rules": {"accounting"}}}
    ctx = letter_context(variant("enefit-lv", only_from_you), language, found=found)
    g = text_of(render_letter(ctx), "art15-1g")
    assert say(language, "source_not_stated", categories=Words(language).category("user.contact.email"),
               contact=contact_of(ctx)) not in g
