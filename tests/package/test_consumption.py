"""The consumption series: DST days, offsets, half-open intervals, zones, directions, quality, quantities.

Expected counts and offsets are facts of the calendar (Europe/Tallinn: EET +02:00, EEST +03:00 from
2025-03-30 01:00 UTC to 2025-10-26 01:00 UTC), written out here, not computed by the code under test.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from connectors.series import interval_rows as compact_rows
from dsar_pipeline.export.consumption import CSV_PATH, PARQUET_PATH, SeriesError, monthly_totals, write_series
from tests.package.test_export import EIC_EE, DirStaging, interval_rows, meter_page, rec

EIC_RIGA_OFFICE = "43Z-LV-0000007-Q"


def series(tmp_path: Path, records: list, zones: dict[str, str] | None = None) -> pd.DataFrame:
    staging = DirStaging(tmp_path)
    write_series(records, staging, zones)
    return pd.read_csv(io.BytesIO(staging.read(CSV_PATH)), dtype=str, keep_default_na=False)


def local_day_counts(frame: pd.DataFrame) -> Counter[str]:
    return Counter(value[:10] for value in frame["interval_start_local"])


def test_spring_day_has_92_quarter_hours_and_switches_to_summer_offset(tmp_path: Path) -> None:
    start = datetime(2025, 3, 29, 22, 0, tzinfo=UTC)  # 2025-03-30 00:00 local (+02:00)
    frame = series(tmp_path, [meter_page(EIC_EE, interval_rows(start, 92))])
    assert local_day_counts(frame) == {"2025-03-30": 92}
    assert frame.iloc[0]["interval_start_local"] == "2025-03-30T00:00:00+02:00"
    assert frame.iloc[11]["interval_start_local"] == "2025-03-30T02:45:00+02:00"
    assert frame.iloc[12]["interval_start_local"] == "2025-03-30T04:00:00+03:00"  # 03:00-03:59 does not exist
    assert frame.iloc[-1]["interval_start_local"] == "2025-03-30T23:45:00+03:00"
    assert frame.iloc[-1]["interval_end_utc"] == "2025-03-30T21:00:00Z"  # next local midnight, exclusive


def test_autumn_day_has_100_quarter_hours_and_repeats_three_oclock(tmp_path: Path) -> None:
    start = datetime(2025, 10, 25, 21, 0, tzinfo=UTC)  # 2025-10-26 00:00 local (+03:00)
    frame = series(tmp_path, [meter_page(EIC_EE, interval_rows(start, 100))])
    assert local_day_counts(frame) == {"2025-10-26": 100}
    locals_ = list(frame["interval_start_local"])
    assert locals_.count("2025-10-26T03:00:00+03:00") == 1 and locals_.count("2025-10-26T03:00:00+02:00") == 1
    assert locals_.index("2025-10-26T03:00:00+02:00") == locals_.index("2025-10-26T03:00:00+03:00") + 4
    assert locals_[-1] == "2025-10-26T23:45:00+02:00"
    for row in frame.itertuples():  # half-open: each interval ends where the next starts, 15 minutes later
        start_utc = datetime.fromisoformat(row.interval_start_utc)
        assert datetime.fromisoformat(row.interval_end_utc) - start_utc == timedelta(minutes=15)
    assert list(frame["interval_end_utc"])[:-1] == list(frame["interval_start_utc"])[1:]


def test_real_resolutions_hourly_before_april_2025_quarter_hourly_after(tmp_path: Path) -> None:
    spring = interval_rows(datetime(2025, 3, 29, 22, tzinfo=UTC), 23, resolution="PT1H")
    autumn = interval_rows(datetime(2025, 10, 25, 21, tzinfo=UTC), 100)
    frame = series(tmp_path, [meter_page(EIC_EE, spring), meter_page(EIC_EE, autumn, page=1)])
    assert local_day_counts(frame) == {"2025-03-30": 23, "2025-10-26": 100}
    hourly = frame[frame.resolution == "PT1H"]
    assert list(hourly["interval_start_local"])[2:4] == ["2025-03-30T02:00:00+02:00", "2025-03-30T04:00:00+03:00"]
    assert all(datetime.fromisoformat(e) - datetime.fromisoformat(s) == timedelta(hours=1)
               for s, e in zip(hourly["interval_start_utc"], hourly["interval_end_utc"], strict=True))


def test_parquet_holds_the_same_dst_rows(tmp_path: Path) -> None:
    staging = DirStaging(tmp_path)
    write_series([meter_page(EIC_EE, interval_rows(datetime(2025, 10, 25, 21, tzinfo=UTC), 100))], staging)
    table = pq.read_table(io.BytesIO(staging.read(PARQUET_PATH)))
    frame = pd.read_csv(io.BytesIO(staging.read(CSV_PATH)), dtype=str, keep_default_na=False)
    starts = table.column("interval_start_utc").to_pylist()
    assert len(starts) == 100 and len(set(starts)) == 100
    assert [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in starts] == list(frame["interval_start_utc"])
    assert table.column("interval_start_local").to_pylist() == list(frame["interval_start_local"])
    assert table.column("quantity").to_pylist()[0] == Decimal("0.250")


def test_zone_from_billing_record_from_eic_office_or_default(tmp_path: Path) -> None:
    lv_billing = "41ZLV-00000003-Z"  # the sandbox's LV form: its office code does not say Riga, billing does
    start = datetime(2025, 1, 14, 22, tzinfo=UTC)
    records = [
        rec("billing", "metering_points", "1",
            {"id": 1, "eic": lv_billing, "country": "LV", "time_zone": "Europe/Riga"}),
        meter_page(lv_billing, interval_rows(start, 1, resolution="PT1H")),
        meter_page(EIC_RIGA_OFFICE, interval_rows(start, 1, resolution="PT1H")),
        meter_page(EIC_EE, interval_rows(start, 1, resolution="PT1H")),
        meter_page("10YEXAMPLE-----1", interval_rows(start, 1, resolution="PT1H")),
    ]
    frame = series(tmp_path, records)
    local = dict(zip(frame["metering_point_eic"], frame["interval_start_local"], strict=True))
    # Riga and Tallinn share offsets, so a zone shows in the summary, not in the text; the text must be right too
    assert local == {lv_billing: "2025-01-15T00:00:00+02:00", EIC_RIGA_OFFICE: "2025-01-15T00:00:00+02:00",
                     EIC_EE: "2025-01-15T00:00:00+02:00", "10YEXAMPLE-----1": "2025-01-15T00:00:00+02:00"}
    staging = DirStaging(tmp_path / "again")
    summary = write_series(records, staging, {"10YEXAMPLE-----1": "Europe/Berlin"})
    zones = {eic: entry["time_zone"] for eic, entry in summary.metering_points.items()}
    assert zones == {lv_billing: "Europe/Riga", EIC_RIGA_OFFICE: "Europe/Riga", EIC_EE: "Europe/Tallinn",
                     "10YEXAMPLE-----1": "Europe/Berlin"}
    berlin = pd.read_csv(io.BytesIO(staging.read(CSV_PATH)), dtype=str)
    assert berlin.iloc[-1]["interval_start_local"] == "2025-01-14T23:00:00+01:00"


def test_hub_words_map_to_the_regulation_terms_and_quantities_get_three_decimals(tmp_path: Path) -> None:
    rows = [["2025-06-01T00:00:00Z", "PT15M", "out", "1.5", "M", "x"],
            ["2025-06-01T00:00:00Z", "PT15M", "in", "0", "E", "x"],
            ["2025-06-01T00:15:00Z", "PT15M", "consumption", "12345.6785", "metered", "x"]]
    frame = series(tmp_path, [meter_page(EIC_EE, rows)])
    assert list(frame["direction"]) == ["consumption", "production", "consumption"]
    assert list(frame["quality"]) == ["metered", "estimated", "metered"]
    assert list(frame["quantity"]) == ["1.500", "0.000", "12345.678"]  # half-even
    assert set(frame["unit"]) == {"kWh"}


def test_daily_values_end_at_the_next_local_midnight(tmp_path: Path) -> None:
    rows = [["2025-10-25T21:00:00Z", "P1D", "out", "10", "M", "x"]]
    frame = series(tmp_path, [meter_page(EIC_EE, rows)])
    assert frame.iloc[0]["interval_end_utc"] == "2025-10-26T22:00:00Z"  # 25 hours


@pytest.mark.parametrize("row", [
    ["2025-06-01T00:00:00Z", "PT15M", "sideways", "1", "M", "x"],
    ["2025-06-01T00:00:00Z", "PT5M", "out", "1", "M", "x"],
    ["2025-06-01T00:00:00Z", "PT15M", "out", "1", "Q", "x"],
    ["2025-06-01 00:00", "PT15M", "out", "1", "M", "x"],
    ["2025-06-01T00:00:00Z", "PT15M", "out", "lots", "M", "x"],
    ["2025-06-01T00:00:00Z", "PT15M", "out"],
])
def test_rows_outside_the_documented_layout_are_refused_without_echoing_them(tmp_path: Path, row: list) -> None:
    with pytest.raises(SeriesError) as caught:
        write_series([meter_page(EIC_EE, [row])], DirStaging(tmp_path))
    assert not any(str(part) in str(caught.value) for part in row if len(str(part)) > 3)


def test_monthly_totals_are_per_local_calendar_month(tmp_path: Path) -> None:
    # 2025-01-31 22:00 UTC is already February in Tallinn
    rows = interval_rows(datetime(2025, 1, 31, 21, 0, tzinfo=UTC), 8, kwh="1.125")
    totals = monthly_totals([meter_page(EIC_EE, rows)])
    assert totals.totals == {EIC_EE: {"consumption": {"2025-01": Decimal("4.500"), "2025-02": Decimal("4.500")}}}
    assert totals.months(EIC_EE) == ["2025-01", "2025-02"]


@pytest.mark.parametrize("rows", [
    interval_rows(datetime(2025, 3, 29, 22, 0, tzinfo=UTC), 92),
    interval_rows(datetime(2025, 10, 25, 21, 0, tzinfo=UTC), 100, direction="production", quality="estimated"),
    interval_rows(datetime(2025, 3, 29, 22, tzinfo=UTC), 23, resolution="PT1H", kwh="12.000"),
    [["2025-10-25T21:00:00Z", "P1D", "consumption", "10.000", "metered", "2025-10-27T04:00:00Z"]],
    [["2025-06-01T00:00:00Z", "PT15M", "consumption", "12345.6785", "metered", "2025-06-02T01:00:00Z"],
     ["2025-06-01T00:15:00Z", "PT15M", "production", "0.043", "estimated", "2025-06-02T01:00:00Z"]],
], ids=["spring-day", "autumn-day-production", "hourly", "daily", "more-decimals"])
def test_rows_held_column_wise_export_exactly_as_the_same_rows_as_lists(tmp_path: Path, rows: list) -> None:
    """The connector holds a page column-wise (`connectors.series`); the export's buffer path must
    write byte for byte what the row path writes for the same rows."""
    as_lists, as_columns = DirStaging(tmp_path / "lists"), DirStaging(tmp_path / "columns")
    listed = write_series([meter_page(EIC_EE, rows)], as_lists)
    columnar = write_series([meter_page(EIC_EE, compact_rows(rows))], as_columns)
    assert as_columns.read(CSV_PATH) == as_lists.read(CSV_PATH)
    assert pq.read_table(io.BytesIO(as_columns.read(PARQUET_PATH))).equals(
        pq.read_table(io.BytesIO(as_lists.read(PARQUET_PATH))))
    assert columnar.metering_points == listed.metering_points and columnar.monthly.totals == listed.monthly.totals
