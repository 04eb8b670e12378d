"""One Python type per column whatever the back end: SQLite hands back text and REAL, PostgreSQL typed values.

SQLite stores dates as `YYYY-MM-DD`, timestamps as `YYYY-MM-DD HH:MM:SS.ffffff` in UTC without an
offset, money as REAL and flags as 0/1 (see the billing schema docs); PostgreSQL returns `date`,
aware `datetime`, `Decimal` and `bool`. Records carry `date`, aware UTC `datetime`, `Decimal`
rounded to the column's scale, `bool`, `int` and `str`, so the export is the same from either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Converter = Callable[[Any], Any]


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def integer(value: Any) -> int | None:
    return None if value is None else int(value)


def flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def timestamp(value: Any) -> datetime | None:
    """Aware UTC datetime; SQLite's offset-less text is UTC by the schema's definition."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def decimal(places: int) -> Converter:
    """Exact decimal with `places` digits; a REAL goes through its shortest repr, not its binary value."""
    quantum = Decimal(1).scaleb(-places)

    def convert(value: Any) -> Decimal | None:
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
        return number.quantize(quantum)

    return convert


money = decimal(2)
