"""The meter-data search: period limit, paging over intervals, grouping a page into periods.

Paging is over intervals, not days: the intervals of the requested period, in time order, are cut
into pages of `pageSize`; a page is rendered as `periods[]`, one per run of equal resolution, so a
page that spans 2025-04-01 (Estonia's switch from hourly to quarter-hourly) has two periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.avp.protocol import Problem, format_instant
from sandbox.avp.series import TZ, Interval, MeterSeries


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


def meter_data_page(series: MeterSeries, start: datetime, end: datetime, page: int, page_size: int) -> dict[str, Any]:
    """One page of the answer; 404 if the meter has no data in the period or the page is past the end."""
    total = series.count(start, end)
    if total == 0:
        raise Problem(404, "NOT_FOUND", "no metering data for the meter in the requested period")
    total_pages = -(-total // page_size)
    if page >= total_pages:
        raise Problem(404, "NOT_FOUND", f"page {page} does not exist; totalPages is {total_pages}")
    intervals = series.intervals(start, end, offset=page * page_size, limit=page_size)
    return {"meterEic": series.meter_eic, "commodityType": "ELECTRICITY", "periods": render_periods(intervals),
            "pagination": {"page": page, "totalPages": total_pages}}
