"""Record values as JSON values, CSV cells and JSON Schema types, one rule for all three.

Connectors hand over Python values (`date`, aware `datetime`, `Decimal`, `bool`, `int`, `str`,
lists and dicts from APIs). The export writes them so that any reader gets them back exactly:
- dates `YYYY-MM-DD`, datetimes ISO 8601 with their offset (UTC written `...Z`);
- decimals as strings (`"12.50"`, never a binary float: money and kWh stay exact);
- booleans `true`/`false`, null as JSON `null` and as an empty CSV cell;
- nested values (transcripts, a meter's technical attributes) as JSON, and in CSV as JSON text.
The `kind` of each value is recorded while writing, so the schema and the data dictionary describe
what was actually written.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "null": {"type": "null"},
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "decimal": {"type": "string", "pattern": DECIMAL_PATTERN},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
    "local-date-time": {"type": "string"},
    "time": {"type": "string", "format": "time"},
    "duration": {"type": "string", "format": "duration"},
    "base64": {"type": "string", "contentEncoding": "base64"},
    "string": {"type": "string"},
    "array": {"type": "array"},
    "object": {"type": "object"},
}
KIND_ORDER = list(KIND_SCHEMAS)


def iso_datetime(value: datetime) -> str:
    """ISO 8601; UTC as `Z`; a naive value (none should reach us) stays without an offset."""
    if value.tzinfo is not None and value.utcoffset() == timedelta(0):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def kind(value: Any) -> str:
    """The schema kind of a value as `json_value` writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "string"
    if isinstance(value, Decimal):
        return "decimal" if value.is_finite() else "string"
    if isinstance(value, datetime):
        return "date-time" if value.tzinfo is not None else "local-date-time"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    if isinstance(value, timedelta):
        return "duration"
    if isinstance(value, bytes | bytearray):
        return "base64"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple | set | frozenset):
        return "array"
    return "string"


def json_value(value: Any) -> Any:
    """A value JSON can carry exactly (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _iso_duration(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((json_value(v) for v in value), key=str)
    return str(value)


def csv_cell(value: Any) -> str:
    """The text of one CSV cell: empty for null, `true`/`false`, nested values as compact JSON."""
    converted = json_value(value)
    if converted is None:
        return ""
    if isinstance(converted, bool):
        return "true" if converted else "false"
    if isinstance(converted, list | dict):
        return dumps(converted)
    return str(converted)


def dumps(value: Any) -> str:
    """Compact UTF-8 JSON text of an already JSON-ready value."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def schema_for(kinds: Iterable[str]) -> dict[str, Any]:
    """JSON Schema of a field that took these kinds (integer folds into number when both occur)."""
    seen = set(kinds)
    if {"integer", "number"} <= seen:
        seen.discard("integer")
    ordered = [k for k in KIND_ORDER if k in seen]
    if not ordered:
        return {}
    if len(ordered) == 1:
        return dict(KIND_SCHEMAS[ordered[0]])
    return {"anyOf": [dict(KIND_SCHEMAS[k]) for k in ordered]}


def type_label(kinds: Iterable[str]) -> tuple[str, bool]:
    """(type for the data dictionary, nullable): `decimal`, `date-time|string`, ..."""
    seen = set(kinds)
    nullable = "null" in seen
    seen.discard("null")
    if {"integer", "number"} <= seen:
        seen.discard("integer")
    ordered = [k for k in KIND_ORDER if k in seen]
    nested = {"array": "json (array)", "object": "json (object)"}
    return "|".join(nested.get(k, k) for k in ordered) or "empty", nullable


def _iso_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    sign = "-" if seconds < 0 else ""
    return f"{sign}PT{abs(seconds):g}S"
