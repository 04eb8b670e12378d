"""Packing meter-data calls: the fewest calls the hub's limits allow, cut at Estonian midnights.

The hub serves one meter per call, a period of at most `max_period_days` calendar days in
Europe/Tallinn per call (a DST day counts as one day, so 1 Oct 00:00 .. 1 Nov 00:00 local is one
month although it lasts 745 hours), and at most `max_page_size` intervals per page; and it allows
one call per `min_call_interval_s`. With a fixed interval, time is calls x interval, so the plan
minimises calls:

- a meter's window (its supply periods for the subject, at most 84 months back, up to now) is cut
  into consecutive periods of exactly `max_period_days` local days (the last one shorter) —
  ceil(window / max period) calls, the least possible;
- each call asks for the largest page size, so a period costs one page unless it holds more
  intervals than a page: then ceil(intervals / page size) pages.

`plan()` is the floor the benchmark compares against: the number of calls the limits allow, with
pages counted from an upper bound of the intervals in a period (every slot of every local day
present: hourly before 2025-04-01, quarter-hourly from then on, 23/25-hour DST days counted as
such). Gaps in the hub's data can only make the real number of pages smaller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HUB_TZ = ZoneInfo("Europe/Tallinn")
HISTORY_MONTHS = 84  # the hub keeps metering data for 84 months
QUARTER_HOURS_FROM = date(2025, 4, 1)  # first Estonian local day metered in 15-minute intervals


@dataclass(frozen=True, slots=True)
class MeterWindow:
    """The half-open UTC span [start, end) of one meter's data to fetch."""

    meter_eic: str = field(repr=False)  # an identifier of the person: kept out of reprs
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class CallPlan:
    """One meter-data period: [period_start, period_end) and the pages it needs at most."""

    meter_eic: str = field(repr=False)
    period_start: datetime
    period_end: datetime
    pages: int


def local_midnight(day: date) -> datetime:
    """The UTC instant of Estonian midnight at the start of `day` (midnight is never in a DST gap there)."""
    return datetime.combine(day, time(), HUB_TZ).astimezone(UTC)


def months_before(day: date, months: int) -> date:
    """The same day `months` months earlier, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    following = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (following - timedelta(days=1)).day))


def history_start(now: datetime) -> datetime:
    """Oldest instant the hub holds data for: local midnight 84 months before today."""
    return local_midnight(months_before(now.astimezone(HUB_TZ).date(), HISTORY_MONTHS))


def add_local_days(instant: datetime, days: int) -> datetime:
    """`instant` moved by `days` calendar days of Estonian wall-clock time (23/25-hour days included)."""
    wall = instant.astimezone(HUB_TZ).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=HUB_TZ).astimezone(UTC)


def merge(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching spans joined; empty ones dropped."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def max_intervals(start: datetime, end: datetime) -> int:
    """Upper bound of the intervals with a start in [start, end): every slot of every local day."""
    total = 0
    day = start.astimezone(HUB_TZ).date()
    while (day_start := local_midnight(day)) < end:
        day_end = local_midnight(day + timedelta(days=1))
        lo, hi = max(start, day_start), min(end, day_end)
        if lo < hi:
            step = timedelta(minutes=15) if day >= QUARTER_HOURS_FROM else timedelta(hours=1)
            total += -(-(hi - lo) // step)
        day += timedelta(days=1)
    return total


def periods(window: MeterWindow, max_period_days: int) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive periods of `max_period_days` local days covering the window, the last one shorter."""
    start = window.start
    while start < window.end:
        end = min(add_local_days(start, max_period_days), window.end)
        yield start, end
        start = end


def plan(windows: Sequence[MeterWindow], max_period_days: int, max_page_size: int) -> list[CallPlan]:
    """The meter-data calls for `windows`, in fetch order; `sum(c.pages for c in plan)` is the floor."""
    if max_period_days < 1 or max_page_size < 1:
        raise ValueError("the hub's period and page limits must be at least 1")
    return [CallPlan(w.meter_eic, start, end, max(1, -(-max_intervals(start, end) // max_page_size)))
            for w in windows for start, end in periods(w, max_period_days)]
