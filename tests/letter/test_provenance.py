"""Issue 14: the letter states only what the notice states (or the DPO confirmed), and what our search
found. Silence is never a negative; our reading is printed only once confirmed; the DPO's review copy
shows the source of every statement.

The variants are test-only copies of real profiles (dict edits of the loaded profile), so these tests
do not depend on what today's profiles happen to say, and each checks both sides (with and without the
fact), so it can fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import lxml.html
import pytest
from pydantic import ValidationError

from connectors.contract import Attachment, Record
from connectors.identity import Identifier, IdentityType, Strength
from dsar_pipeline.letter import SECTION_IDS, FoundData, LetterContext, SystemSearch, render_letter
from dsar_pipeline.letter.facts import ControllerFacts, facts_of
from dsar_pipeline.letter.provenance import to_confirm
from dsar_pipeline.letter.words import Words, strings
from dsar_pipeline.profiles import ControllerProfile, load_profile

LANGUAGES = ["et", "lv", "ru", "en"]
CONTROLLERS = ["enefit-ee", "enefit-lv", "enertek-lv", "kilowats-lv", "set-lv"]
RECEIVED, DUE, ANSWERED = date(2026, 11, 25), date(2026, 12, 25), date(2026, 12, 3)
CUSTOMER = frozenset({"user.name.first", "user.name.last", "user.contact.email", "user.financial.invoice"})
TEXT = {"en": "TEST-EN statement of ours.", "et": "TEST-ET meie väide.", "lv": "TEST-LV mūsu apgalvojums.",
        "ru": "TEST-RU наше утверждение."}
WHY = "Test: our reading, not the notice's."
CONFIRMED = {"confirmed_by": "Mari Kask (DPO)", "confirmed_on": date(2026, 11, 30)}


# -- helpers -------------------------------------------------------------------------------------------


def variant(controller: str, *changes: Callable[[dict[str, Any]], None]) -> ControllerProfile:
    """A test-only copy of a real profile with ``changes`` applied to its data."""
    data = load_profile(controller).model_dump()
    for change in changes:
        change(data)
    return ControllerProfile.model_validate(data)


def letter_context(profile: ControllerProfile, language: str = "en", found: dict[str, dict[str, Any]] | None = None,
                   **extra: Any) -> LetterContext:
    found = {"billing": {"records": 7, "categories": CUSTOMER, "rules": {"accounting"}}} if found is None else found
    systems = tuple(SystemSearch(system=name, status="complete", records=found.get(name, {}).get("records", 0),
                                 categories=frozenset(found.get(name, {}).get("categories", ())),
                                 rules=frozenset(found.get(name, {}).get("rules", ())))
                    for name in facts_of(profile).systems)
    return LetterContext(profile=profile, language=language, request_id="r-issue-14", received_on=RECEIVED,
                         due_on=DUE, answered_on=ANSWERED, systems=systems, **extra)


def squeeze(text: str) -> str:
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def text_of(html: str, sid: str | None = None) -> str:
    doc = lxml.html.document_fromstring(html)
    if sid is None:
        return squeeze(doc.text_content())
    (element,) = doc.xpath(f'//section[@id="{sid}"]')
    return squeeze(element.text_content())


def say(language: str, key: str, **values: Any) -> str:
    return squeeze(str(Words(language)(key, **values)))


def contact_of(context: LetterContext) -> str:
    from dsar_pipeline.letter.phrases import contact

    return str(contact(Words(context.language), context.facts.dpo, context.facts.customer_service))


def no_transfers(data: dict[str, Any]) -> None:
    data["transfers"] = {}
    data.get("stated_none", {}).pop("transfers", None)


def stated_none_transfers(data: dict[str, Any]) -> None:
    no_transfers(data)
    data.setdefault("stated_none", {})["transfers"] = {"notice": "9.9"}


# -- schema --------------------------------------------------------------------------------------------


def test_the_real_profiles_are_on_the_issue_14_schema():
    for controller in CONTROLLERS:
        facts = facts_of(load_profile(controller))
        for where, entry in facts.provenanced():
            assert entry.notice if entry.from_notice else entry.why, f"{controller} {where}"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["purposes"][next(iter(d["purposes"]))].update(notice=None), "no notice section"),
    (lambda d: d["purposes"][next(iter(d["purposes"]))].update(from_notice=False, why=None), "no `why`"),
    (lambda d: d["purposes"][next(iter(d["purposes"]))].update(confirmed_by="X"), "come together"),
    (lambda d: d["purposes"][next(iter(d["purposes"]))].update(confirmed_on=date(2026, 1, 1)), "come together"),
    (lambda d: d["supervisory_authority"].update(name="Datu valsts inspekcija (Data State Inspectorate)"),
     "valid dictionary"),
    (lambda d: d["stated_none"].update(transfers={}), "notice"),
    (lambda d: d.pop("electricity_supplier"), "electricity_supplier"),
    (lambda d: d["supervisory_authority"].pop("country"), "country"),
    (lambda d: d["statements"].update(x={"section": "art15-9", "notice": "1", "text": TEXT}), "section"),
])
def test_provenance_rules_are_enforced(change, message):
    data = load_profile("enefit-lv").model_dump()
    data.setdefault("stated_none", {})
    data.setdefault("statements", {})
    change(data)
    with pytest.raises(ValidationError, match=message):
        ControllerFacts.model_validate(data)


def test_the_unchanged_copy_validates():
    """The control for the rejections above: they fail for the change, not for the copy."""
    data = load_profile("enefit-lv").model_dump()
    assert ControllerFacts.model_validate(data).id == "enefit-lv"


# -- silence is never a negative -----------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("controller", ["enefit-lv", "set-lv"])
def test_a_silent_notice_gives_no_negative_but_whom_to_ask(controller, language):
    silent = letter_context(variant(controller, no_transfers), language)
    html = render_letter(silent)
    two = text_of(html, "art15-2")
    assert say(language, "stated_none_2") not in two
    assert say(language, "silent_2", contact=contact_of(silent)) in two

    stated = letter_context(variant(controller, stated_none_transfers), language)
    html = render_letter(stated)
    two = text_of(html, "art15-2")
    assert say(language, "stated_none_2") in two
    assert say(language, "silent_2", contact=contact_of(stated)) not in two
    assert "stated_none.transfers" in text_of(render_letter(stated, sources=True), "art15-2")
    assert "9.9" in text_of(render_letter(stated, sources=True), "art15-2")


@pytest.mark.parametrize("language", LANGUAGES)
def test_transfers_the_notice_describes_for_other_data_are_not_a_negative_either(language):
    def elsewhere(data: dict[str, Any]) -> None:
        no_transfers(data)
        data["transfers"]["app"] = {"categories": ["user.mobility.vehicle"], "recipient": "Test Cloud Inc.",
                                    "text": TEXT, "notice": "7.7"}

    ctx = letter_context(variant("enefit-lv", elsewhere), language)
    two = text_of(render_letter(ctx), "art15-2")
    assert say(language, "not_concerned_2") in two
    assert say(language, "stated_none_2") not in two and TEXT[language] not in two
    assert say(language, "silent_2", contact=contact_of(ctx)) not in two
    found = {"billing": {"records": 2, "categories": CUSTOMER | {"user.mobility.vehicle"}}}
    two = text_of(render_letter(letter_context(ctx.profile, language, found=found)), "art15-2")
    assert TEXT[language] in two and say(language, "not_concerned_2") not in two


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_real_letter_states_a_negative_its_notice_does_not_state(language):
    """Every topic with a negative: printed only with the notice's stated_none (all five profiles)."""
    negatives = {"transfers": ("art15-2", "stated_none_2"), "recipients": ("art15-1c", "stated_none_1c"),
                 "sources": ("art15-1g", "stated_none_1g"),
                 "automated_decisions": ("art15-1h", "stated_none_decisions"),
                 "profiling": ("art15-1h", "stated_none_profiling")}
    for controller in CONTROLLERS:
        profile = load_profile(controller)
        html = render_letter(letter_context(profile, language))
        stated = facts_of(profile).stated_none
        for topic, (sid, key) in negatives.items():
            if topic not in stated:
                assert say(language, key) not in text_of(html, sid), (controller, topic)


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_automated_entries_the_letter_reports_its_finding_and_the_notices_silence(language):
    def no_automated(data: dict[str, Any]) -> None:
        data["automated"] = {}
        data.get("stated_none", {}).pop("automated_decisions", None)
        data.get("stated_none", {}).pop("profiling", None)

    ctx = letter_context(variant("enefit-lv", no_automated), language)
    h = text_of(render_letter(ctx), "art15-1h")
    assert say(language, "no_decisions") in h  # our finding
    assert say(language, "silent_decisions", contact=contact_of(ctx)) in h
    assert say(language, "silent_profiling", contact=contact_of(ctx)) in h
    assert say(language, "stated_none_decisions") not in h

    def stated(data: dict[str, Any]) -> None:
        no_automated(data)
        data.setdefault("stated_none", {}).update(automated_decisions={"notice": "6.1"}, profiling={"notice": "6.2"})

    h = text_of(render_letter(letter_context(variant("enefit-lv", stated), language)), "art15-1h")
    assert say(language, "stated_none_decisions") in h and say(language, "stated_none_profiling") in h
    assert say(language, "silent_decisions", contact=contact_of(ctx)) not in h


# -- our reading: printed only once confirmed ------------------------------------------------------------


def add_transfer(confirmed: bool) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        no_transfers(data)
        data["transfers"]["ours"] = {"categories": "any", "recipient": "Test Cloud Inc.", "text": TEXT,
                                     "from_notice": False, "why": WHY, **(CONFIRMED if confirmed else {})}
    return change


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unconfirmed_reading_is_not_printed_but_listed_to_confirm(language):
    ctx = letter_context(variant("enefit-lv", add_transfer(confirmed=False)), language)
    html = render_letter(ctx)
    assert TEXT[language] not in html
    assert say(language, "silent_2", contact=contact_of(ctx)) in text_of(html, "art15-2")
    (item,) = [u for u in to_confirm(ctx) if u.where == "transfers.ours"]
    assert item.why == WHY and item.section == "art15-2"
    assert TEXT[language] in item.sentence and TEXT["en"] in item.english
    assert TEXT[language] not in render_letter(ctx, sources=True)  # nor in the review copy's letter


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_confirmed_reading_is_printed_and_the_review_copy_says_who_confirmed_it(language):
    ctx = letter_context(variant("enefit-lv", add_transfer(confirmed=True)), language)
    html = render_letter(ctx)
    assert TEXT[language] in text_of(html, "art15-2")
    assert "confirmed by" not in html and 'class="src' not in html  # the customer's letter has no sources
    review = text_of(render_letter(ctx, sources=True), "art15-2")
    assert "confirmed by Mari Kask (DPO) on 2026-11-30 — profile enefit-lv transfers.ours" in review
    assert [u for u in to_confirm(ctx) if u.where == "transfers.ours"] == []
    # no safeguard given: the letter does not invent one, it says whom to ask
    assert say(language, "safeguard_not_stated", contact=contact_of(ctx)) in text_of(html, "art15-2")


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unconfirmed_retention_entry_gives_no_period_but_whom_to_ask(language):
    def ours(data: dict[str, Any]) -> None:
        data["retention"]["accounting"] = {"period": {"years": 99}, "basis": "test", "from_notice": False, "why": WHY}

    ctx = letter_context(variant("enefit-lv", ours), language)
    d = text_of(render_letter(ctx), "art15-1d")
    w = Words(language)
    assert w.period(facts_of(ctx.profile).retention["accounting"].period) not in d  # type: ignore[arg-type]
    assert say(language, "retention_not_stated", rules=w.sub("rules", "accounting"), contact=contact_of(ctx)) in d
    assert [u.where for u in to_confirm(ctx)].count("retention.accounting") == 1

    def gone(data: dict[str, Any]) -> None:
        data["retention"].pop("accounting")

    ctx = letter_context(variant("enefit-lv", gone), language)
    d = text_of(render_letter(ctx), "art15-1d")
    assert say(language, "retention_not_stated", rules=w.sub("rules", "accounting"), contact=contact_of(ctx)) in d


# -- purposes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_category_without_a_stated_purpose_says_so_and_whom_to_ask(language):
    def unstated(data: dict[str, Any]) -> None:
        data["categories"]["user.financial.invoice"] = []

    ctx = letter_context(variant("enefit-lv", unstated), language)
    a = text_of(render_letter(ctx), "art15-1a")
    w = Words(language)
    expected = say(language, "purpose_not_stated", categories=w.category("user.financial.invoice"),
                   contact=contact_of(ctx))
    assert expected in a
    plain = text_of(render_letter(letter_context(load_profile("enefit-lv"), language)), "art15-1a")
    assert expected not in plain


@pytest.mark.parametrize("language", LANGUAGES)
def test_categories_in_running_text_are_joined_with_semicolons(language):
    """Category names contain the language's "and" ("klienta un kontaktinformācija"); the list does not."""
    def unstated(data: dict[str, Any]) -> None:
        data["categories"]["user.financial.invoice"] = []
        data["categories"]["user.contact.email"] = []

    ctx = letter_context(variant("enefit-lv", unstated), language)
    a = text_of(render_letter(ctx), "art15-1a")
    w = Words(language)
    invoice, email = w.category("user.financial.invoice"), w.category("user.contact.email")
    joined = [say(language, "purpose_not_stated", categories=f"{x}; {y}", contact=contact_of(ctx))
              for x, y in ((invoice, email), (email, invoice))]
    assert any(j in a for j in joined), a
    assert say(language, "purpose_not_stated", categories=w.join([invoice, email]), contact=contact_of(ctx)) not in a
    assert say(language, "purpose_not_stated", categories=w.join([email, invoice]), contact=contact_of(ctx)) not in a


# -- wording --------------------------------------------------------------------------------------------


ENERGY = {"en": "electricity market", "et": "elektrituru", "lv": "elektroenerģijas tirgus",
          "ru": "рынка электроэнергии"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_electricity_market_wording_only_for_electricity_suppliers(language):
    def not_supplier(data: dict[str, Any]) -> None:
        data["electricity_supplier"] = False
        data["statements"] = {}  # the notice's own statements may name its energy law: the wording under test is ours

    e = text_of(render_letter(letter_context(variant("enefit-lv", not_supplier), language)), "art15-1e")
    assert ENERGY[language] not in e.lower()
    supplier = text_of(render_letter(letter_context(load_profile("enefit-lv"), language)), "art15-1e")
    assert ENERGY[language] in supplier.lower()
    for controller in CONTROLLERS:
        profile = load_profile(controller)
        if not facts_of(profile).electricity_supplier:
            assert ENERGY[language] not in text_of(render_letter(letter_context(profile, language))).lower(), controller


ENGLISH_IN_OTHER_LETTERS = re.compile(
    r"Estonia\b|Latvia\b|Lithuania\b|Inspectorate|Data State|Data Protection|\(DSO\)|\bDSO\b|data hub", re.I)


@pytest.mark.parametrize("language", ["et", "lv", "ru"])
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_no_english_gloss_or_english_country_name_in_other_languages(controller, language):
    profile = load_profile(controller)
    found = {name: {"records": 3, "categories": set(facts_of(profile).categories), "rules": set()}
             for name in facts_of(profile).systems}
    html = render_letter(letter_context(profile, language, found=found))
    text = text_of(html)
    assert not ENGLISH_IN_OTHER_LETTERS.search(text), ENGLISH_IN_OTHER_LETTERS.search(text)
    country = strings(language)["countries"][profile.country]
    # the authority's address, and the controller's when the notice gives one
    assert text_of(html, "art15-1f").count(country) >= 1
    assert text.count(country) >= (2 if facts_of(profile).address else 1)
    if language == "lv":
        assert "datu centr" not in text and "lai varat" not in text
    if language == "ru":
        term = {"EE": "регистрационный код", "LV": "единый регистрационный номер"}[profile.country]
        assert f"{term} {profile.registration_number}" in text if profile.registration_number else True


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_right_is_a_whole_sentence_with_its_subject(language):
    ctx = letter_context(load_profile("enefit-lv"), language,
                         found={"billing": {"records": 3, "categories": set(facts_of(load_profile("enefit-lv"))
                                                                            .categories)}},
                         decisions=())
    doc = lxml.html.document_fromstring(render_letter(ctx))
    items = [squeeze(li.text_content()) for li in doc.xpath('//section[@id="art15-1e"]/ul/li')]
    assert len(items) >= 5
    for item in items:
        assert item[0].isupper() and item.endswith("."), item
    assert strings(language)["p_1e"].endswith(":")


# -- the copy: recordings and chats ----------------------------------------------------------------------


def _call(key: str, channel: str, audio: bool) -> Record:
    fields = {"call_id": key, "channel": channel, "queue": "billing",
              "transcript": [{"role": "customer", "text": "hello"}] if channel == "chatbot" else None}
    categories = {"call_id": "user.unique_id", "channel": "user.content.call_metadata",
                  "queue": "user.content.call_metadata", "transcript": "user.content.chat_transcript"}
    attachment = Attachment(uri=f"s3://b/{key}.wav", size=10, media_type="audio/wav") if audio else None
    return Record(system="recordings", source="calls", key=key, fields=fields, categories=categories,
                  matched_by=(Identifier(IdentityType.CUSTOMER_ID, "1", Strength.STRONG),),
                  retrieved_at=datetime(2026, 11, 26, tzinfo=UTC), attachment=attachment)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_copy_counts_recordings_and_chat_sessions_apart(language):
    records = [_call(f"v{n}", "voice", audio=True) for n in range(15)]
    records += [_call(f"c{n}", "chatbot", audio=False) for n in range(5)]
    records += [_call("lost", "voice", audio=False)]
    profile = load_profile("enefit-lv")
    found = FoundData(rules={("recordings", "calls"): "call_recording"}).add_all(records)
    fields = found.context_fields({name: "complete" for name in facts_of(profile).systems})
    assert (fields["recordings"], fields["chats"], fields["calls_without_audio"]) == (15, 5, 1)
    ctx = LetterContext(profile=profile, language=language, request_id="r-rec", received_on=RECEIVED, due_on=DUE,
                        answered_on=ANSWERED, **fields)
    three = text_of(render_letter(ctx), "art15-3")
    w = Words(language)
    assert say(language, "copy_recordings", count=w.number(15)) in three
    assert say(language, "copy_chats", count=w.number(5)) in three
    assert say(language, "copy_calls_without_audio", count=w.number(1)) in three
    only_voice = LetterContext(**{**ctx.model_dump(exclude={"profile"}), "profile": profile, "chats": 0,
                                  "calls_without_audio": 0})
    three = text_of(render_letter(only_voice), "art15-3")
    assert say(language, "copy_chats", count=w.number(5)) not in three


# -- the answer rule --------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_letter_states_the_notices_answer_rule_or_the_laws(language):
    def promise(data: dict[str, Any]) -> None:
        data["answer_promise"] = {"days": 21, "notice": "8.1", "quote": "21 päeva",
                                  "extension": {"months": 1, "notice": "8.2"}}

    def none(data: dict[str, Any]) -> None:
        data["answer_promise"] = {}

    w = Words(language)
    forms = w.table["units"]["within_days"]
    within = (forms.get(w.locale.plural_form(21)) or forms["other"]).format(n=w.number(21))
    promised = letter_context(variant("enefit-lv", promise), language)
    e = text_of(render_letter(promised), "art15-1e")
    assert say(language, "answer_promise_days", within=within) in e
    assert squeeze(w.table["answer_extension"]["m1"]) in e and squeeze(w.table["answer_law"]) not in e
    assert "8.1 — profile enefit-lv answer_promise.days" in text_of(render_letter(promised, sources=True), "art15-1e")
    e = text_of(render_letter(letter_context(variant("enefit-lv", none), language)), "art15-1e")
    assert squeeze(w.table["answer_law"]) in e and squeeze(w.table["answer_extension"]["m1"]) not in e


# -- statements ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_notice_statements_are_printed_in_their_section_with_their_source(language):
    def statement(data: dict[str, Any]) -> None:
        data.setdefault("statements", {})["test_route"] = {"section": "art15-1g", "notice": "5.5", "text": TEXT}
        data["statements"]["test_ours"] = {"section": "intro", "from_notice": False, "why": WHY,
                                           "text": {k: v.replace("TEST", "OURS") for k, v in TEXT.items()}}

    ctx = letter_context(variant("enefit-lv", statement), language)
    html = render_letter(ctx)
    assert TEXT[language] in text_of(html, "art15-1g") and TEXT[language] not in text_of(html, "art15-1f")
    assert TEXT[language].replace("TEST", "OURS") not in html
    assert "5.5 — profile enefit-lv statements.test_route" in text_of(render_letter(ctx, sources=True), "art15-1g")
    assert "statements.test_ours" in [u.where for u in to_confirm(ctx)]


# -- the review copy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "lv"])
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_the_review_copy_has_a_source_beside_every_statement(controller, language):
    profile = load_profile(controller)
    facts = facts_of(profile)
    found = {name: {"records": 3, "categories": set(facts.categories), "rules": set(facts.retention)}
             for name in facts.systems}
    ctx = letter_context(profile, language, found=found, withheld={"other_person": 1})
    review = lxml.html.document_fromstring(render_letter(ctx, sources=True))
    blocks = review.xpath("//section//p | //section//li[not(ancestor::table)] | //body/p")
    blocks = [b for b in blocks if not b.xpath('ancestor::span[contains(@class, "src")]')]
    assert len(blocks) > 25
    unsourced = [squeeze(b.text_content())[:60] for b in blocks
                 if not b.xpath('./span[contains(concat(" ", @class, " "), " src ")]')]
    # the salutation is the only line that states nothing
    assert unsourced == [squeeze(str(Words(language)("salutation")))]
    customer = render_letter(ctx)
    assert 'class="src' not in customer and ".src" not in customer
    assert [s.get("id") for s in lxml.html.document_fromstring(customer).xpath("//section")] == \
        ["confirmation", *SECTION_IDS]
