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

from dsar_pipeline.export import consumption
from dsar_pipeline.export import dictionary_language as language_of
from dsar_pipeline.export.streams import TextSink, staged_binary
from dsar_pipeline.export.tables import TablePlan, column_description
from dsar_pipeline.export.values import schema_for, type_label
from dsar_pipeline.package.staging import Staging
from dsar_pipeline.report import labels

FORMAT = "dsar-export/1"
DICTIONARY_JSON = "export/data-dictionary.json"
DICTIONARY_CSV = "export/data-dictionary.csv"
SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
SERIES_CATEGORY = "user.energy.consumption_series"


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


def column_entry(plan: TablePlan, column: str, kinds: set[str], absent: bool = False,
                 language: str = "en", *, electricity_supplier: bool = True) -> dict[str, Any]:
    """One column: its machine name, type and category key, and in `language` its label (the report's),
    description and category name."""
    category = plan.categories[column]
    type_name, nullable = type_label(kinds)
    nullable = nullable or absent
    label = labels.field_label(plan.system, plan.source, column, language)
    category_label = language_of.category_label(category, language, electricity_supplier=electricity_supplier)
    if labels.base_language(language) == "en":
        description = column_description(column, category)
    elif label.casefold() in category_label.casefold():
        description = category_label[:1].upper() + category_label[1:]
    else:
        description = f"{label} ({category_label})"
    return {"name": column, "label": label, "description": description, "type": type_name,
            "nullable": nullable, "category": category, "category_label": category_label}


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


def consumption_entry(rows: int, language: str = "en", *, electricity_supplier: bool = True) -> list[dict[str, Any]]:
    """The consumption files' entries: fixed columns of Regulation (EU) 2023/1162's object."""
    columns = []
    for name in consumption.COLUMNS:
        category = "user.energy.metering_point_id" if name == "metering_point_eic" else SERIES_CATEGORY
        description = language_of.text("consumption_columns", name, language)
        columns.append({"name": name, "label": description, "description": description,
                        "type": consumption.TYPES.get(name, "string"), "nullable": False, "category": category,
                        "category_label": language_of.category_label(
                            category, language, electricity_supplier=electricity_supplier)})
    entry = {"path": consumption.CSV_PATH, "system": "avp", "source": "consumption", "rows": rows,
             "title": labels.source_title("avp", "meter_data", language),
             "description": language_of.text("consumption_files", "csv", language), "columns": columns}
    parquet = {**entry, "path": consumption.PARQUET_PATH,
               "description": language_of.text("consumption_files", "parquet", language)}
    return [entry, parquet]


def dictionary(tables: list[TableResult], json_files: Mapping[str, str], series_rows: int | None,
               left_out: list[dict[str, Any]], language: str = "en", *,
               electricity_supplier: bool = True) -> dict[str, Any]:
    """The data dictionary; its human-readable parts in `language` (the request's), the keys as they are.
    `electricity_supplier`: the controller's (profile); category names follow the letter's."""
    files = []
    for table in tables:
        plan = table.plan
        if plan.left_out:
            continue
        description = labels.source_description(plan.system, plan.source, language)
        files.append({"path": plan.csv_path, "system": plan.system, "source": plan.source,
                      "title": labels.source_title(plan.system, plan.source, language),
                      "description": description or plan.description or plan.source, "rows": table.rows,
                      "columns": [column_entry(plan, c, table.kinds.get(c, set()), c in table.absent, language,
                                               electricity_supplier=electricity_supplier)
                                  for c in plan.columns]})
    if series_rows is not None:
        files.extend(consumption_entry(series_rows, language, electricity_supplier=electricity_supplier))
    return {"format": FORMAT, "language": labels.base_language(language),
            "rules": language_of.section("rules", language), "csv": language_of.section("csv", language),
            "json": [{"path": json_path(s), "system": s,
                      "title": labels.system_title(s, language) or t, "schema": schema_path(s)}
                     for s, t in json_files.items()],
            "files": files,
            "left_out": [{**entry, "reason": language_of.reason(entry["reason"], language)} for entry in left_out]}


def write_dictionary(staging: Staging, content: dict[str, Any]) -> list[str]:
    with staged_binary(staging, DICTIONARY_JSON) as out:
        out.write(json.dumps(content, ensure_ascii=False, indent=2).encode("utf-8"))
    with staged_binary(staging, DICTIONARY_CSV) as out:
        writer = csv.writer(TextSink(out))
        writer.writerow(["file", "column", "label", "description", "type", "nullable", "category", "category_label"])
        for entry in content["files"]:
            for column in entry["columns"]:
                writer.writerow([entry["path"], column["name"], column["label"], column["description"], column["type"],
                                 "true" if column["nullable"] else "false", column["category"],
                                 column["category_label"]])
    return [DICTIONARY_JSON, DICTIONARY_CSV]
