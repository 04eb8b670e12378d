"""One meter-data page of the hub, checked and turned into compact rows.

Row layout of `meter_data` records (`fields["intervals"]`), one row per interval and direction:

    [interval_start_utc, resolution, direction, kwh, quality, reading_time_utc]

- `interval_start_utc`: the hub's `pS`, ISO 8601 in UTC with `Z` (`2025-10-25T21:00:00Z`); the
  interval is half-open, its end is start + resolution (a 25-hour DST day simply has 100 rows of
  PT15M per direction, the hub's intervals being UTC instants);
- `resolution`: `PT15M` | `PT1H` (| `P1D`), the `r` of the period the interval came in;
- `direction`: `consumption` (`outQty`, out of the grid) | `production` (`inQty`, into the grid) —
  Regulation (EU) 2023/1162's terms; an interval with both has two rows;
- `kwh`: the quantity as a fixed-point decimal string, exactly as the hub sent it, with 3 decimals
  (`"0.043"`); parsed as Decimal, never float;
- `quality`: `metered` (`rType` M) | `estimated` (`rType` E);
- `reading_time_utc`: `rTime`, when the hub recorded the value (a corrected value: weeks later).

The rows are held column-wise (`connectors.series.IntervalRows`, ~28 bytes a row instead of ~350
as lists of strings) and read back in the text form above.

Intervals the hub does not hold are absent (no row is invented for a gap). A page is checked before
it is accepted: it must be for the meter and page asked, every interval start must lie inside the
requested period and increase, and a page before the last must be full — a short page is
`TruncatedPage`, so the page is fetched again rather than returned incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.errors import PermanentError, TruncatedPage
from connectors.series import CODES, MAX_KWH, MAX_SCALE, IntervalRows, IntervalRowsBuilder, epoch_seconds

DIRECTIONS = (("outQty", "consumption"), ("inQty", "production"))
QUALITY = {"M": "metered", "E": "estimated"}
DIRECTION_CODES = tuple((key, CODES[name]) for key, name in DIRECTIONS)
QUALITY_CODES = {key: CODES[name] for key, name in QUALITY.items()}
RESOLUTIONS = frozenset({"PT15M", "PT1H", "P1D"})
MILLI = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class Page:
    """A checked page: its rows, how many intervals it held, and the hub's page count."""

    rows: IntervalRows = field(repr=False)
    intervals: int
    total_pages: int
    first_start: datetime | None


def parse_page(document: dict[str, Any], meter_eic: str, page: int, page_size: int,
               period_start: datetime, period_end: datetime) -> Page:
    """Check one answer of `POST /api/v1/meter-data/search` and turn it into rows."""
    if document.get("meterEic") != meter_eic:
        raise PermanentError("meter-data answer is for another metering point")
    paging = document.get("pagination")
    if not isinstance(paging, dict) or paging.get("page") != page:
        raise PermanentError("meter-data answer is for another page")
    total = paging.get("totalPages")
    if not isinstance(total, int) or isinstance(total, bool) or total < 1 or page >= total:
        raise PermanentError("meter-data answer has no valid pagination.totalPages")
    periods = document.get("periods")
    if not isinstance(periods, list):
        raise PermanentError("meter-data answer has no periods")
    rows = IntervalRowsBuilder()
    readings: dict[str, int] = {}  # a day's values are recorded together: each reading time parsed once
    count = 0
    lower, upper = _format(period_start), _format(period_end)
    previous: str | None = None
    first: str | None = None
    for period in periods:
        resolution = period.get("r") if isinstance(period, dict) else None
        intervals = period.get("aI") if isinstance(period, dict) else None
        if resolution not in RESOLUTIONS or not isinstance(intervals, list):
            raise PermanentError("meter-data period without a valid r or aI")
        resolution_code = CODES[resolution]
        for item in intervals:
            start_text = _utc_text(item.get("pS") if isinstance(item, dict) else None, "pS")
            # UTC texts of one fixed form (`YYYY-MM-DDTHH:MM:SSZ`) order as the instants they name
            if not lower <= start_text < upper:
                raise PermanentError("meter-data interval outside the requested period")
            if previous is not None and start_text <= previous:
                raise PermanentError("meter-data intervals out of order")
            previous = start_text
            first = first or start_text
            count += 1
            start_s = epoch_seconds(start_text)
            for key, direction in DIRECTION_CODES:
                quantity = item.get(key)
                if quantity is not None:
                    amount, scale, quality, reading = _measurement(quantity)
                    reading_s = readings.get(reading)
                    if reading_s is None:
                        reading_s = readings[reading] = epoch_seconds(reading)
                    rows.append(start_s, resolution_code, direction, amount, scale, quality, reading_s)
    if count > page_size:
        raise PermanentError("meter-data page larger than the page size asked for")
    if count == 0 or (page < total - 1 and count < page_size):
        raise TruncatedPage(f"short meter-data page ({count} of {page_size} intervals)")
    return Page(rows.build(), count, total, datetime.fromisoformat(first) if first else None)


def _measurement(quantity: Any) -> tuple[int, int, int, str]:
    """(amount, scale, quality code, reading_time_utc) of an `inQty` / `outQty`: kWh = amount x 10^-scale."""
    if not isinstance(quantity, dict):
        raise PermanentError("meter-data quantity is not an object")
    quality = QUALITY_CODES.get(quantity.get("rType"))  # type: ignore[arg-type]
    if quality is None:
        raise PermanentError("meter-data quantity without a valid rType")
    return *_kwh(quantity.get("kwh")), quality, _utc_text(quantity.get("rTime"), "rTime")


def _kwh(value: Any) -> tuple[int, int]:
    """The quantity as (amount, scale), exactly: the hub's 3 decimals, an integer as 3 decimals, more
    decimals kept (not rounded)."""
    if type(value) is Decimal:
        text = str(value)
        dot = text.find(".")
        if 0 < dot < 10 and len(text) - dot == 4 and text[0] != "-" and "E" not in text:  # the hub's usual form
            return int(text[:dot] + text[dot + 1:]), 3
    elif isinstance(value, bool) or not isinstance(value, int):
        raise PermanentError("meter-data kwh is not a number")
    try:
        amount = Decimal(value)
        fixed = amount.quantize(MILLI)
    except InvalidOperation:
        raise PermanentError("meter-data kwh is not a finite number") from None
    if not amount.is_finite():
        raise PermanentError("meter-data kwh is not a finite number")
    if amount < 0:
        raise PermanentError("meter-data kwh is negative")
    exact = fixed if fixed == amount else amount
    scale = -exact.as_tuple().exponent  # type: ignore[operator]
    if amount >= MAX_KWH or scale > MAX_SCALE:
        raise PermanentError(f"meter-data kwh beyond {MAX_SCALE} decimals or {MAX_KWH} kWh")
    return int(exact.scaleb(scale)), scale


def _utc_text(value: Any, name: str) -> str:
    """An ISO 8601 instant as `YYYY-MM-DDTHH:MM:SSZ`; the hub's own form is checked without parsing."""
    if not isinstance(value, str):
        raise PermanentError(f"meter-data {name} is missing")
    if len(value) == 20 and value[10] == "T" and value[19] == "Z" and value[4] == value[7] == "-":
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PermanentError(f"meter-data {name} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise PermanentError(f"meter-data {name} has no zone offset")
    return _format(parsed)


def _format(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
