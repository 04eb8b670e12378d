"""Interval consumption as Regulation (EU) 2023/1162's "validated historical data": one row per interval.

The AVP connector yields one record per hub page (source `meter_data`) whose `intervals` field holds
compact rows `[interval_start_utc, resolution, direction, kwh, quality, reading_time_utc]`
(`connectors/avp/meterdata.py`). This module turns them into the rows the person receives:

    metering_point_eic, direction, interval_start_utc, interval_end_utc, interval_start_local,
    resolution, quantity, unit, quality

- `direction`: `consumption` (the hub's `out`: out of the grid) | `production` (`in`: into the grid);
  the hub's own words `out`/`in` are accepted too and mapped.
- Intervals are half-open `[start, end)`, `end = start + resolution` in UTC (so a 23-hour spring day
  has 92 quarter-hours, a 25-hour autumn day 100); a `P1D` interval ends at the next local midnight.
- `interval_start_local`: ISO 8601 with the offset of the metering point's time zone at that instant
  (`2025-03-30T04:00:00+03:00`). The zone comes from, in order: an explicit mapping (billing's
  metering point records carry `time_zone`/`country` and teach it; the caller may pass more), the
  EIC's issuing office (38 Elering → Europe/Tallinn, 43 AST → Europe/Riga), else Europe/Tallinn
  (the hub is Estonian). A zone learnt from a record only applies to pages that come after it: pass
  a list (it is scanned first) or `zones` when the order is not known.
- `quantity`: decimal with exactly 3 decimals (never a float; a value with more is rounded half-even);
  `unit` always `kWh`; `quality`: `metered` | `estimated` (the hub's M / E are accepted and mapped).

Written twice, both streaming: `export/csv/avp/consumption.csv` (UTF-8, RFC 4180, CRLF; text cells
quoted, the quantity not) and `export/parquet/consumption.parquet`. Parquet types, chosen for
exactness and for readers: EIC/direction/resolution/unit/quality dictionary-encoded strings;
`interval_start_utc`/`interval_end_utc` `timestamp[ms, tz=UTC]` (Parquet has no seconds unit);
`interval_start_local` a string (Parquet has no per-row offset, and the offset is the point);
`quantity` `decimal128(12, 3)` (reads back as `Decimal`). A hub page is converted column-wise
with Arrow compute (a few µs a row) and written at once; only one row group (`ROW_GROUP_ROWS`) is
held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from connectors import series
from connectors.contract import Record
from connectors.series import IntervalRows, SeriesColumns
from dsar_pipeline.export.streams import staged_binary
from dsar_pipeline.package.staging import Staging

CSV_PATH = "export/csv/avp/consumption.csv"
PARQUET_PATH = "export/parquet/consumption.parquet"
SERIES_SOURCE = "meter_data"
COLUMNS = ("metering_point_eic", "direction", "interval_start_utc", "interval_end_utc", "interval_start_local",
           "resolution", "quantity", "unit", "quality")
DEFAULT_ZONE = "Europe/Tallinn"
ZONE_BY_COUNTRY = {"EE": "Europe/Tallinn", "LV": "Europe/Riga", "LT": "Europe/Vilnius"}
ZONE_BY_EIC_OFFICE = {"38": "Europe/Tallinn", "43": "Europe/Riga"}
DIRECTIONS = {"consumption": "consumption", "production": "production", "out": "consumption", "in": "production"}
QUALITIES = {"metered": "metered", "estimated": "estimated", "M": "metered", "E": "estimated"}
RESOLUTION_SECONDS = {"PT15M": 900, "PT30M": 1800, "PT1H": 3600}
DAILY = "P1D"
UNIT = "kWh"
QUANTITY_TYPE = pa.decimal128(12, 3)
UTC_TYPE = pa.timestamp("s", tz="UTC")
MILLI = Decimal("0.001")
ROW_GROUP_ROWS = 65_536
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

DESCRIPTIONS: dict[str, str] = {
    "metering_point_eic": "EIC of the metering point (Energy Identification Code, 16 characters)",
    "direction": "consumption (out of the grid) or production (into the grid)",
    "interval_start_utc": "start of the interval, ISO 8601 in UTC (inclusive)",
    "interval_end_utc": "end of the interval, ISO 8601 in UTC (exclusive: start + resolution)",
    "interval_start_local": "start of the interval in the metering point's local time, ISO 8601 with its UTC offset",
    "resolution": "length of the interval, ISO 8601 duration: PT15M or PT1H (P1D for daily values)",
    "quantity": "energy in the interval in kWh, decimal with 3 decimals",
    "unit": "unit of quantity: kWh",
    "quality": "metered (a meter reading) or estimated (by the grid operator)",
}
TYPES: dict[str, str] = {"interval_start_utc": "date-time", "interval_end_utc": "date-time",
                         "interval_start_local": "date-time", "quantity": "decimal"}

_DICT = pa.dictionary(pa.int32(), pa.string())
PARQUET_SCHEMA = pa.schema(
    [pa.field("metering_point_eic", _DICT, nullable=False), pa.field("direction", _DICT, nullable=False),
     pa.field("interval_start_utc", UTC_TYPE, nullable=False), pa.field("interval_end_utc", UTC_TYPE, nullable=False),
     pa.field("interval_start_local", pa.string(), nullable=False), pa.field("resolution", _DICT, nullable=False),
     pa.field("quantity", QUANTITY_TYPE, nullable=False), pa.field("unit", _DICT, nullable=False),
     pa.field("quality", _DICT, nullable=False)],
    metadata={"description": "Regulation (EU) 2023/1162 validated historical data: one row per interval",
              **{f"column.{k}": v for k, v in DESCRIPTIONS.items()}})
# What the file holds: Parquet has no seconds unit, so times are stored as milliseconds (UTC).
FILE_SCHEMA = pa.schema([f.with_type(pa.timestamp("ms", tz="UTC")) if f.type == UTC_TYPE else f
                         for f in PARQUET_SCHEMA], metadata=PARQUET_SCHEMA.metadata)
CSV_SCHEMA = pa.schema([pa.field(name, QUANTITY_TYPE if name == "quantity" else pa.string(), nullable=False)
                        for name in COLUMNS])


class SeriesError(ValueError):
    """An interval row the export cannot represent; the message names the problem, never a value."""


def zone_for(eic: str, known: Mapping[str, str] | None = None) -> str:
    """IANA time zone of a metering point: explicit knowledge first, then the EIC's issuing office."""
    if known and eic in known:
        return known[eic]
    return ZONE_BY_EIC_OFFICE.get(eic[:2], DEFAULT_ZONE)


def zones_from_record(record: Record) -> dict[str, str]:
    """Metering point → zone from a record that states one by `time_zone` or `country` (billing's)."""
    fields = record.fields
    eic = next((value for name, value in fields.items()
                if record.categories.get(name) == "user.energy.metering_point_id"
                and isinstance(value, str) and len(value) == 16), None)
    if eic is None:
        return {}
    zone = fields.get("time_zone")
    if isinstance(zone, str) and zone:
        try:
            ZoneInfo(zone)
        except (ValueError, KeyError, OSError):
            return {}
        return {eic: zone}
    country = fields.get("country")
    if isinstance(country, str) and country.upper() in ZONE_BY_COUNTRY:
        return {eic: ZONE_BY_COUNTRY[country.upper()]}
    return {}


def _mapped(values: pa.Array, mapping: Mapping[str, str], what: str) -> pa.DictionaryArray:
    """Map a small-cardinality text column through `mapping` (dictionary-wise, not row-wise)."""
    try:
        encoded = values.cast(pa.string()).dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise SeriesError(f"interval rows have an invalid {what}") from None
    if encoded.null_count:
        raise SeriesError(f"interval rows without a {what}")
    dictionary = encoded.dictionary.to_pylist()
    if any(value not in mapping for value in dictionary):
        raise SeriesError(f"interval rows with an unknown {what}")
    return pa.DictionaryArray.from_arrays(encoded.indices, pa.array([mapping[v] for v in dictionary], pa.string()))


def _quantities(values: Sequence[Any]) -> pa.Array:
    """Exact kWh: the hub's decimal strings cast straight to decimal128(12, 3), else via `Decimal`."""
    try:
        return pa.array(values, pa.string()).cast(QUANTITY_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    exact = []
    for value in values:
        try:
            number = Decimal(str(value)).quantize(MILLI, rounding=ROUND_HALF_EVEN)
        except (InvalidOperation, ValueError):
            raise SeriesError("interval quantity is not a decimal") from None
        if not number.is_finite() or isinstance(value, bool | float):
            raise SeriesError("interval quantity is not an exact decimal")
        exact.append(number)
    try:
        return pa.array(exact, QUANTITY_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise SeriesError("interval quantity does not fit 12 digits") from None


def _iso_text(naive: pa.Array, suffix: pa.Array | pa.Scalar) -> pa.Array:
    """`YYYY-MM-DDTHH:MM:SS` + suffix from naive timestamps (cast and slice: Arrow's tz-aware strftime
    costs ten times more)."""
    text = pc.binary_replace_slice(naive.cast(pa.string()), start=10, stop=11, replacement="T")
    return pc.binary_join_element_wise(text, suffix, "")


def _utc_text(moments: pa.Array) -> pa.Array:
    return _iso_text(moments.cast(pa.int64()).cast(pa.timestamp("s")), pa.scalar("Z"))


def _local_naive(moments: pa.Array, zone: str) -> pa.Array:
    return pc.local_timestamp(moments.cast(pa.timestamp("s", tz=zone)))


def _local_text(starts: pa.Array, zone: str) -> pa.Array:
    """Local wall time with the zone's offset at that instant, e.g. `2025-10-26T03:00:00+02:00`."""
    local = _local_naive(starts, zone)
    offsets = pc.subtract(local.cast(pa.int64()), starts.cast(pa.int64())).dictionary_encode()
    texts = []
    for seconds in offsets.dictionary.to_pylist():
        hours, minutes = divmod(abs(seconds) // 60, 60)
        texts.append(f"{'-' if seconds < 0 else '+'}{hours:02d}:{minutes:02d}")
    return _iso_text(local, pa.array(texts, pa.string()).take(offsets.indices))


def _daily_ends(starts: pa.Array, zone: str) -> pa.Array:
    """End of a P1D interval: the next local midnight (23 or 25 hours later on DST days)."""
    tz = ZoneInfo(zone)
    ends = []
    for start in starts.to_pylist():
        local = start.astimezone(tz)
        ends.append(datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC))
    return pa.array(ends, UTC_TYPE)


def page_table(record: Record, zone: str) -> pa.Table | None:
    """The intervals of one `meter_data` record as a typed table (PARQUET_SCHEMA), or None if it has none."""
    eic = record.fields.get("metering_point_eic")
    if not isinstance(eic, str) or not eic:
        raise SeriesError("meter-data record without a metering point EIC")
    rows = record.fields.get("intervals") or []
    if not rows:
        return None
    if isinstance(rows, IntervalRows):
        return _columnar_table(eic, rows.columns, zone)
    columns = list(zip(*rows, strict=False))
    if len(columns) < 5 or min(map(len, rows)) < 5:
        raise SeriesError("interval row does not have the documented layout")
    try:
        starts = pa.array(columns[0], pa.string()).cast(UTC_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise SeriesError("interval start is not ISO 8601 with a UTC offset, to the second") from None
    resolution = _mapped(pa.array(columns[1]), {**{r: r for r in RESOLUTION_SECONDS}, DAILY: DAILY}, "resolution")
    return _table(eic, zone, starts, resolution, _mapped(pa.array(columns[2]), DIRECTIONS, "direction"),
                  _quantities(columns[3]), _mapped(pa.array(columns[4]), QUALITIES, "quality"))


def _columnar_table(eic: str, columns: SeriesColumns, zone: str) -> pa.Table:
    """A page held column-wise (`connectors.series`): Arrow arrays straight from its buffers."""
    starts = pa.Array.from_buffers(UTC_TYPE, len(columns.starts), [None, pa.py_buffer(columns.starts)])
    return _table(eic, zone, starts, _coded(columns.resolutions, series.RESOLUTIONS),
                  _coded(columns.directions, series.DIRECTIONS), _fixed_quantities(columns),
                  _coded(columns.qualities, series.QUALITIES))


def _table(eic: str, zone: str, starts: pa.Array, resolution: pa.DictionaryArray, direction: pa.DictionaryArray,
           quantity: pa.Array, quality: pa.DictionaryArray) -> pa.Table:
    """The page's table (PARQUET_SCHEMA): interval ends from the resolutions, local starts, constants."""
    used = resolution.dictionary.to_pylist()
    if DAILY in used:
        if len(used) > 1:
            raise SeriesError("a page mixes daily and sub-daily intervals")
        ends = _daily_ends(starts, zone)
    else:
        seconds = pa.array([RESOLUTION_SECONDS[r] for r in used], pa.int64())
        ends = pc.add(starts, seconds.take(resolution.indices).cast(pa.duration("s")))
    zeros = pa.nulls(len(starts), pa.int32()).fill_null(0)
    return pa.Table.from_arrays([
        pa.DictionaryArray.from_arrays(zeros, pa.array([eic], pa.string())), direction, starts, ends,
        _local_text(starts, zone), resolution, quantity,
        pa.DictionaryArray.from_arrays(zeros, pa.array([UNIT], pa.string())), quality,
    ], schema=PARQUET_SCHEMA)


def _coded(codes: bytes, names: Sequence[str]) -> pa.DictionaryArray:
    """Codes into `names` as a dictionary of the values used, in order of first use (what
    `dictionary_encode` makes of the same rows as text, so both paths write the same files)."""
    used = list(dict.fromkeys(codes))
    dense = codes.translate(bytes(used.index(code) if code in used else 0 for code in range(256)))
    indices = pa.Array.from_buffers(pa.int8(), len(dense), [None, pa.py_buffer(dense)]).cast(pa.int32())
    return pa.DictionaryArray.from_arrays(indices, pa.array([names[code] for code in used], pa.string()))


def _fixed_quantities(columns: SeriesColumns) -> pa.Array:
    """decimal128(12, 3) from the integer amounts: built from their bytes when every one has the
    hub's three decimals (a decimal128 is the unscaled integer, 16 bytes little-endian; the amounts
    are below `series.MAX_KWH`, so they fit), else rounded half-even through `Decimal`."""
    count = len(columns.amounts)
    if columns.scales.count(series.HUB_SCALE) == count:
        wide = np.zeros((count, 2), dtype=np.int64)
        wide[:, 0] = np.frombuffer(columns.amounts, dtype=np.int64)
        return pa.Array.from_buffers(QUANTITY_TYPE, count, [None, pa.py_buffer(wide)])
    return _quantities([Decimal(amount).scaleb(-scale) for amount, scale in zip(columns.amounts, columns.scales,
                                                                                   strict=True)])


def csv_table(table: pa.Table) -> pa.Table:
    """The same rows as text for the CSV: UTC times as `YYYY-MM-DDTHH:MM:SSZ`, quantity kept decimal."""
    arrays = []
    for name in COLUMNS:
        column = table.column(name)
        if name in ("interval_start_utc", "interval_end_utc"):
            column = _utc_text(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
        elif name != "quantity" and pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=CSV_SCHEMA)


class PageReader:
    """Zones per metering point (learnt from records, given, or from the EIC) and page conversion."""

    def __init__(self, zones: Mapping[str, str] | None = None) -> None:
        self.zones: dict[str, str] = dict(zones or {})
        self._resolved: dict[str, str] = {}

    def learn(self, record: Record) -> None:
        for eic, zone in zones_from_record(record).items():
            self.zones.setdefault(eic, zone)

    def zone(self, eic: str) -> str:
        """The zone used for `eic`: fixed at its first page, so one metering point never mixes zones."""
        if eic not in self._resolved:
            self._resolved[eic] = zone_for(eic, self.zones)
        return self._resolved[eic]

    def table(self, record: Record) -> pa.Table | None:
        eic = record.fields.get("metering_point_eic")
        return page_table(record, self.zone(eic) if isinstance(eic, str) else DEFAULT_ZONE)


@dataclass
class MonthlyTotals:
    """kWh per metering point, direction and local calendar month (`YYYY-MM`), for the report."""

    totals: dict[str, dict[str, dict[str, Decimal]]] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)
    systems: dict[str, str] = field(default_factory=dict)  # metering point -> system whose pages held it

    def add(self, table: pa.Table, zone: str, system: str = "") -> None:
        eic = table.column("metering_point_eic")[0].as_py()
        self.zones.setdefault(eic, zone)
        self.systems.setdefault(eic, system)
        starts = table.column("interval_start_utc").combine_chunks()
        months = pc.utf8_slice_codeunits(_local_naive(starts, zone).cast(pa.string()), 0, 7)
        grouped = pa.table({"month": months, "direction": table.column("direction").cast(pa.string()),
                            "quantity": table.column("quantity")}).group_by(["month", "direction"]).aggregate(
            [("quantity", "sum")])
        per_point = self.totals.setdefault(eic, {})
        for month, direction, total in zip(grouped.column("month").to_pylist(), grouped.column("direction").to_pylist(),
                                           grouped.column("quantity_sum").to_pylist(), strict=True):
            series = per_point.setdefault(direction, {})
            series[month] = series.get(month, Decimal(0)) + total

    def months(self, eic: str) -> list[str]:
        return sorted({month for series in self.totals.get(eic, {}).values() for month in series})


@dataclass
class SeriesSummary:
    """What was written: rows in all and per metering point (zone, rows, first start, last end)."""

    rows: int = 0
    metering_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    monthly: MonthlyTotals = field(default_factory=MonthlyTotals)  # for the report, computed on the way

    def add(self, table: pa.Table, zone: str) -> None:
        eic = table.column("metering_point_eic")[0].as_py()
        self.rows += table.num_rows
        first = pc.min(table.column("interval_start_utc")).as_py().strftime(UTC_FORMAT)
        last = pc.max(table.column("interval_end_utc")).as_py().strftime(UTC_FORMAT)
        entry = self.metering_points.setdefault(eic, {"time_zone": zone, "rows": 0, "first_interval_start_utc": first,
                                                      "last_interval_end_utc": last, "directions": [],
                                                      "resolutions": []})
        entry["rows"] += table.num_rows
        entry["first_interval_start_utc"] = min(entry["first_interval_start_utc"], first)
        entry["last_interval_end_utc"] = max(entry["last_interval_end_utc"], last)
        for key, column in (("directions", "direction"), ("resolutions", "resolution")):
            for value in table.column(column).unique().to_pylist():
                if value not in entry[key]:
                    entry[key].append(value)


class SeriesWriter:
    """Writes page tables to the CSV and the Parquet stream; Parquet row groups of `row_group_rows`."""

    def __init__(self, csv_stream: BinaryIO, parquet_stream: BinaryIO, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self._csv = pa_csv.CSVWriter(csv_stream, CSV_SCHEMA, write_options=pa_csv.WriteOptions(eol="\r\n"))
        categorical = [f.name for f in PARQUET_SCHEMA if pa.types.is_dictionary(f.type)]
        self._parquet = pq.ParquetWriter(parquet_stream, FILE_SCHEMA, compression="zstd", use_dictionary=categorical)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._row_group_rows = row_group_rows

    def write(self, table: pa.Table) -> None:
        self._csv.write_table(csv_table(table))
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self._row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            group = pa.concat_tables(self._pending).unify_dictionaries().combine_chunks().cast(FILE_SCHEMA)
            self._parquet.write_table(group, row_group_size=self._row_group_rows)
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._parquet.close()
        self._csv.close()


class ConsumptionExport:
    """The series part of the export: feed it records, it writes intervals as they arrive.

    The two files are created at the first `meter_data` record (a person without one gets none).
    Used as a context manager: on an exception the staged files are abandoned unfinished (the staging
    discards them); on success both are completed.
    """

    def __init__(self, staging: Staging, zones: Mapping[str, str] | None = None,
                 row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.staging = staging
        self.reader = PageReader(zones)
        self.summary = SeriesSummary()
        self._row_group_rows = row_group_rows
        self._stack = ExitStack()
        self._writer: SeriesWriter | None = None

    def __enter__(self) -> ConsumptionExport:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if kind is None:
            self.close()
        else:
            self._stack.__exit__(kind, error, trace)

    def learn(self, record: Record) -> None:
        self.reader.learn(record)

    def add(self, record: Record) -> None:
        """Write the intervals of one `meter_data` record."""
        table = self.reader.table(record)
        if table is None:
            return
        if self._writer is None:
            csv_stream = self._stack.enter_context(staged_binary(self.staging, CSV_PATH))
            parquet_stream = self._stack.enter_context(staged_binary(self.staging, PARQUET_PATH))
            self._writer = SeriesWriter(csv_stream, parquet_stream, self._row_group_rows)
            self.summary.files = [CSV_PATH, PARQUET_PATH]
        self._writer.write(table)
        zone = self.reader.zone(table.column("metering_point_eic")[0].as_py())
        self.summary.add(table, zone)
        self.summary.monthly.add(table, zone, record.system)

    def close(self) -> SeriesSummary:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._stack.close()
        return self.summary


def write_series(records: Iterable[Record], staging: Staging, zones: Mapping[str, str] | None = None) -> SeriesSummary:
    """Write every interval of the `meter_data` records in `records` (the others only teach zones)."""
    with ConsumptionExport(staging, zones) as export:
        if isinstance(records, Sequence):
            for record in records:
                export.learn(record)
        for record in records:
            if record.source == SERIES_SOURCE:
                export.add(record)
            else:
                export.learn(record)
    return export.summary


def monthly_totals(records: Iterable[Record], zones: Mapping[str, str] | None = None) -> MonthlyTotals:
    """Monthly sums of every `meter_data` record in `records` (streaming; the others only teach zones)."""
    reader = PageReader(zones)
    if isinstance(records, Sequence):
        for record in records:
            reader.learn(record)
    totals = MonthlyTotals()
    for record in records:
        if record.source != SERIES_SOURCE:
            reader.learn(record)
            continue
        table = reader.table(record)
        if table is not None:
            totals.add(table, reader.zone(table.column("metering_point_eic")[0].as_py()), record.system)
    return totals
