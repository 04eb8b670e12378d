"""Interval rows held column-wise read back exactly as the text rows they were built from."""

from __future__ import annotations

import pickle
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.avp.meterdata import parse_page
from connectors.errors import PermanentError
from connectors.series import IntervalRows, interval_rows

ROWS = [
    ["2025-10-25T21:00:00Z", "PT15M", "consumption", "0.043", "metered", "2025-10-26T05:07:00Z"],
    ["2025-10-25T21:00:00Z", "PT15M", "production", "0.0435", "estimated", "2025-11-20T11:30:00Z"],
    ["2025-10-25T21:15:00Z", "PT1H", "consumption", "123456789.123", "metered", "2025-10-26T05:07:00Z"],
    ["2025-10-25T21:00:00Z", "P1D", "consumption", "5", "estimated", "2025-10-27T00:00:00Z"],
]


def test_rows_read_back_as_the_texts_they_were_built_from() -> None:
    rows = interval_rows(ROWS)
    assert len(rows) == 4
    assert list(rows) == ROWS and rows == ROWS and ROWS == rows  # noqa: SIM300 - the reflected comparison too
    assert rows[1] == ROWS[1] and rows[-1] == ROWS[-1] and rows[1:3] == ROWS[1:3]
    assert rows != ROWS[:3] and rows != [*ROWS[:3], ["x"] * 6]
    with pytest.raises(IndexError):
        rows[4]


def test_holds_a_row_in_under_30_bytes_and_pickles_equal() -> None:
    many = [[f"2025-10-{1 + i // 96:02d}T{i % 96 // 4:02d}:{i % 4 * 15:02d}:00Z", "PT15M", "consumption",
             f"0.{i % 1000:03d}", "metered", f"2025-10-{1 + i // 96:02d}T23:07:00Z"] for i in range(2976)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        compact = interval_rows(many)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 30 * len(many), held
    assert pickle.loads(pickle.dumps(compact)) == compact == many  # noqa: S301 - our own bytes


def test_repr_shows_no_values() -> None:
    assert repr(interval_rows(ROWS)) == "IntervalRows(4 rows)"
    assert isinstance(interval_rows([]), IntervalRows) and not interval_rows([])


@pytest.mark.parametrize("kwh", ["-0.001", "1.0000000001", "1000000000.000"])
def test_quantities_beyond_what_the_columns_hold_are_refused(kwh: str) -> None:
    with pytest.raises(ValueError, match="out of the range"):
        interval_rows([["2025-10-25T21:00:00Z", "PT15M", "consumption", kwh, "metered", "2025-10-26T05:07:00Z"]])


def _page(items: list[dict]) -> dict:
    return {"meterEic": EIC, "pagination": {"page": 0, "totalPages": 1}, "periods": [{"r": "PT15M", "aI": items}]}


EIC = "38ZEE-00001234-7"


@pytest.mark.parametrize(("kwh", "text"), [
    (Decimal("0.043"), "0.043"), (Decimal("12.500"), "12.500"), (7, "7.000"), (Decimal("5"), "5.000"),
    (Decimal("1E+2"), "100.000"), (Decimal("0.0435"), "0.0435"), (Decimal("0.10"), "0.100"), (0, "0.000"),
])
def test_hub_quantities_come_back_exactly_as_the_hub_meant_them(kwh: object, text: str) -> None:
    document = _page([{"pS": "2025-10-25T21:00:00Z",
                       "outQty": {"kwh": kwh, "rType": "E", "rTime": "2025-11-20T11:30:00Z"},
                       "inQty": {"kwh": kwh, "rType": "M", "rTime": "2025-10-26T05:07:00Z"}}])
    start = datetime(2025, 10, 25, 21, tzinfo=UTC)
    page = parse_page(document, EIC, 0, 3000, start, start + timedelta(days=1))
    assert page.rows == [["2025-10-25T21:00:00Z", "PT15M", "consumption", text, "estimated", "2025-11-20T11:30:00Z"],
                         ["2025-10-25T21:00:00Z", "PT15M", "production", text, "metered", "2025-10-26T05:07:00Z"]]


@pytest.mark.parametrize("kwh", [Decimal("-0.001"), Decimal("1.0000000001"), Decimal("1000000000"), Decimal("NaN"),
                                 1.5, "0.1", True])
def test_quantities_the_rows_cannot_hold_exactly_are_refused(kwh: object) -> None:
    start = datetime(2025, 10, 25, 21, tzinfo=UTC)
    document = _page([{"pS": "2025-10-25T21:00:00Z", "outQty": {"kwh": kwh, "rType": "M",
                                                                "rTime": "2025-10-26T05:07:00Z"}}])
    with pytest.raises(PermanentError, match="kwh"):
        parse_page(document, EIC, 0, 3000, start, start + timedelta(days=1))
