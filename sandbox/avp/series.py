"""Interval consumption / production of one metering point, computed on demand, never stored.

Why a generator and not a table: 10 meters x 3 years of quarter-hours is millions of values, and the
data hub serves at most one page of one meter per call. Every value is a pure function of the
population seed, the meter EIC and the interval start (per local day, a numpy stream keyed by
seed + EIC + date), so the same interval has the same value in every call, every process, every run.

Shape of the data (what the real Estonian hub serves, and what the pipeline must get right):

- Resolution: PT1H for local days before 2025-04-01 (Europe/Tallinn), PT15M from that day on.
  Interval starts are UTC instants; a local day is 23 h (spring forward, e.g. 2025-03-30: 23 hourly
  intervals) or 25 h (fall back, e.g. 2025-10-26: 100 quarter-hours) around DST changes.
- Window: only inside the meter's supply period (contract start, local midnight .. day after the
  contract's end date, or the sandbox's "today" `as_of`), and at most 84 months before `as_of`.
- `out` = out of the grid (consumption). Meters with production also have `in` (into the grid)
  while the sun is up: per interval net metering, so `in` and `out` are never both positive.
- Anomalies, deterministic per meter: 3 ESTIMATED days per year (`rType` E, smooth values, recorded
  the next morning); one GAP per year (2-5 consecutive hours absent from the hub); one CORRECTION
  per quarter (one interval whose value was replaced weeks later: `rType` M and a `rTime` 2-10
  weeks after the interval, but only once that moment has passed by `as_of`). Otherwise `rTime` is
  a few minutes after the interval ends. `anomalies()` lists them for tests.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from sandbox import records as r
from sandbox.population import Population

TZ = ZoneInfo("Europe/Tallinn")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
QUARTER_HOURS_FROM = date(2025, 4, 1)  # first local day with PT15M data in Estonia
HISTORY_MONTHS = 84
LATITUDE, LONGITUDE = 59.4, 24.75  # northern Estonia: daylight 6 h in December, 18.5 h in June

# Relative household load per local hour (mean 1): low at night, morning bump, evening peak.
HOUR_WEIGHTS = np.array([0.45, 0.40, 0.38, 0.37, 0.38, 0.45, 0.70, 1.00, 1.05, 0.90, 0.80, 0.78,
                         0.80, 0.78, 0.75, 0.80, 0.95, 1.20, 1.45, 1.55, 1.50, 1.35, 1.00, 0.70])
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.mean()


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval as the hub holds it; `in_kwh` is None where the meter reports no production."""

    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    resolution: str  # PT1H | PT15M
    out_kwh: float
    in_kwh: float | None
    r_type: str  # M | E
    r_time: datetime  # UTC, when the hub recorded the value


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A known irregularity: `gap` (intervals absent), `estimated` (a day of E values) or `correction`."""

    kind: str
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    recorded_at: datetime | None = None  # corrections: the late rTime


@dataclass(frozen=True, slots=True)
class _YearPlan:
    estimated_days: tuple[date, ...]
    gap_day: date
    gap_start_hour: int  # hours after local midnight (UTC arithmetic, so DST days stay simple)
    gap_hours: int


@dataclass(frozen=True, slots=True)
class _Correction:
    day: date
    slot_fraction: float  # position within the day, 0..1
    delay: timedelta
    factor: float


@dataclass(frozen=True, slots=True)
class _Traits:
    annual_kwh: float
    heating: bool
    sauna: bool
    capacity_kw: float


def _key(*parts: object) -> int:
    """A stable 64-bit seed from the parts (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def utc_midnight(day: date) -> datetime:
    """The UTC instant of local (Europe/Tallinn) midnight at the start of `day`."""
    return datetime.combine(day, time(), TZ).astimezone(UTC)


def local_day(instant: datetime) -> date:
    return instant.astimezone(TZ).date()


def resolution_of(day: date) -> str:
    return "PT15M" if day >= QUARTER_HOURS_FROM else "PT1H"


def day_slots(day: date) -> list[datetime]:
    """UTC starts of the intervals of one local day (23/24/25 hours of them)."""
    start, end = utc_midnight(day), utc_midnight(day + timedelta(days=1))
    step = timedelta(minutes=15) if resolution_of(day) == "PT15M" else timedelta(hours=1)
    return [start + k * step for k in range((end - start) // step)]


def epoch_seconds(instant: datetime) -> int:
    """Seconds since 1970-01-01 UTC, rounded up: a whole-second interval start s is >= `instant` iff s >= this."""
    return -((EPOCH - instant) // _SECOND)


@lru_cache(maxsize=4096)
def day_grid(day: date) -> tuple[int, int, int]:
    """(first interval start in epoch seconds, step in seconds, number of intervals) of one local day.

    The same intervals as `day_slots`, as integers: interval k starts at first + k * step.
    """
    first, after = epoch_seconds(utc_midnight(day)), epoch_seconds(utc_midnight(day + timedelta(days=1)))
    step = 900 if resolution_of(day) == "PT15M" else 3600
    return first, step, (after - first) // step


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


@lru_cache(maxsize=4096)
def _traits(seed: int, eic: str) -> _Traits:
    rng = random.Random(_key(seed, eic, "traits"))
    heating = rng.random() < 0.3
    return _Traits(annual_kwh=rng.uniform(1800, 5500) * (1.8 if heating else 1.0), heating=heating,
                   sauna=rng.random() < 0.5, capacity_kw=rng.uniform(4.0, 12.0))


@lru_cache(maxsize=4096)
def _year_plan(seed: int, eic: str, year: int) -> _YearPlan:
    rng = random.Random(_key(seed, eic, "year", year))
    length = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    ordinals = rng.sample(range(length), 4)
    days = [date(year, 1, 1) + timedelta(days=o) for o in ordinals]
    return _YearPlan(estimated_days=tuple(sorted(days[:3])), gap_day=days[3],
                     gap_start_hour=rng.randrange(0, 19), gap_hours=rng.randrange(2, 6))


@lru_cache(maxsize=4096)
def _correction(seed: int, eic: str, year: int, quarter: int) -> _Correction:
    """One corrected interval per quarter, never on the year's gap day or an estimated day."""
    rng = random.Random(_key(seed, eic, "correction", year, quarter))
    plan = _year_plan(seed, eic, year)
    first = date(year, 3 * quarter + 1, 1)
    last = months_before(first, -3)
    while True:
        day = first + timedelta(days=rng.randrange((last - first).days))
        if day != plan.gap_day and day not in plan.estimated_days:
            break
    return _Correction(day=day, slot_fraction=rng.random(),
                       delay=timedelta(days=rng.randrange(14, 71), minutes=rng.randrange(0, 1440)),
                       factor=rng.choice([0.55, 0.7, 1.3, 1.6]))


def _gap_range(plan: _YearPlan) -> tuple[datetime, datetime]:
    start = utc_midnight(plan.gap_day) + timedelta(hours=plan.gap_start_hour)
    return start, start + timedelta(hours=plan.gap_hours)


@lru_cache(maxsize=4096)
def _gap_seconds(seed: int, eic: str, year: int) -> tuple[int, int]:
    """`_gap_range` of the year's plan in epoch seconds (whole seconds: exact)."""
    gap_lo, gap_hi = _gap_range(_year_plan(seed, eic, year))
    return epoch_seconds(gap_lo), epoch_seconds(gap_hi)


@dataclass(frozen=True, slots=True)
class _DayShape:
    """The clock-dependent arrays of the value model for one day's intervals (read-only).

    They depend on the intervals' local and UTC times of day only, so every 24-hour day of one
    resolution and UTC offset shares one shape (`_regular_shape`); DST days get their own. Hours are
    computed from integers exactly as `t.hour + t.minute / 60` on datetimes (the same float
    operations in the same order), so the values are bit for bit those of per-datetime code.
    """

    weights: np.ndarray  # HOUR_WEIGHTS at the local time of each interval's midpoint
    sauna: np.ndarray  # the sauna's extra kWh per interval (17:00-20:00 local)
    hour_angle_cos: np.ndarray  # cos of the solar hour angle at each midpoint


def _shape_from_clock(local_hour: np.ndarray, local_minute: np.ndarray, utc_hour: np.ndarray,
                      utc_minute: np.ndarray, step_h: float) -> _DayShape:
    local_hours = (local_hour + local_minute / 60) + step_h / 2
    weights = np.interp(local_hours, np.arange(24) + 0.5, HOUR_WEIGHTS, period=24)
    sauna = np.where((local_hours >= 17) & (local_hours < 20), 6.0 * step_h, 0.0)
    # starts are UTC; the hour angle is periodic, so the UTC time of day is all it needs
    utc_hours = (utc_hour + utc_minute / 60) + step_h / 2
    angle = np.radians(15 * (utc_hours + LONGITUDE / 15 - 12))  # local solar time = UTC + lon / 15
    arrays = (weights, sauna, np.cos(angle))
    for array in arrays:
        array.setflags(write=False)
    return _DayShape(*arrays)


@lru_cache(maxsize=64)
def _regular_shape(utc_first: int, step: int, step_h: float) -> _DayShape:
    """Shape of a 24-hour day (no DST change) whose first interval starts `utc_first` s after UTC midnight."""
    local = step * np.arange(86400 // step, dtype=np.int64)  # local time = time since local midnight
    utc = (utc_first + local) % 86400
    return _shape_from_clock(local // 3600, local % 3600 // 60, utc // 3600, utc % 3600 // 60, step_h)


def _day_shape(day: date) -> _DayShape:
    first, step, n = day_grid(day)
    step_h = 0.25 if resolution_of(day) == "PT15M" else 1.0
    if n * step == 86400:
        return _regular_shape(first % 86400, step, step_h)
    # 23 / 25 hours: ask the zone, interval by interval (two days a year)
    starts = [first + k * step for k in range(n)]
    walls = [datetime.fromtimestamp(t, TZ) for t in starts]
    utc = np.array(starts, dtype=np.int64) % 86400
    return _shape_from_clock(np.array([t.hour for t in walls], dtype=np.int64),
                             np.array([t.minute for t in walls], dtype=np.int64), utc // 3600, utc % 3600 // 60,
                             step_h)


def _sun_height(shape: _DayShape, day: date) -> np.ndarray:
    """sin(solar elevation) at each interval's midpoint (simple declination / hour-angle model)."""
    doy = day.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
    lat = math.radians(LATITUDE)
    return math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * shape.hour_angle_cos


def _day_values(seed: int, eic: str, production: bool,
                day: date) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, bool]:
    """(out kWh, in kWh or None, daylight mask, estimated?) for every slot of one local day.

    Draws always happen in the same order and number, so a value never depends on which other
    intervals were asked for.
    """
    traits = _traits(seed, eic)
    rng = np.random.default_rng(_key(seed, eic, "day", day.isoformat()))
    plan = _year_plan(seed, eic, day.year)
    estimated = day in plan.estimated_days
    shape = _day_shape(day)
    n = len(shape.weights)
    step_h = 0.25 if resolution_of(day) == "PT15M" else 1.0
    weights = shape.weights

    doy = day.timetuple().tm_yday
    season = 1 + (0.7 if traits.heating else 0.4) * math.cos(2 * math.pi * (doy - 20) / 365.25)
    weekend = 1.12 if day.weekday() >= 5 else 1.0
    day_factor = float(rng.lognormal(0.0, 0.12))
    noise = rng.lognormal(0.0, 0.25 if step_h < 1 else 0.18, n)
    sauna_on = traits.sauna and day.weekday() == 5 and float(rng.random()) < 0.7
    clouds = float(rng.uniform(0.1, 1.0))
    sun_noise = rng.uniform(0.85, 1.15, n)

    daily = traits.annual_kwh / 365.25 * season * weekend
    if estimated:
        cons = daily / 24 * weights * step_h
    else:
        cons = daily * day_factor / 24 * weights * step_h * noise
        if sauna_on:
            cons = cons + shape.sauna
    daylight = np.zeros(n, dtype=bool)
    if not production:
        return np.round(cons, 3) + 0.0, None, daylight, estimated
    height = _sun_height(shape, day)
    daylight = height > 0
    sky = 0.55 if estimated else clouds
    prod = traits.capacity_kw * 0.85 * np.clip(height, 0, None) ** 1.15 * sky * step_h
    if not estimated:
        prod = prod * sun_noise
    out = np.round(np.maximum(cons - prod, 0.0), 3) + 0.0
    into = np.round(np.maximum(prod - cons, 0.0), 3) + 0.0
    return out, into, daylight, estimated


@dataclass(frozen=True, slots=True)
class DayData:
    """Every interval of one local day of a meter, as flat columns (gap intervals included).

    Interval k starts at `first + k * step` (epoch seconds); `in_kwh` is None for a meter without
    production, and holds None where the meter reports no production (night). Interval k was
    recorded at `r_first + k * r_step` (epoch seconds; r_step 0: the whole day at once, as estimates
    are), except a corrected interval: `corrected` = (k, its rTime).
    """

    day: date
    resolution: str  # PT1H | PT15M
    first: int
    step: int
    out_kwh: list[float]
    in_kwh: list[float | None] | None
    r_type: str  # M | E, the same for the whole day
    r_first: int
    r_step: int
    corrected: tuple[int, int] | None

    def r_time(self, k: int) -> int:
        """When interval k was recorded, in epoch seconds."""
        if self.corrected is not None and self.corrected[0] == k:
            return self.corrected[1]
        return self.r_first + k * self.r_step


@dataclass(frozen=True, slots=True)
class MeterSeries:
    """The hub's interval data of one meter: values from (seed, EIC, interval start), window from the contract."""

    seed: int
    meter_eic: str
    has_production: bool
    data_start: datetime  # UTC, inclusive
    data_end: datetime  # UTC, exclusive
    known_until: datetime  # the sandbox's "now": a correction recorded after it has not happened yet

    # -- counting and paging, without computing values ------------------------------------------------

    def _days(self, start: datetime, end: datetime) -> Iterator[date]:
        lo, hi = max(start, self.data_start), min(end, self.data_end)
        if lo >= hi:
            return
        day, last = local_day(lo), local_day(hi - timedelta(microseconds=1))
        while day <= last:
            yield day
            day += timedelta(days=1)

    def _present(self, day: date, start: datetime, end: datetime) -> list[datetime]:
        """Interval starts of `day` inside [start, end) and the data window, gap intervals left out."""
        lo, hi = max(start, self.data_start), min(end, self.data_end)
        gap_lo, gap_hi = _gap_range(_year_plan(self.seed, self.meter_eic, day.year))
        return [s for s in day_slots(day) if lo <= s < hi and not gap_lo <= s < gap_hi]

    def count(self, start: datetime, end: datetime) -> int:
        """Number of intervals with a start in [start, end) that the hub holds."""
        return sum(len(self._present(day, start, end)) for day in self._days(start, end))

    def runs(self, start: datetime, end: datetime) -> list[tuple[date, int, int]]:
        """The intervals of `intervals(start, end)` as (day, i, j): interval indexes i..j-1 of `day`.

        Integer arithmetic on the day grid (no datetimes per interval): the period and the data window
        cut each day to one index range, and the year's gap cuts a hole into it.
        """
        lo = epoch_seconds(max(start, self.data_start))
        hi = epoch_seconds(min(end, self.data_end))
        found: list[tuple[date, int, int]] = []
        for day in self._days(start, end):
            first, step, n = day_grid(day)
            gap_lo, gap_hi = _gap_seconds(self.seed, self.meter_eic, day.year)
            # index of the first interval starting at or after t: ceil((t - first) / step), within 0..n
            a, b, c, d = (min(max(-((first - t) // step), 0), n) for t in (lo, hi, gap_lo, gap_hi))
            for i, j in ((a, min(b, c)), (max(a, d), b)):
                if i < j:
                    found.append((day, i, j))
        return found

    def intervals(self, start: datetime, end: datetime, offset: int = 0, limit: int | None = None) -> list[Interval]:
        """Intervals with a start in [start, end), in time order; values only for days that are served."""
        result: list[Interval] = []
        skip = offset
        for day in self._days(start, end):
            present = self._present(day, start, end)
            if skip >= len(present):
                skip -= len(present)
                continue
            wanted = present[skip:] if limit is None else present[skip: skip + limit - len(result)]
            skip = 0
            result.extend(self._day_intervals(day, set(wanted)))
            if limit is not None and len(result) >= limit:
                break
        return result

    # -- values ---------------------------------------------------------------------------------------

    def _day_intervals(self, day: date, wanted: set[datetime]) -> list[Interval]:
        data = self.day_data(day)
        step = timedelta(seconds=data.step)
        result = []
        for k, slot in enumerate(day_slots(day)):
            if slot not in wanted:
                continue
            in_kwh = None if data.in_kwh is None else data.in_kwh[k]
            r_time = EPOCH + timedelta(seconds=data.r_time(k))
            result.append(Interval(slot, slot + step, data.resolution, data.out_kwh[k], in_kwh, data.r_type, r_time))
        return result

    def day_data(self, day: date) -> DayData:
        """All intervals of one local day: values, rType and rTime (estimates, corrections applied)."""
        first, step, n = day_grid(day)
        out, into, daylight, estimated = _day_values(self.seed, self.meter_eic, self.has_production, day)
        day_rng = random.Random(_key(self.seed, self.meter_eic, "rtime", day.isoformat()))
        delay = day_rng.randrange(120, 1800)  # seconds after the interval's end
        corrected = self._correction_slot(day, n)
        next_morning = utc_midnight(day + timedelta(days=1)) + timedelta(hours=6, minutes=day_rng.randrange(60))
        out_kwh: list[float] = out.tolist()
        in_kwh: list[float | None] | None = None
        if into is not None:
            in_kwh = [value if lit else None for value, lit in zip(into.tolist(), daylight.tolist(), strict=True)]
        # estimates: all the next morning; metered values: `delay` after each interval's end
        r_first, r_step = (epoch_seconds(next_morning), 0) if estimated else (first + step + delay, step)
        fixed = None
        if corrected is not None:
            k, factor, recorded = corrected
            out_kwh[k] = round(out_kwh[k] * factor, 3)
            if in_kwh is not None and in_kwh[k] is not None:
                in_kwh[k] = round(in_kwh[k] * factor, 3)
            fixed = (k, epoch_seconds(recorded))
        return DayData(day, resolution_of(day), first, step, out_kwh, in_kwh, "E" if estimated else "M",
                       r_first, r_step, fixed)

    def _correction_slot(self, day: date, slots: int) -> tuple[int, float, datetime] | None:
        """(slot index, factor, recorded at) if this day holds a correction that is already known."""
        fix = _correction(self.seed, self.meter_eic, day.year, (day.month - 1) // 3)
        if fix.day != day:
            return None
        index = int(fix.slot_fraction * slots)
        step = timedelta(minutes=15) if resolution_of(day) == "PT15M" else timedelta(hours=1)
        recorded = utc_midnight(day) + index * step + step + fix.delay
        if recorded > self.known_until:
            return None
        return index, fix.factor, recorded

    # -- the known irregularities, for tests ----------------------------------------------------------

    def anomalies(self, start: datetime | None = None, end: datetime | None = None) -> list[Anomaly]:
        """Gaps, estimated days and (already recorded) corrections inside the data window, by time."""
        lo = max(start or self.data_start, self.data_start)
        hi = min(end or self.data_end, self.data_end)
        if lo >= hi:
            return []
        found: list[Anomaly] = []
        for year in range(local_day(lo).year, local_day(hi - timedelta(microseconds=1)).year + 1):
            plan = _year_plan(self.seed, self.meter_eic, year)
            gap_lo, gap_hi = _gap_range(plan)
            if max(gap_lo, lo) < min(gap_hi, hi):
                found.append(Anomaly("gap", max(gap_lo, lo), min(gap_hi, hi)))
            for day in plan.estimated_days:
                day_lo, day_hi = utc_midnight(day), utc_midnight(day + timedelta(days=1))
                if max(day_lo, lo) < min(day_hi, hi):
                    found.append(Anomaly("estimated", max(day_lo, lo), min(day_hi, hi)))
            for quarter in range(4):
                fix = _correction(self.seed, self.meter_eic, year, quarter)
                slots = day_slots(fix.day)
                known = self._correction_slot(fix.day, len(slots))
                if known is None:
                    continue
                begin = slots[known[0]]
                finish = begin + (slots[1] - slots[0])
                if lo <= begin < hi:
                    found.append(Anomaly("correction", begin, finish, recorded_at=known[2]))
        return sorted(found, key=lambda a: (a.start, a.kind))


def series_window(population: Population, contract: r.Contract) -> tuple[datetime, datetime]:
    """[first, last) UTC instants of data: supply period, at most 84 months back, up to `as_of`."""
    history = utc_midnight(months_before(population.as_of, HISTORY_MONTHS))
    today = utc_midnight(population.as_of)
    start = max(utc_midnight(contract.start_date), history)
    end = today if contract.end_date is None else min(utc_midnight(contract.end_date + timedelta(days=1)), today)
    return start, max(start, end)


def series_for(population: Population, meter: r.MeteringPoint) -> MeterSeries:
    """The hub's series of one metering point of the population."""
    start, end = series_window(population, population.contract_of_meter(meter))
    return MeterSeries(seed=population.seed, meter_eic=meter.eic, has_production=meter.has_production,
                       data_start=start, data_end=end, known_until=utc_midnight(population.as_of))


def anomalies_of(population: Population, meter_eic: str, start: datetime | None = None,
                 end: datetime | None = None) -> list[Anomaly]:
    """Known gaps, estimated days and corrections of one metering point (KeyError if there is none such)."""
    meter = next((m for m in population.metering_points if m.eic == meter_eic), None)
    if meter is None:
        raise KeyError(f"no metering point {meter_eic!r} in the population")
    return series_for(population, meter).anomalies(start, end)
