"""Interval rows held as columns: what a meter-data page costs in memory, ~28 bytes a row.

A page of the hub has ~3,000 intervals; three years of ten quarter-hourly meters are a million rows.
As Python lists of strings (`[start, resolution, direction, kwh, quality, reading_time]`) that is
~350 bytes a row — 364 MB for the large case, held by every step that loads the records. Here each
row is two epoch-second integers (start, reading time), the quantity as an integer of 10^-scale kWh
with its own scale (so `"0.043"` and `"0.0435"` both come back exactly as the hub sent them), and
one byte each for resolution, direction and quality; it pickles as those buffers.

`IntervalRows` is still a sequence of the documented rows (`rows[i]`, iteration and `==` with a list
of lists give the text form), so nothing that reads rows needs to know; the export reads `columns`
instead and builds Arrow arrays from the buffers without a Python object per row.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, overload

RESOLUTIONS = ("PT15M", "PT30M", "PT1H", "P1D")
DIRECTIONS = ("consumption", "production")
QUALITIES = ("metered", "estimated")
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CODES: Mapping[str, int] = MappingProxyType(
    {name: index for names in (RESOLUTIONS, DIRECTIONS, QUALITIES) for index, name in enumerate(names)})
HUB_SCALE = 3  # the hub's quantities have exactly three decimals
MAX_SCALE = 9  # with MAX_KWH, every quantity fits an int64 of 10^-scale kWh
MAX_KWH = 10**9

Row = list[str]


@dataclass(frozen=True, slots=True)
class SeriesColumns:
    """The columns as buffers, for building Arrow arrays without a Python object per row."""

    starts: array  # int64 epoch seconds (UTC)
    readings: array  # int64 epoch seconds (UTC)
    amounts: array  # int64 quantity in 10^-scale kWh
    scales: bytes  # decimals of each quantity
    resolutions: bytes  # index into RESOLUTIONS
    directions: bytes  # index into DIRECTIONS
    qualities: bytes  # index into QUALITIES


class IntervalRows(Sequence[Row]):
    """An immutable sequence of interval rows, stored column-wise (see the module docstring)."""

    __slots__ = ("_columns",)

    def __init__(self, columns: SeriesColumns) -> None:
        self._columns = columns

    @property
    def columns(self) -> SeriesColumns:
        return self._columns

    def __len__(self) -> int:
        return len(self._columns.starts)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("interval row index out of range")
        return self._row(index)

    def __iter__(self) -> Iterator[Row]:
        return (self._row(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IntervalRows):
            return self._columns == other._columns
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and all(a == list(b) for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IntervalRows({len(self)} rows)"  # never the values: they are personal data

    def __reduce__(self) -> tuple[Any, ...]:
        return (IntervalRows, (self._columns,))

    def _row(self, i: int) -> Row:
        c = self._columns
        return [_utc_text(c.starts[i]), RESOLUTIONS[c.resolutions[i]], DIRECTIONS[c.directions[i]],
                _decimal_text(c.amounts[i], c.scales[i]), QUALITIES[c.qualities[i]], _utc_text(c.readings[i])]


class IntervalRowsBuilder:
    """Appends rows, already checked, as numbers (`append`) or in the text form (`append_text`:
    UTC `YYYY-MM-DDTHH:MM:SSZ`, a non-negative fixed-point quantity, names from the tuples above);
    a quantity must have at most `MAX_SCALE` decimals and be below `MAX_KWH`. `build()` freezes them."""

    def __init__(self) -> None:
        self._starts, self._readings, self._amounts = array("q"), array("q"), array("q")
        self._scales, self._resolutions = bytearray(), bytearray()
        self._directions, self._qualities = bytearray(), bytearray()

    def append(self, start_s: int, resolution: int, direction: int, amount: int, scale: int, quality: int,
               reading_s: int) -> None:
        """One row: epoch seconds, codes (indexes into the tuples above) and the quantity as
        `amount` x 10^-`scale` kWh."""
        if amount < 0 or scale > MAX_SCALE or amount >= MAX_KWH * 10**scale:
            raise ValueError("interval quantity out of the range rows can hold")
        self._starts.append(start_s)
        self._readings.append(reading_s)
        self._amounts.append(amount)
        self._scales.append(scale)
        self._resolutions.append(resolution)
        self._directions.append(direction)
        self._qualities.append(quality)

    def append_text(self, start_utc: str, resolution: str, direction: str, kwh: str, quality: str,
                    reading_utc: str) -> None:
        whole, _, decimals = kwh.partition(".")
        codes = CODES
        self.append(epoch_seconds(start_utc), codes[resolution], codes[direction], int(whole + decimals),
                    len(decimals), codes[quality], epoch_seconds(reading_utc))

    def build(self) -> IntervalRows:
        return IntervalRows(SeriesColumns(self._starts, self._readings, self._amounts, bytes(self._scales),
                                          bytes(self._resolutions), bytes(self._directions), bytes(self._qualities)))


def epoch_seconds(utc_text: str) -> int:
    return int(datetime.fromisoformat(utc_text).timestamp())


def interval_rows(rows: Sequence[Sequence[str]]) -> IntervalRows:
    """Rows in the text form, compacted (e.g. for tests and synthetic inputs)."""
    builder = IntervalRowsBuilder()
    for row in rows:
        builder.append_text(*row[:6])
    return builder.build()


def _utc_text(seconds: int) -> str:
    return time.strftime(UTC_FORMAT, time.gmtime(seconds))


def _decimal_text(amount: int, scale: int) -> str:
    if scale == 0:
        return str(amount)
    whole, fraction = divmod(amount, 10**scale)
    return f"{whole}.{fraction:0{scale}d}"
