"""The export's self-description: a JSON Schema per system file and the data dictionary.

The schema of `export/json/<system>.json` is JSON Schema draft 2020-12: every source is an object
with a `description` and its `records`, each record an object whose properties are the exported
columns (`additionalProperties: false`), typed from the values actually written, each with a
`description` and the non-validating annotation `x-data-category` (the data category). The data
dictionary (`export/data-dictionary.json`, and the same columns readable as
`export/data-dictionary.csv`) lists every CSV file's columns with description, type, nullability
and data category, the rules of what is and is not in the export, and what was left out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.categories import CATEGORIES
from dsar_pipeline.export import consumption
from dsar_pipeline.export.streams import TextSink, staged_binary
from dsar_pipeline.export.tables import RULE_TEXT, TablePlan, column_description
from dsar_pipeline.export.values import schema_for, type_label
from dsar_pipeline.package.staging import Staging

FORMAT = "dsar-export/1"
DICTIONARY_JSON = "export/data-dictionary.json"
DICTIONARY_CSV = "export/data-dictionary.csv"
SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
SERIES_CATEGORY = "user.energy.consumption_series"
CSV_CONVENTIONS = {
    "encoding": "UTF-8 without byte order mark",
    "format": "RFC 4180: comma-separated, header row, CRLF line ends, double quotes around fields that need them "
              "(the consumption file quotes every text field)",
    "null": "empty field",
    "booleans": "true / false",
    "dates": "ISO 8601: YYYY-MM-DD; times with their UTC offset, UTC written with Z",
    "decimals": "decimal point, no thousands separator, exact (money and kWh are never rounded by the export)",
    "nested": "lists and objects (e.g. chat transcripts) as JSON text",
    "types": "string, integer, number, decimal (exact, as text), boolean, date, date-time, json (array|object); "
             "a|b when values of both kinds occur; empty when the column holds no value for you",
}


def schema_path(system: str) -> str:
    return f"export/schema/{system}.schema.json"


def json_path(system: str) -> str:
    return f"export/json/{system}.json"


@dataclass
class TableResult:
    """A table as written: its plan, rows, and the kinds of value seen per column."""

    plan: TablePlan
    rows: int = 0
    kinds: dict[str, set[str]] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)  # columns some record did not carry (empty CSV cell)


def column_entry(plan: TablePlan, column: str, kinds: set[str], absent: bool = False) -> dict[str, Any]:
    category = plan.categories[column]
    type_name, nullable = type_label(kinds)
    nullable = nullable or absent
    return {"name": column, "description": column_description(column, category), "type": type_name,
            "nullable": nullable, "category": category, "category_label": CATEGORIES.get(category, category)}


def system_schema(system: str, title: str, tables: list[TableResult], series: bool) -> dict[str, Any]:
    """JSON Schema (2020-12) of one system's JSON file."""
    sources: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    for table in tables:
        plan = table.plan
        properties = {}
        for column in plan.columns:
            entry = column_entry(plan, column, table.kinds.get(column, set()))
            properties[column] = {**schema_for(table.kinds.get(column, set())), "description": entry["description"],
                                  "x-data-category": entry["category"]}
        defs[plan.source] = {"type": "object", "description": f"one record of {plan.source}",
                             "properties": properties, "additionalProperties": False}
        sources[plan.source] = {
            "type": "object", "description": plan.description or plan.source,
            "properties": {"description": {"type": "string"},
                           "csv": {"const": plan.csv_path},
                           "records": {"type": "array", "items": {"$ref": f"#/$defs/{plan.source}"}}},
            "required": ["description", "csv", "records"], "additionalProperties": False}
    properties: dict[str, Any] = {
        "format": {"const": FORMAT},
        "system": {"const": system},
        "title": {"type": "string"},
        "sources": {"type": "object", "properties": sources, "additionalProperties": False},
    }
    if series:
        properties["series"] = {"type": "object", "properties": {"consumption": {
            "type": "object", "description": "where the interval series is (not repeated in this file)",
            "properties": {"csv": {"const": consumption.CSV_PATH}, "parquet": {"const": consumption.PARQUET_PATH},
                           "rows": {"type": "integer", "minimum": 0},
                           "metering_points": {"type": "object"}},
            "required": ["csv", "parquet", "rows", "metering_points"], "additionalProperties": False}},
            "additionalProperties": False}
    return {"$schema": SCHEMA_DRAFT, "title": f"{title}: your data (portability export)",
            "description": "Records grouped by table (source); values: ISO 8601 dates and times, decimals as "
                           "strings, nested values as JSON.",
            "type": "object", "properties": properties, "required": ["format", "system", "title", "sources"],
            "additionalProperties": False, "$defs": defs}


def consumption_entry(rows: int) -> list[dict[str, Any]]:
    """The consumption files' entries: fixed columns of Regulation (EU) 2023/1162's object."""
    columns = []
    for name in consumption.COLUMNS:
        category = "user.energy.metering_point_id" if name == "metering_point_eic" else SERIES_CATEGORY
        columns.append({"name": name, "description": consumption.DESCRIPTIONS[name],
                        "type": consumption.TYPES.get(name, "string"), "nullable": False, "category": category,
                        "category_label": CATEGORIES[category]})
    entry = {"path": consumption.CSV_PATH, "system": "avp", "source": "consumption", "rows": rows,
             "description": "validated historical data (Regulation (EU) 2023/1162): one row per interval",
             "columns": columns}
    parquet = {**entry, "path": consumption.PARQUET_PATH,
               "description": "the same rows as Parquet: times as timestamp (UTC), quantity as decimal(12,3)"}
    return [entry, parquet]


def dictionary(tables: list[TableResult], json_files: Mapping[str, str], series_rows: int | None,
               left_out: list[dict[str, Any]]) -> dict[str, Any]:
    files = []
    for table in tables:
        if table.plan.left_out:
            continue
        files.append({"path": table.plan.csv_path, "system": table.plan.system, "source": table.plan.source,
                      "description": table.plan.description or table.plan.source, "rows": table.rows,
                      "columns": [column_entry(table.plan, c, table.kinds.get(c, set()), c in table.absent)
                                  for c in table.plan.columns]})
    if series_rows is not None:
        files.extend(consumption_entry(series_rows))
    return {"format": FORMAT, "rules": RULE_TEXT, "csv": CSV_CONVENTIONS,
            "json": [{"path": json_path(s), "system": s, "title": t, "schema": schema_path(s)}
                     for s, t in json_files.items()],
            "files": files, "left_out": left_out}


def write_dictionary(staging: Staging, content: dict[str, Any]) -> list[str]:
    with staged_binary(staging, DICTIONARY_JSON) as out:
        out.write(json.dumps(content, ensure_ascii=False, indent=2).encode("utf-8"))
    with staged_binary(staging, DICTIONARY_CSV) as out:
        writer = csv.writer(TextSink(out))
        writer.writerow(["file", "column", "description", "type", "nullable", "category", "category_label"])
        for entry in content["files"]:
            for column in entry["columns"]:
                writer.writerow([entry["path"], column["name"], column["description"], column["type"],
                                 "true" if column["nullable"] else "false", column["category"],
                                 column["category_label"]])
    return [DICTIONARY_JSON, DICTIONARY_CSV]
