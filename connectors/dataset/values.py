"""The Python type of each field's values, from fideslang's `data_type` or our `dsar.type`.

The converters are shared (`connectors.sql.values`): one type per column whatever the back
end, so a record reads the same from PostgreSQL, MariaDB and SQLite.
"""

from __future__ import annotations

from typing import Any

from connectors.dataset.extensions import FieldExtension
from connectors.sql import values as v

Converter = v.Converter


def as_is(value: Any) -> Any:
    return value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


BY_DATA_TYPE: dict[str | None, Converter] = {
    "string": v.text, "integer": v.integer, "float": _float, "boolean": v.flag,
    "object_id": v.text, "object": as_is, None: as_is,
}


def converter(data_type: str | None, extension: FieldExtension) -> Converter:
    """How to read one field; array types (`string[]`) are passed through as the driver returns them."""
    if extension.type == "date":
        return v.day
    if extension.type == "timestamp":
        return v.timestamp
    if extension.type == "decimal":
        return v.decimal(2 if extension.scale is None else extension.scale)
    if data_type and data_type.endswith("[]"):
        return as_is
    return BY_DATA_TYPE.get(data_type, as_is)
