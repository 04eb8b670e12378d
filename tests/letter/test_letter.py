"""The Art. 15 letter: every anchored section in four languages, localised, and tailored to what was found."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import lxml.html
import pytest
from pydantic import ValidationError

from connectors.contract import Attachment, Record
from connectors.identity import Identifier, IdentityType, Strength
from dsar_pipeline.letter import (
    SECTION_IDS,
    DecisionFound,
    FoundData,
    LetterContext,
    SystemSearch,
    load_facts,
    render_letter,
)
from dsar_pipeline.letter.facts import PeriodSpec
from dsar_pipeline.letter.words import Words, strings
from dsar_pipeline.profiles import load_profile

LANGUAGES = ["et", "lv", "ru", "en"]
CONTROLLERS = ["enefit-ee", "enefit-lv", "kilowats-lv", "enertek-lv", "set-lv"]
RECEIVED, DUE, ANSWERED = date(2026, 11, 25), date(2026, 12, 25), date(2026, 12, 3)
CUSTOMER = frozenset({"user.name.first", "user.name.last", "user.contact.email", "user.energy.contract",
                      "user.financial.invoice", "system.operations"})


def context(controller: str = "enefit-ee", language: str = "en", *, found: dict[str, dict[str, Any]] | None = None,
            failed: tuple[str, ...] = (), **extra: Any) -> LetterContext:
    """A context where `found` maps system -> {records, categories, rules}; other systems searched, empty."""
    found = {"billing": {"records": 12, "categories": CUSTOMER, "rules": {"customer_relationship", "accounting"}}} \
        if found is None else found
    systems = tuple(
        SystemSearch(system=name, status="failed" if name in failed else "complete",
                     records=found.get(name, {}).get("records", 0),
                     categories=frozenset(found.get(name, {}).get("categories", ())),
                     rules=frozenset(found.get(name, {}).get("rules", ())))
        for name in load_facts(controller).systems)
    return LetterContext(profile=load_profile(controller), language=language, request_id="r-0123456789abcdef",
                         received_on=RECEIVED, due_on=DUE, answered_on=ANSWERED, systems=systems, **extra)


def parse(html: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(html)


def section(doc: lxml.html.HtmlElement, sid: str) -> str:
    (element,) = doc.xpath(f'//section[@id="{sid}"]')
    return _squeeze(element.text_content())


def _squeeze(text: str) -> str:
    """Collapse line breaks and runs of ordinary spaces; keep the no-break spaces Babel puts in numbers and dates."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def say(language: str, key: str, **values: Any) -> str:
    """A string of the table, filled in: what the letter must contain (whitespace normalised)."""
    return _squeeze(str(Words(language)(key, **values)))


# -- structure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_every_anchored_section_in_every_language(controller, language):
    html = render_letter(context(controller, language))
    doc = parse(html)
    assert doc.get("lang") == language
    ids = [s.get("id") for s in doc.xpath("//section")]
    assert ids == ["confirmation", *SECTION_IDS]
    for sid in SECTION_IDS:
        (element,) = doc.xpath(f'//section[@id="{sid}"]')
        heading = element.xpath("./h2")[0].text_content().strip()
        body = element.text_content().replace(heading, "").strip()
        assert heading and body, sid
    assert strings(language)["h_1e"] in section(doc, "art15-1e")


def test_letter_is_self_contained():
    html = render_letter(context(found={"billing": {"records": 3, "categories": CUSTOMER}},
                                 decisions=(DecisionFound(kind="credit_check", on=date(2025, 1, 2)),)))
    doc = parse(html)
    assert not doc.xpath("//script | //link | //img | //iframe | //object | //embed | //*[@src]")
    style = " ".join(doc.xpath("//style/text()"))
    assert "url(" not in style and "@import" not in style
    assert doc.xpath("//meta/@charset") == ["utf-8"]


# -- localisation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "received", "count"), [
    ("et", "25. november 2026", "12\xa0345"),
    ("lv", "2026. gada 25. novembris", "12\xa0345"),
    ("ru", "25 ноября 2026\u202fг.", "12\xa0345"),
    ("en", "25 November 2026", "12,345"),
])
def test_dates_and_numbers_follow_the_locale(language, received, count):
    doc = parse(render_letter(context(language=language,
                                      found={"billing": {"records": 12345, "categories": CUSTOMER}})))
    meta = [row.text_content() for row in doc.xpath('//table[@class="meta"]//tr')]
    assert any(received in row for row in meta)
    records = [td.text for td in doc.xpath('//table[@class="systems"]//td[@class="num"]')]
    assert count in records


def test_periods_in_each_language():
    assert Words("et").period(PeriodSpec(months=6)) == "6 kuud"  # Babel has no Estonian month unit
    assert Words("en").period(PeriodSpec(years=1, months=6)) == "1 year and 6 months"
    assert Words("ru").period(PeriodSpec(years=7)) == "7 лет"
    assert Words("lv").period(PeriodSpec(hours=48)) == "48 stundas"


# -- tailoring ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_only_categories_found_are_listed(language):
    table = strings(language)
    facts = load_facts("enefit-ee")
    doc = parse(render_letter(context(language=language)))
    b, a, d = section(doc, "art15-1b"), section(doc, "art15-1a"), section(doc, "art15-1d")
    for found in ("user.name.first", "user.contact.email", "user.financial.invoice"):
        assert table["categories"][found] in b
    for absent in ("user.mobility.vehicle_mac_address", "user.sensor.audio", "user.financial.credit_check",
                   "user.energy.consumption_series", "user.device.ip_address"):
        assert table["categories"][absent] not in b
    assert "system.operations" not in b
    # A purpose is printed exactly when a category found serves it (the profile's categories map).
    found = {c for c in CUSTOMER if c != "system.operations"}
    served = {key for category in found for key in facts.categories.get(category, ())}
    printed = [key for key, p in facts.purposes.items() if p.printable and key in served and not p.systems]
    unserved = [key for key, p in facts.purposes.items() if key not in served]
    assert printed and unserved
    for key in printed:
        assert facts.purposes[key].text.get(language) in a, key
    for key in unserved:
        assert facts.purposes[key].text.get(language) not in a, key
    assert table["rules"]["accounting"] in d
    assert table["rules"]["volt_signup"] not in d and table["rules"]["call_recording"] not in d


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("controller", ["enefit-ee", "enefit-lv"])
def test_credit_check_is_described_only_to_the_person_it_concerns(controller, language):
    table, facts = strings(language), load_facts(controller)
    title = facts.automated["credit_check"].title.get(language)
    checked = context(controller, language,
                      found={"billing": {"records": 5, "categories": CUSTOMER | {"user.financial.credit_check"},
                                         "rules": {"credit_check"}}},
                      decisions=(DecisionFound(kind="credit_check", on=date(2024, 5, 1), outcome="deposit_required"),))
    doc = parse(render_letter(checked))
    h = section(doc, "art15-1h")
    assert title in h and table["outcomes"]["deposit_required"] in h
    assert Words(language).date(date(2024, 5, 1)) in h
    assert facts.automated["credit_check"].logic.get(language) in h
    assert _squeeze(table["no_decisions"]) not in h
    assert table["right_automated"].rstrip(".;") in section(doc, "art15-1e")
    rows = doc.xpath('//section[@id="art15-1h"]//tbody/tr')
    assert len(rows) == 1

    unchecked = parse(render_letter(context(controller, language)))
    h = section(unchecked, "art15-1h")
    assert _squeeze(table["no_decisions"]) in h
    assert title not in h
    assert table["right_automated"].rstrip(".;") not in section(unchecked, "art15-1e")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("controller", CONTROLLERS)
def test_no_data_held(controller, language):
    table, legal_name = strings(language), load_facts(controller).legal_name
    ctx = context(controller, language, found={})
    doc = parse(render_letter(ctx))
    assert say(language, "confirm_no", controller=legal_name) in section(doc, "confirmation")
    assert _squeeze(table["none_1b"]) in section(doc, "art15-1b")
    assert _squeeze(table["none_1a"]) in section(doc, "art15-1a")
    assert _squeeze(table["none_1g"]) in section(doc, "art15-1g")
    assert _squeeze(table["copy_none"]) in section(doc, "art15-3")
    assert not doc.xpath('//section[@id="art15-1b"]//table')
    assert say(language, "confirm_yes", controller=legal_name) not in section(doc, "confirmation")


@pytest.mark.parametrize("language", LANGUAGES)
def test_failed_system_is_named_as_not_searched_completely(language):
    table = strings(language)
    name = table["systems"]["recordings"]
    doc = parse(render_letter(context(language=language, failed=("recordings",))))
    (row,) = doc.xpath('//table[@class="systems"]//tr[@class="failed"]')
    assert name in row.text_content() and table["status_failed"] in row.text_content()
    confirmation = section(doc, "confirmation")
    assert say(language, "incomplete", systems=name, due=Words(language).date(DUE)) in confirmation
    assert say(language, "copy_incomplete", systems=name, due=Words(language).date(DUE)) in section(doc, "art15-3")
    # Babel's Russian date ends with "г."; the sentence must not end in a double full stop.
    assert ".." not in confirmation and ".." not in section(doc, "art15-3")
    # Nothing found and a system failed: the letter does not claim that no data is held.
    empty = parse(render_letter(context(language=language, found={}, failed=("recordings",))))
    assert _squeeze(table["confirm_no_incomplete"]) in section(empty, "confirmation")
    assert say(language, "confirm_no", controller="Enefit AS") not in section(empty, "confirmation")


@pytest.mark.parametrize("language", LANGUAGES)
def test_withheld_information_is_counted(language):
    table, w = strings(language), Words(language)
    doc = parse(render_letter(context(language=language, withheld={"staff_identity": 1234, "unconfirmed_match": 2})))
    rows = [r.text_content() for r in doc.xpath('//section[@id="art15-4"]//tbody/tr')]
    assert len(rows) == 2
    assert table["withheld"]["staff_identity"] in rows[0] and w.number(1234) in rows[0]
    assert table["withheld"]["unconfirmed_match"] in rows[1]
    assert table["withheld"]["other_person"] not in section(doc, "art15-4")
    nothing = parse(render_letter(context(language=language)))
    assert _squeeze(table["none_4"]) in section(nothing, "art15-4")


def test_sources_transfers_and_recipients_follow_what_was_found():
    facts = load_facts("enefit-ee")
    volt = {"records": 4, "categories": {"user.contact.email", "user.account.external_login"}, "rules": {"app_account"}}
    hub = {"records": 40, "categories": {"user.energy.consumption_series", "user.energy.metering_point_id"},
           "rules": {"metering_data"}}
    debt = {"records": 3, "categories": CUSTOMER | {"user.financial.debt"}, "rules": {"debt"}}
    rich = {"billing": debt, "volt": volt, "avp": hub}
    doc = parse(render_letter(context(found=rich, counterparties={"collection_agency": ("Julianus Inkasso OÜ",)})))
    plain = parse(render_letter(context()))

    def concerns(party, found: dict[str, dict[str, Any]]) -> bool:
        systems = [s for s in found if not getattr(party, "systems", ()) or s in party.systems]
        categories = set().union(*(found[s]["categories"] for s in systems)) if systems else set()
        return party.printable and bool(categories) and (party.categories == "any" or bool(
            set(party.categories) & categories))

    plain_found = {"billing": {"categories": CUSTOMER}}
    checked = 0
    for group, sid in (("sources", "art15-1g"), ("recipients", "art15-1c")):
        for key, party in getattr(facts, group).items():
            for letter, found in ((doc, rich), (plain, plain_found)):
                printed = party.text.en in section(letter, sid)
                assert printed == concerns(party, found), (group, key)
                checked += printed != concerns(party, plain_found)
    assert checked, "the richer data should print some source or recipient the plain data does not"
    assert "Julianus Inkasso OÜ" in section(doc, "art15-1c") and "Julianus Inkasso OÜ" not in section(plain, "art15-1c")
    for key, transfer in facts.transfers.items():
        assert (transfer.text.en in section(doc, "art15-2")) == (transfer.printable and concerns(transfer, rich)), key
    assert "10 years from the settlement of the debt" in section(doc, "art15-1d")


def test_retention_without_periods_states_the_criteria():
    doc = parse(render_letter(context("kilowats-lv", "lv")))
    assert strings("lv")["criteria"]["needed_then_law"] in section(doc, "art15-1d")
    doc = parse(render_letter(context("enefit-ee", "et", found={"volt": {
        "records": 1, "categories": {"user.contact.email"}, "rules": {"volt_signup"}}})))
    assert "48 tundi registreerumise alustamisest" in section(doc, "art15-1d")


def test_names_from_the_data_are_escaped():
    html = render_letter(context(person_name="<script>alert(1)</script> & Co"))
    doc = parse(html)
    assert not doc.xpath("//script")
    assert "<script>alert(1)</script> & Co" in doc.xpath("//body/p")[0].text_content()


def rebuild(base: LetterContext, **changes: Any) -> LetterContext:
    return LetterContext(**{**base.model_dump(exclude={"profile"}), "profile": base.profile, **changes})


def test_rebuilding_a_context_unchanged_is_valid():
    """The control for the rejection tests below: they fail for the change, not for the rebuild."""
    base = context("enefit-lv", failed=("portal",))
    assert rebuild(base) == base and not rebuild(base).is_copy_complete


@pytest.mark.parametrize("bad", [
    {"systems": ()},
    {"received_on": date(2027, 1, 1)},
    {"answered_on": date(2026, 1, 1)},
    {"request_id": "r 1"},
    {"copy_complete": True},
    {"language": "de"},
    {"withheld": {"staff_identity": -1}},
    {"withheld": {"agent_mood": 1}},
])
def test_inconsistent_contexts_are_rejected(bad):
    with pytest.raises(ValidationError):
        rebuild(context("enefit-lv", failed=("portal",)), **bad)


def test_system_lists_must_match_what_the_controller_runs():
    base = context("enefit-lv")
    volt = SystemSearch(system="volt", status="complete")
    with pytest.raises(ValidationError, match="not run"):
        rebuild(base, systems=(*base.systems, volt))
    with pytest.raises(ValidationError, match="missing"):
        rebuild(base, systems=base.systems[1:])
    with pytest.raises(ValidationError, match="unknown data categories"):
        SystemSearch(system="billing", status="complete", categories=frozenset({"user.shoe_size"}))


# -- from records ------------------------------------------------------------------------------------


def _record(system: str, source: str, key: str, fields: dict[str, Any], categories: dict[str, str],
            **extra: Any) -> Record:
    match = Identifier(IdentityType.CUSTOMER_ID, "1", Strength.STRONG)
    return Record(system=system, source=source, key=key, fields=fields, categories=categories,
                  matched_by=(match,), retrieved_at=datetime(2026, 11, 26, tzinfo=UTC), **extra)


def test_found_data_reduces_records_to_the_letter_facts():
    rules = {("billing", "customers"): "customer_relationship", ("billing", "credit_checks"): "credit_check",
             ("billing", "collection_steps"): "debt", ("billing", "metering_points"): "contract"}
    records = [
        _record("billing", "customers", "1", {"first_name": "Mari", "last_name": "Maasikas", "language": None},
                {"first_name": "user.name.first", "last_name": "user.name.last",
                 "language": "user.demographic.language"}),
        _record("billing", "credit_checks", "7", {"bureau": "Creditinfo Eesti AS", "automated": True,
                                                  "checked_at": "2024-05-01T21:30:00+00:00",
                                                  "decision": "deposit_required"},
                {"bureau": "user.financial.credit_check", "automated": "user.financial.credit_check",
                 "checked_at": "user.financial.credit_check", "decision": "user.financial.credit_check"}),
        _record("billing", "collection_steps", "9", {"step": "reminder", "taken_at": date(2025, 2, 3),
                                                     "agency": None},
                {"step": "user.financial.debt", "taken_at": "user.financial.debt", "agency": "user.financial.debt"}),
        _record("billing", "collection_steps", "10", {"step": "collection_agency", "taken_at": date(2025, 3, 5),
                                                      "agency": "Julianus Inkasso OÜ"},
                {"step": "user.financial.debt", "taken_at": "user.financial.debt", "agency": "user.financial.debt"}),
        _record("billing", "metering_points", "3", {"eic": "38ZEE-00000001-X", "grid_operator": "Elektrilevi OÜ"},
                {"eic": "user.energy.metering_point_id", "grid_operator": "user.energy.contract"}),
        _record("recordings", "calls", "c1", {"call_id": "c1", "agent_name": "Agent Smith", "queue": "billing"},
                {"call_id": "user.unique_id", "agent_name": "third_party.staff", "queue": "user.content.call_metadata"},
                attachment=Attachment(uri="s3://b/c1.wav", size=10, media_type="audio/wav")),
    ]
    found = FoundData(rules=rules, zone=load_profile("enefit-ee").zone).add_all(records)
    statuses = {name: "complete" for name in load_facts("enefit-ee").systems}
    fields = found.context_fields(statuses)
    by_system = {s.system: s for s in fields["systems"]}
    billing, recordings = by_system["billing"], by_system["recordings"]
    assert billing.records == 5 and recordings.records == 1 and by_system["volt"].records == 0
    assert "user.demographic.language" not in billing.categories  # the field was empty
    assert {"user.name.first", "user.financial.credit_check", "user.energy.metering_point_id"} <= billing.categories
    assert billing.rules == {"customer_relationship", "credit_check", "debt", "contract"}
    assert recordings.rules == {"call_recording"}  # the default rule of recordings
    assert "user.sensor.audio" in recordings.categories and "third_party.staff" not in recordings.categories
    assert fields["recordings"] == 1 and fields["withheld"] == {"staff_identity": 1}
    # 2024-05-01 21:30 UTC is already 2 May in Tallinn.
    assert fields["decisions"] == (DecisionFound(kind="credit_check", on=date(2024, 5, 2), outcome="deposit_required"),
                                   DecisionFound(kind="debt_notice", on=date(2025, 2, 3), outcome="reminder"))
    assert fields["counterparties"] == {"credit_bureau": ("Creditinfo Eesti AS",),
                                        "collection_agency": ("Julianus Inkasso OÜ",),
                                        "grid_operator": ("Elektrilevi OÜ",)}
    ctx = LetterContext(profile=load_profile("enefit-ee"), language="en", request_id="r-1", received_on=RECEIVED,
                        due_on=DUE, answered_on=ANSWERED, **fields)
    doc = parse(render_letter(ctx))
    assert "Creditinfo Eesti AS" in section(doc, "art15-1g")
    assert "Julianus Inkasso OÜ" in section(doc, "art15-1c")
    assert say("en", "copy_recordings", count="1") in section(doc, "art15-3")
    assert "voice recordings" in section(doc, "art15-1b")
    assert len(doc.xpath('//section[@id="art15-1h"]//tbody/tr')) == 2
    assert "Mari" not in render_letter(ctx)  # the letter states facts about data, never the data itself


# -- end to end: the billing connector against the sandbox --------------------------------------------


@pytest.mark.parametrize(("case", "controller"), [("debtor", "enefit-ee"), ("latvian", "enefit-lv")])
def test_letter_from_the_billing_records_of_a_sandbox_person(federation, case, controller):
    """Records the real connector reads for a seeded person become a letter naming what concerns them."""
    from connectors.identity import normalise
    from connectors.registry import systems

    person = federation.population.case(case)
    code = Identifier(IdentityType.PERSONAL_CODE, normalise(IdentityType.PERSONAL_CODE, person.personal_code),
                      Strength.STRONG)
    connector = systems()["billing"].build(dict(federation.settings))
    profile = load_profile(controller)
    found = FoundData(zone=profile.zone)
    try:
        found.add_all(connector.collect([code]))
    finally:
        connector.close()
    statuses = {name: "complete" for name in load_facts(controller).systems}
    ctx = LetterContext(profile=profile, language="en", request_id="r-e2e", received_on=RECEIVED, due_on=DUE,
                        answered_on=ANSWERED, **found.context_fields(statuses))
    doc = parse(render_letter(ctx))
    facts, table = load_facts(controller), strings("en")
    h = section(doc, "art15-1h")
    assert facts.automated["credit_check"].title.en in h
    assert table["categories"]["user.financial.invoice"] in section(doc, "art15-1b")
    bureau = {"debtor": "Creditinfo Eesti AS", "latvian": "Kredītinformācijas Birojs SIA"}[case]
    assert found.counterparties["credit_bureau"] == (bureau,)
    if case == "debtor":
        assert table["outcomes"]["deposit_required"] in h
        assert "Julianus Inkasso OÜ" in section(doc, "art15-1c")
        assert facts.automated["debt_notice"].title.en in h
    else:
        assert table["outcomes"]["approved"] in h
        assert table["categories"]["user.financial.debt"] not in section(doc, "art15-1b")


def test_a_company_name_from_the_data_is_escaped_once() -> None:
    """An agency's name comes from a source system: it reads as written (not `&amp;`), and never as markup."""
    debt = {"records": 3, "categories": {"user.financial.debt"}, "rules": {"debt"}}
    html = render_letter(context(found={"billing": debt},
                                 counterparties={"collection_agency": ("Smith & Co <img src=x onerror=alert(1)>",)}))
    assert "Smith &amp; Co &lt;img src=x onerror=alert(1)&gt;" in html
    assert "&amp;amp;" not in html and "&amp;lt;" not in html and "<img" not in html
