"""The meter-data search: period limit, paging over intervals, grouping a page into periods.

Paging is over intervals, not days: the intervals of the requested period, in time order, are cut
into pages of `pageSize`; a page is rendered as `periods[]`, one per run of equal resolution, so a
page that spans 2025-04-01 (Estonia's switch from hourly to quarter-hourly) has two periods.

Cost. The sandbox runs every simulated system in one Python process, so CPU spent on a page stalls
the others (S3/KMS, Volt, the portal) while a client pages through years of data. The hub therefore
composes the answer as text (`meter_data_json`) from per-day JSON texts instead of building a dict
per interval and encoding it:

- `MeterSeries.runs` finds the page's intervals by integer arithmetic on each day's grid;
- `MeterSeries.day_data` computes a day's values, rType and rTime as columns (numpy per day);
- `_render_day` writes a day's intervals once, exactly as `_account_interval` + `json.dumps(...,
  separators=(",", ":"))` do: timestamps from a minute-of-day table (every timestamp of a day
  shares its seconds), kWh as float.__repr__ (what json.dumps writes), one f-string per interval;
- the texts of recent days are kept in an LRU keyed by (series, day), so paging through the same
  data again costs little more than joining strings; a page is the concatenation of day texts
  (or slices of them where a page, the period or a gap cuts a day).

The bytes are those of `meter_data_page`, the dict rendering the hub served before, kept as the
reference: tests/sandbox/test_avp_speed.py compares both with digests captured from that code and
with each other. Cost of a full 31-day PT15M page (about 2950 intervals) through the Flask app, 42
pages of the demo person's two meters and the sole trader's first meter, on the (shared, noisy)
development machine: 60-90 ms CPU before; after, 9-16 ms with empty caches and 1-2 ms when the
days are cached. In instructions (callgrind, 9 of those pages; the machine's load does not skew it): 415 M per
page before, 37 M with empty caches, 5 M cached.

Memory: a cached day is one ASCII string of about 145 bytes per interval with production and 95
without, plus 8 bytes per interval of offsets once a page cuts the day; at most about 15 KB for a
day (measured: 14.8 KB, a 96-interval day with production). `DAY_CACHE_DAYS` = 2048 days came to
31 MB (tracemalloc, all days with production), and `KWH_TEXTS_MAX` kWh texts to at most about
6 MB: the caches stay under 40 MB.
"""

from __future__ import annotations

import json
import math
from array import array
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sandbox.avp.protocol import Problem, format_instant
from sandbox.avp.series import EPOCH, TZ, DayData, Interval, MeterSeries

DAY_CACHE_DAYS = 2048  # rendered days kept: at most about 15 KB each, 31 MB measured for 2048


@dataclass(frozen=True, slots=True)
class Limits:
    max_period_days: int
    max_page_size: int


def local_span(start: datetime, end: datetime) -> timedelta:
    """Length of [start, end) in Estonian wall-clock time: a DST day counts as one day, not 23/25 h."""
    return end.astimezone(TZ).replace(tzinfo=None) - start.astimezone(TZ).replace(tzinfo=None)


def check_period(start: datetime, end: datetime, limits: Limits) -> None:
    if end <= start:
        raise Problem(400, "VALIDATION_ERROR", "meterAttributes.periodEnd must be after periodStart")
    if local_span(start, end) > timedelta(days=limits.max_period_days):
        raise Problem(422, "PERIOD_TOO_LONG",
                      f"the period of one call may be at most {limits.max_period_days} days "
                      f"(calendar days in Europe/Tallinn); split the request")


def check_page(page: int, page_size: int, limits: Limits) -> None:
    if page < 0:
        raise Problem(400, "VALIDATION_ERROR", "pagination.page must be 0 or more")
    if page_size < 1:
        raise Problem(400, "VALIDATION_ERROR", "pagination.pageSize must be 1 or more")
    if page_size > limits.max_page_size:
        raise Problem(400, "PAGE_SIZE_TOO_LARGE", f"pagination.pageSize may be at most {limits.max_page_size}")


def _account_interval(interval: Interval) -> dict[str, Any]:
    r_time = format_instant(interval.r_time)
    item: dict[str, Any] = {"pS": format_instant(interval.start)}
    if interval.in_kwh is not None:
        item["inQty"] = {"rTime": r_time, "rType": interval.r_type, "kwh": interval.in_kwh}
    item["outQty"] = {"rTime": r_time, "rType": interval.r_type, "kwh": interval.out_kwh}
    return item


def render_periods(intervals: list[Interval]) -> list[dict[str, Any]]:
    periods: list[dict[str, Any]] = []
    for interval in intervals:
        if not periods or periods[-1]["r"] != interval.resolution:
            periods.append({"r": interval.resolution, "aI": []})
        periods[-1]["aI"].append(_account_interval(interval))
    return periods


def _total_pages(total: int, page: int, page_size: int) -> int:
    if total == 0:
        raise Problem(404, "NOT_FOUND", "no metering data for the meter in the requested period")
    total_pages = -(-total // page_size)
    if page >= total_pages:
        raise Problem(404, "NOT_FOUND", f"page {page} does not exist; totalPages is {total_pages}")
    return total_pages


def meter_data_page(series: MeterSeries, start: datetime, end: datetime, page: int, page_size: int) -> dict[str, Any]:
    """One page of the answer as a dict, from `series.intervals`: the reference for `meter_data_json`.

    404 if the meter has no data in the period or the page is past the end.
    """
    total_pages = _total_pages(series.count(start, end), page, page_size)
    intervals = series.intervals(start, end, offset=page * page_size, limit=page_size)
    return {"meterEic": series.meter_eic, "commodityType": "ELECTRICITY", "periods": render_periods(intervals),
            "pagination": {"page": page, "totalPages": total_pages}}


# -- the served rendering: JSON text from cached per-day fragments -------------------------------------


class _DayJson:
    """A day's intervals as JSON objects joined by commas, as they appear in an answer's `aI`."""

    __slots__ = ("_offsets", "n", "resolution", "text")

    def __init__(self, resolution: str, text: str, n: int) -> None:
        self.resolution = resolution
        self.text = text
        self.n = n
        self._offsets: array | None = None  # where each interval starts, found when first needed

    def slice(self, i: int, j: int) -> str:
        """Intervals i..j-1, comma-separated."""
        if i == 0 and j == self.n:
            return self.text  # the usual case: a whole day
        offsets = self._offsets
        if offsets is None:  # a page, period or gap edge cuts the day: find the n objects once
            found, at = array("q"), self.text.find(_OBJECT_START)
            while at >= 0:
                found.append(at)
                at = self.text.find(_OBJECT_START, at + 1)
            assert len(found) == self.n, (len(found), self.n)
            found.append(len(self.text) + 1)
            self._offsets = offsets = found
        return self.text[offsets[i]:offsets[j] - 1]


_OBJECT_START = '{"pS":'  # begins every interval object, and occurs nowhere else in a day's text
_CLOCK = [f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60)]  # by minute of the day


def _instant(epoch: int) -> str:
    """`format_instant` of an epoch second: 2025-03-31T21:00:00Z."""
    return format_instant(EPOCH + timedelta(seconds=epoch))


@lru_cache(maxsize=1024)
def _date_text(day: int) -> str:
    """"2025-03-31T" for a day number since 1970-01-01."""
    return _instant(day * 86400)[:11]


def _instant_parts(first: int, step: int, n: int) -> tuple[list[str], list[str], list[str]]:
    """`_instant` of first, first + step, ... (n of them) in three columns: date + "T", "HH:MM:", "SSZ".

    `step` is a multiple of 60 s (or 0), so the instants share their seconds and the minute-of-day
    texts are a stride of `_CLOCK` up to each UTC midnight: list operations only, no per-instant work.
    """
    if step == 0:
        text = _instant(first)
        return [text[:11]] * n, [text[11:17]] * n, [text[17:]] * n
    assert step % 60 == 0, step
    dates: list[str] = []
    clocks: list[str] = []
    seconds: list[str] = []
    while len(dates) < n:
        day, second = divmod(first, 86400)
        count = min(n - len(dates), -((second - 86400) // step))  # up to the next UTC midnight
        minute = second // 60
        dates += [_date_text(day)] * count
        clocks += _CLOCK[minute:minute + count * (step // 60):step // 60]
        seconds += [f"{second % 60:02d}Z"] * count
        first += count * step
    return dates, clocks, seconds


_KWH_TEXTS: dict[float, str] = {}  # kWh value -> its JSON text; at most KWH_TEXTS_MAX (~120 bytes each)
KWH_TEXTS_MAX = 50_000


def _kwh_text(value: float) -> str:
    """The JSON text of a kWh value as json.dumps writes it (float.__repr__ for finite floats).

    Callers look in `_KWH_TEXTS` first (`_KWH_TEXTS.get(v) or _kwh_text(v)`): a function call per
    value costs as much as the repr.
    """
    text = float.__repr__(value) if math.isfinite(value) else json.dumps(value)
    if value and len(_KWH_TEXTS) < KWH_TEXTS_MAX:  # never 0.0: it would also answer for -0.0
        _KWH_TEXTS[value] = text
    return text


def _render_day(data: DayData) -> _DayJson:
    """What `_account_interval` + json.dumps(separators=(",", ":")) write, for every interval of the day.

    One f-string per interval from columns: the timestamps in three parts (`_instant_parts`), the
    kWh texts from `_kwh_text`; the other texts need no JSON escaping.
    """
    n = len(data.out_kwh)
    p_date, p_clock, p_seconds = _instant_parts(data.first, data.step, n)
    r_date, r_clock, r_seconds = _instant_parts(data.r_first, data.r_step, n)
    if data.corrected is not None:
        k, recorded = data.corrected
        text = _instant(recorded)
        r_date[k], r_clock[k], r_seconds[k] = text[:11], text[11:17], text[17:]
    q = f'","rType":"{data.r_type}","kwh":'  # between an rTime and its kWh
    cached = _KWH_TEXTS.get
    outs = [cached(value) or _kwh_text(value) for value in data.out_kwh]
    if data.in_kwh is None:
        parts = [f'{{"pS":"{a}{b}{c}","outQty":{{"rTime":"{d}{e}{f}{q}{o}}}}}'
                 for a, b, c, d, e, f, o in zip(p_date, p_clock, p_seconds, r_date, r_clock, r_seconds, outs,
                                                strict=True)]
    else:
        ins = [None if value is None else cached(value) or _kwh_text(value) for value in data.in_kwh]
        parts = [f'{{"pS":"{a}{b}{c}","outQty":{{"rTime":"{d}{e}{f}{q}{o}}}}}' if i is None else
                 f'{{"pS":"{a}{b}{c}","inQty":{{"rTime":"{d}{e}{f}{q}{i}}},"outQty":{{"rTime":"{d}{e}{f}{q}{o}}}}}'
                 for a, b, c, d, e, f, o, i in zip(p_date, p_clock, p_seconds, r_date, r_clock, r_seconds, outs,
                                                   ins, strict=True)]
    return _DayJson(data.resolution, ",".join(parts), n)


@lru_cache(maxsize=DAY_CACHE_DAYS)
def _day_json(series: MeterSeries, day: date) -> _DayJson:
    return _render_day(series.day_data(day))


def meter_data_json(series: MeterSeries, start: datetime, end: datetime, page: int, page_size: int) -> str:
    """One page of the answer as compact JSON text, byte for byte `json.dumps(meter_data_page(...))`.

    404 if the meter has no data in the period or the page is past the end.
    """
    runs = series.runs(start, end)
    total_pages = _total_pages(sum(j - i for _, i, j in runs), page, page_size)
    skip, left = page * page_size, page_size
    periods: list[tuple[str, list[str]]] = []
    for day, i, j in runs:
        if skip >= j - i:
            skip -= j - i
            continue
        i += skip
        skip = 0
        j = min(j, i + left)
        left -= j - i
        block = _day_json(series, day)
        if not periods or periods[-1][0] != block.resolution:
            periods.append((block.resolution, []))
        periods[-1][1].append(block.slice(i, j))
        if left == 0:
            break
    rendered = ",".join(f'{{"r":"{resolution}","aI":[{",".join(chunks)}]}}' for resolution, chunks in periods)
    return (f'{{"meterEic":{json.dumps(series.meter_eic)},"commodityType":"ELECTRICITY","periods":[{rendered}],'
            f'"pagination":{{"page":{json.dumps(page)},"totalPages":{json.dumps(total_pages)}}}}}')
