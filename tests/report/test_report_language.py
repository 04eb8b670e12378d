"""The readable report speaks the reader's language (issue 14): no machine names, constants, raw JSON or
`...Z` timestamps in what a person sees; every field the connectors declare has a label in every language;
times in the controller's zone across DST; the data dictionary and the recordings' metadata translated too."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest

from connectors.registry import systems
from dsar_pipeline.export import dictionary_language
from dsar_pipeline.export.portability import write_export
from dsar_pipeline.export.redaction import AGENT_LABEL, write_recordings
from dsar_pipeline.report import labels
from dsar_pipeline.report.display import Display
from dsar_pipeline.report.render import REPORT_PATH, write_report
from tests.package.test_export import DECLARED, SYSTEMS, DirStaging
from tests.pipeline.support import browser
from tests.report.realistic import AGENT, declared_fields, present_fields, records, summary

LANGUAGES = ("et", "lv", "ru", "en")
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
CONSTANT = re.compile(r"\b[A-Z]{2,}(?:_[A-Z0-9]+)+\b")
CAMEL_KEY = re.compile(r"\b(?!kWh\b|kW\b)[a-z]+[A-Z][A-Za-z]*\b")  # consumptionScale; the units are fine
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
JSON_MARKS = ('{"', "[{", "{'", '":', '["')


def render(tmp_path: Path, language: str, zone: str = "Europe/Tallinn") -> str:
    staging = DirStaging(tmp_path / language)
    write_report(records(), staging, person_language=language, systems_summary=summary(), request_id="req-42",
                 generated_at=datetime(2026, 12, 4, 12, 5, tzinfo=UTC), time_zone=zone)
    return staging.read(REPORT_PATH).decode("utf-8")


def visible(html: str) -> tuple[lxml.html.HtmlElement, str]:
    document = lxml.html.document_fromstring(html)
    body = document.body
    for hidden in body.xpath(".//style|.//script"):
        hidden.drop_tree()
    return document, " ".join(" ".join(body.itertext()).split())  # cells apart, as a reader sees them


def test_the_realistic_records_carry_every_declared_field() -> None:
    assert declared_fields() <= present_fields(records())


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_machine_names_constants_json_or_utc_strings_are_visible(tmp_path: Path, language: str) -> None:
    document, text = visible(render(tmp_path, language))
    assert document.get("lang") == language
    assert not SNAKE.findall(text), sorted(set(SNAKE.findall(text)))
    assert not CONSTANT.findall(text), sorted(set(CONSTANT.findall(text)))
    assert not CAMEL_KEY.findall(text), sorted(set(CAMEL_KEY.findall(text)))
    assert not ISO_TIME.findall(text), ISO_TIME.findall(text)[:5]
    assert not [mark for mark in JSON_MARKS if mark in text]
    # no column or row heading is a machine name, not even a one-word one (`kind`, `status`, `make`)
    headings = {" ".join(h.text_content().split()) for h in document.xpath("//th")}
    machine = {name for _, _, name in declared_fields()} | set(labels.catalogue()["nested"])
    assert not headings & machine, sorted(headings & machine)
    # every field shown is labelled as labels.yaml says, in this language
    for system, sources in DECLARED.items():
        for source, declared in sources.items():
            section = document.xpath(f"//section[@id='system-{system}-{source}']")
            if source == "meter_data":
                continue
            shown = {h.get("data-field"): " ".join(h.text_content().split())
                     for h in section[0].xpath(".//*[@data-field]/th | .//th[@data-field]")}
            for name in declared.fields:
                if name in shown:
                    assert shown[name] == labels.field_label(system, source, name, language)


EXPECTED = {
    "et": ["eraisik", "meilt teile", "füüsilisest isikust ettevõtja (FIE)", "Jaotusvõrguettevõtja",
           "kaugloetav arvesti", "mikrotootja", "sissenõudmisel", "26.10.2025 03:30", "21.08.2023 00:00",
           "Kliendi- ja arveldussüsteem", "Hello, this is [klienditeenindaja].", "194,60"],
    "lv": ["fiziska persona", "no mums jums", "individuālais komersants", "Sadales sistēmas operators (SSO)",
           "attālināti nolasāms skaitītājs", "26.10.2025. 03:30", "Klientu un norēķinu sistēma",
           "klientu apkalpošanas speciālists"],
    "ru": ["физическое лицо", "от нас вам", "индивидуальный предприниматель",
           "Оператор системы распределения (ОСР)", "26.10.2025 03:30", "специалист по обслуживанию клиентов"],
    "en": ["private person", "from us to you", "sole trader", "Distribution system operator (DSO)",
           "26 Oct 2025 03:30", "customer service agent", "194.60"],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_values_are_translated_and_times_local(tmp_path: Path, language: str) -> None:
    _, text = visible(render(tmp_path, language))
    for expected in EXPECTED[language]:
        assert expected in text, expected
    assert AGENT not in text and "A-103" not in text


def test_nested_values_are_sub_tables_with_translated_keys(tmp_path: Path) -> None:
    document, _ = visible(render(tmp_path, "lv"))
    cards = document.xpath("//section[@id='system-avp-metering_points']//table[contains(@class, 'card')]")
    assert len(cards) == 1
    nested = cards[0].xpath(".//tr[@data-field='electricity_characteristics']//table[contains(@class, 'sub')]")
    rows = {" ".join(r.xpath("./th")[0].text_content().split()): " ".join(r.xpath("./td")[0].text_content().split())
            for r in nested[0].xpath("./tbody/tr")}
    assert rows["Uzskaites periods"] == "15 minūtes" and rows["Ražošanas avots"] == "saules enerģija"
    assert rows["Ražošana"] == "jā" and rows["Ražošanas jauda (kW)"] == "10,5"
    identities = document.xpath("//section[@id='system-avp-customer']//tr[@data-field='other_identities']")[0]
    assert "personu apliecinoša dokumenta numurs" in identities.text_content()


def test_every_declared_field_source_and_system_has_a_label_in_every_language() -> None:
    """A connector that starts producing a field without a label in labels.yaml fails here."""
    missing = []
    for name, entry in systems().items():
        if labels.system_title(name, "en") is None:
            missing.append(f"system {name}")
        for source, declared in entry.connector_class().sources.items():
            if labels.source_description(name, source, "en") is None:
                missing.append(f"source {name}.{source}")
            for field in declared.fields:
                texts = labels.field_texts(name, source, field)
                if texts is None or any(not texts.get(lang, "").strip() for lang in LANGUAGES):
                    missing.append(f"field {name}.{source}.{field}")
    assert not missing, missing


def test_every_label_entry_has_all_four_languages() -> None:
    labels.catalogue.cache_clear()
    assert labels.catalogue()  # the loader refuses an entry without all four


def test_unknown_values_and_keys_are_readable_never_an_error() -> None:
    display = Display("et", "Europe/Tallinn")
    assert labels.value_label("customer_type", "SOMETHING_NEW", "et") == "something new"
    cell = display.cell({"brandNewAttribute": "VERY_NEW_STATE", "nested": [{"a_b": 1}]},
                        "user.energy.metering_point_id", "avp", "metering_points", "electricity_characteristics")
    assert cell["pairs"][0] == ("Brand new attribute", {"text": "very new state"})
    assert cell["pairs"][1] == ("Nested", {"entries": [{"pairs": [("A b", {"text": "1"})]}]})
    assert labels.field_label("billing", "customers", "new_column", "ru") == "New column"
    assert Display("et-EE", "Europe/Riga").language == "et"
    with pytest.raises(ValueError):
        Display("de", "Europe/Riga")  # a language the package is never written in


@pytest.mark.parametrize(("instant", "zone", "expected"), [
    ("2025-03-30T00:59:00Z", "Europe/Tallinn", "30.03.2025 02:59"),  # last minute of EET
    ("2025-03-30T01:00:00Z", "Europe/Tallinn", "30.03.2025 04:00"),  # 03:00 local does not exist
    ("2025-10-26T00:30:00Z", "Europe/Riga", "26.10.2025 03:30"),  # EEST, first 03:30
    ("2025-10-26T01:30:00Z", "Europe/Riga", "26.10.2025 03:30"),  # EET, the hour repeats
    ("2025-12-31T22:00:00Z", "Europe/Tallinn", "01.01.2026 00:00"),  # UTC and local year differ
])
def test_times_convert_across_dst(instant: str, zone: str, expected: str) -> None:
    display = Display("et", zone)
    parsed = datetime.fromisoformat(instant)
    assert display.moment(parsed) == expected
    assert display.scalar(instant) == expected  # the same when a system sent the ISO string


def test_each_language_writes_its_own_date_format() -> None:
    moment = datetime(2026, 12, 4, 12, 5, tzinfo=UTC)
    shown = {lang: Display(lang, "Europe/Riga").moment(moment) for lang in LANGUAGES}
    assert shown == {"et": "04.12.2026 14:05", "lv": "04.12.2026. 14:05", "ru": "04.12.2026 14:05",
                     "en": "4 Dec 2026 14:05"}


def test_wide_tables_become_cards_and_print_styles_exist(tmp_path: Path) -> None:
    html = render(tmp_path, "et")
    document = lxml.html.document_fromstring(html)
    for table in document.xpath("//table[contains(@class, 'data')]"):
        assert len(table.xpath("./thead/tr/th")) <= 6
    assert document.xpath("//section[@id='system-billing-invoices']//table[contains(@class, 'card')]")
    style = document.xpath("//style/text()")[0]
    assert "@media print" in style and "overflow-x" not in style and "break-inside: avoid" in style


def test_the_data_dictionary_speaks_the_language_keys_stay(tmp_path: Path) -> None:
    staging = DirStaging(tmp_path)
    write_export(records(), staging, systems=SYSTEMS, language="lv")
    content = json.loads(staging.read("export/data-dictionary.json"))
    assert content["language"] == "lv"
    customers = next(f for f in content["files"] if f["path"] == "export/csv/billing/customers.csv")
    columns = {c["name"]: c for c in customers["columns"]}
    assert columns["first_name"]["label"] == "Vārds" and columns["first_name"]["category"] == "user.name.first"
    assert columns["kind"]["label"] == "Klienta veids" and customers["title"] == "Klienta dati"
    assert content["rules"]["included"].startswith("Dati, ko jūs mums sniedzāt")
    assert content["csv"]["null"] == "tukšs lauks"
    assert all("kredītreitings" in e["reason"] for e in content["left_out"] if e["source"] == "credit_checks")
    header = next(csv.reader(io.StringIO(staging.read("export/csv/billing/customers.csv").decode("utf-8"))))
    assert "first_name" in header  # the portability export's own columns are never translated
    readable = list(csv.DictReader(io.StringIO(staging.read("export/data-dictionary.csv").decode("utf-8"))))
    assert {"file", "column", "label", "description"} <= set(readable[0])


def test_dictionary_translations_cover_the_english_texts() -> None:
    for section, english in dictionary_language.ENGLISH.items():
        translated = dictionary_language.translations()[section]
        assert set(translated) == set(english), section
        for key, texts in translated.items():
            assert set(texts) == {"et", "lv", "ru"}, (section, key)


@pytest.mark.parametrize(("language", "expected"), [(None, AGENT_LABEL), ("et", "klienditeenindaja"),
                                                    ("ru", "специалист по обслуживанию клиентов")])
def test_recordings_metadata_uses_the_agent_label_of_the_request(tmp_path: Path, language: str | None,
                                                                 expected: str) -> None:
    staging = DirStaging(tmp_path)
    calls = [r for r in records() if r.system == "recordings"]
    options = {} if language is None else {"language": language}
    write_recordings(calls, staging, lambda attachment, sink: None, **options)
    metadata = json.loads(staging.read("recordings/ad66a1bd.json"))
    assert metadata["fields"]["agent_name"] == expected and metadata["fields"]["agent_id"] == expected
    assert AGENT not in json.dumps(metadata, ensure_ascii=False)


@pytest.mark.parametrize("language", ["et", "ru"])
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(browser.unavailable_reason() is not None, reason=browser.unavailable_reason() or "")
def test_no_horizontal_scrolling_on_a_1024_pixel_page(tmp_path: Path, language: str) -> None:
    """In headless Chromium (Debian's `chromium`): the page is no wider than the window, and it prints."""
    path = tmp_path / "report.html"
    path.write_text(render(tmp_path, language), encoding="utf-8")
    with browser.chromium_page(width=1024, height=768) as page:
        page.goto(path.as_uri())  # type: ignore[attr-defined]
        widths = page.evaluate(  # type: ignore[attr-defined]
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " Math.max(...[...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right))]")
        assert widths[0] <= widths[1] and widths[2] <= widths[1], widths
        assert len(page.pdf(format="A4")) > 10_000  # type: ignore[attr-defined]


@pytest.mark.parametrize("language", ["en", "et", "lv", "ru"])
def test_the_dictionary_names_a_contract_neutrally_for_a_controller_that_sells_no_electricity(language: str) -> None:
    from dsar_pipeline.export.dictionary_language import category_label
    from dsar_pipeline.letter.words import strings

    supplier = category_label("user.energy.contract", language)
    neutral = category_label("user.energy.contract", language, electricity_supplier=False)
    assert neutral == strings(language)["categories_non_supplier"]["user.energy.contract"]
    assert neutral != supplier
