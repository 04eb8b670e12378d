"""The readable report: self-contained, parses, one section per system, one chart per metering point with the
right monthly sums, escaped, redacted, in each of the four languages."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import lxml.html
import pytest

from connectors.contract import Record
from dsar_pipeline.report.labels import system_title
from dsar_pipeline.report.render import REPORT_PATH, write_report
from tests.package.test_export import (
    AGENT,
    EIC_EE,
    SYSTEMS,
    DirStaging,
    interval_rows,
    meter_page,
    person_records,
)

SUMMARY = {name: {"status": "complete", "records": 3, "title": title} for name, title in SYSTEMS.items()}
HEADINGS = {"en": "Systems searched", "et": "Läbiotsitud süsteemid", "lv": "Pārbaudītās sistēmas",
            "ru": "Проверенные системы"}


def render(tmp_path: Path, records: list[Record], language: str = "en", summary: dict[str, Any] | None = None,
           **options: Any) -> tuple[str, Any]:
    staging = DirStaging(tmp_path / language)
    result = write_report(records, staging, person_language=language, systems_summary=summary or SUMMARY,
                          request_id="req-42", generated_at=datetime(2026, 1, 15, 10, tzinfo=UTC), **options)
    assert [f.name for f in staging.files()] == [REPORT_PATH]
    return staging.read(REPORT_PATH).decode("utf-8"), result


def expected_monthly(records: list[Record]) -> dict[tuple[str, str, str], Decimal]:
    """Sums per (EIC, direction, local month), computed independently with zoneinfo."""
    zones = {EIC_EE: "Europe/Tallinn"}
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for record in records:
        if record.source != "meter_data":
            continue
        eic = record.fields["metering_point_eic"]
        zone = ZoneInfo(zones.get(eic, "Europe/Riga"))
        for start, _, direction, kwh, _, _ in record.fields["intervals"]:
            local = datetime.fromisoformat(start).astimezone(zone)
            sums[(eic, direction, f"{local:%Y-%m}")] += Decimal(kwh)
    return sums


def test_no_external_resources_and_it_parses(tmp_path: Path) -> None:
    html, _ = render(tmp_path, person_records())
    document = lxml.html.document_fromstring(html)
    for element in document.iter():
        for attribute in ("src", "href", "xlink:href", "action", "data", "poster"):
            value = element.get(attribute)
            if value is not None:
                assert not re.match(r"\s*(https?:)?//", value), (element.tag, value)
                assert value.startswith("#"), (element.tag, value)  # in-page links only
    assert not document.xpath("//script|//link|//iframe|//object|//embed|//img")
    for style in document.xpath("//style/text()") + [e.get("style") or "" for e in document.iter()]:
        assert "url(" not in style and "@import" not in style
    assert document.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0].startswith("default-src 'none'")


def test_each_system_has_its_section_and_each_source_its_table(tmp_path: Path) -> None:
    records = person_records()
    html, summary = render(tmp_path, records)
    document = lxml.html.document_fromstring(html)
    for system in SYSTEMS:
        section = document.get_element_by_id(f"system-{system}")
        # the system's name in the reader's language (the letter's wording), not the registry's title
        assert section.xpath("./h2/text()") == [system_title(system, "en")]
    for record in records:
        if record.source != "meter_data":
            assert document.xpath(f"//section[@id='system-{record.system}-{record.source}']//table/tbody/tr")
    assert summary.systems == 5 and summary.metering_points == 2
    # inferred data is not portable, but access covers it: the credit check is in the report
    assert "Creditinfo" in document.get_element_by_id("system-billing-credit_checks").text_content()


def test_one_chart_per_metering_point_with_the_right_monthly_sums(tmp_path: Path) -> None:
    start = datetime(2025, 3, 29, 22, tzinfo=UTC)  # spring DST day onwards, into April, two directions
    records = [meter_page(EIC_EE, interval_rows(start, 96 * 5, kwh="0.125")),
               meter_page(EIC_EE, interval_rows(start - timedelta(days=40), 24 * 45, resolution="PT1H",
                                                kwh="1.010"), page=1),
               meter_page(EIC_EE, interval_rows(start, 96 * 3, direction="production", kwh="0.333"), page=2),
               meter_page("43Z-LV-0000042-Q", interval_rows(start, 200, kwh="0.5"))]
    html, _ = render(tmp_path, records)
    document = lxml.html.document_fromstring(html)
    charts = document.xpath("//svg[contains(@class, 'chart')]")
    assert sorted(c.get("data-eic") for c in charts) == sorted([EIC_EE, "43Z-LV-0000042-Q"])
    shown = {(c.get("data-eic"), bar.get("data-direction"), bar.get("data-month")): Decimal(bar.get("data-kwh"))
             for c in charts for bar in c.xpath(".//rect")}
    assert shown == expected_monthly(records)
    # March in Tallinn: 31 days of hours less the hour DST skips, then quarter-hours from the 30th (92 + 96)
    assert shown[(EIC_EE, "consumption", "2025-03")] == Decimal("1.010") * (31 * 24 - 1) + Decimal("0.125") * 188


def test_values_are_escaped_and_agents_redacted(tmp_path: Path) -> None:
    html, summary = render(tmp_path, person_records())
    assert "<script>" not in html and "&lt;script&gt;alert(" in html
    assert AGENT not in html and "A-101" not in html and "Kadri" not in html
    assert "customer service agent" in html and summary.withheld


@pytest.mark.parametrize("language", ["et", "lv", "ru", "en"])
def test_headings_dates_and_numbers_in_the_persons_language(tmp_path: Path, language: str) -> None:
    html, _ = render(tmp_path, person_records(), language)
    document = lxml.html.document_fromstring(html)
    assert document.get("lang") == language
    assert document.get_element_by_id("systems").xpath("./h2/text()") == [HEADINGS[language]]
    month = {"et": "jaanuar 2025", "lv": "janvāris 2025", "ru": "январь 2025", "en": "January 2025"}[language]
    assert month in html.lower() or month in html
    total = {"et": "72,000", "lv": "72,000", "ru": "72,000", "en": "72.000"}[language]
    assert document.xpath(f"//section[@data-eic='{EIC_EE}']//tr[@data-month='2025-01']/td[2]/text()") == [total]


def test_failed_and_empty_systems_are_said_so(tmp_path: Path) -> None:
    records = [r for r in person_records() if r.system != "volt"]
    summary = {**SUMMARY, "portal": {"status": "failed", "records": 0, "title": "Self-service portal"}}
    html, _ = render(tmp_path, [r for r in records if r.system != "portal"], "en", summary)
    document = lxml.html.document_fromstring(html)
    assert "No personal data about you was found" in document.get_element_by_id("system-volt").text_content()
    assert "could not be searched completely" in document.get_element_by_id("system-portal").text_content()


def test_long_tables_are_cut_with_a_note(tmp_path: Path) -> None:
    from tests.package.test_export import rec

    logins = [rec("portal", "logins", str(i), {"id": str(i), "ip": "192.0.2.1", "success": True}) for i in range(30)]
    html, summary = render(tmp_path, logins, max_rows=10)
    document = lxml.html.document_fromstring(html)
    assert len(document.xpath("//section[@id='system-portal-logins']//tbody/tr")) == 10
    assert "first 10 of 30" in html and summary.rows == 30


def test_the_exports_monthly_totals_give_the_same_report(tmp_path: Path) -> None:
    from dsar_pipeline.export.portability import write_export

    records = person_records()
    exported = write_export(records, DirStaging(tmp_path / "export"), systems=SYSTEMS)
    reused, _ = render(tmp_path / "reused", records, monthly=exported.series.monthly)
    fresh, _ = render(tmp_path / "fresh", records)
    assert reused == fresh and 'data-kwh="72.000"' in fresh
