"""The machine-readable portability export (Art. 20): JSON per system, CSV per table, a data dictionary.

Layout inside the package:
    export/json/<system>.json            every exported record of the system, grouped by source
    export/schema/<system>.schema.json   JSON Schema (draft 2020-12) of that file
    export/csv/<system>/<source>.csv     one table per source (UTF-8, RFC 4180, header row)
    export/csv/avp/consumption.csv       the interval series, one row per interval (`consumption`)
    export/parquet/consumption.parquet   the same series as Parquet
    export/data-dictionary.json / .csv   every CSV column: description, type, data category; the rules

What is in it and what is not (provided and observed data in; inferred data and other people's
data out) is decided in `export_tables` and written into the data dictionary; values are written
as `export_values` says (ISO 8601 times, decimals as strings, nested values as JSON). Records pass
through `redaction.redact_record` first, so nothing of an agent or another person gets in.

Memory: the interval series, which is what grows (a million rows for 10 meters × 3 years), is
converted and written page by page as the records stream past. The other records are grouped by
system and source so that each JSON file can list its tables in turn: the grouping keeps references
to the records the caller already holds (kilobytes each, thousands per person at most), and each
table is then written in one pass with at most two staged files open (the system's JSON file and
the table's CSV). Pass `records` as a list when it is one: it is scanned once more beforehand so
that every metering point's time zone is known before its series is written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.contract import Record, Source
from dsar_pipeline.export.consumption import SERIES_SOURCE, ConsumptionExport, SeriesSummary
from dsar_pipeline.export.dictionary import (
    FORMAT,
    TableResult,
    dictionary,
    json_path,
    schema_path,
    system_schema,
    write_dictionary,
)
from dsar_pipeline.export.redaction import Withheld, redact_record
from dsar_pipeline.export.streams import TextSink, staged_binary
from dsar_pipeline.export.tables import check_name, declared_sources, plan_table
from dsar_pipeline.export.values import csv_cell, dumps, json_value, kind
from dsar_pipeline.package.staging import Staging

Declarations = Mapping[str, Mapping[str, Source]]


@dataclass
class ExportSummary:
    """What the export wrote (names, counts; no values): for the manifest, the letter and the DPO."""

    files: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # CSV path -> rows
    records: dict[str, int] = field(default_factory=dict)  # system -> records in its JSON file
    series: SeriesSummary = field(default_factory=SeriesSummary)
    left_out: list[dict[str, Any]] = field(default_factory=list)  # tables/columns not exported, with why
    withheld: Withheld = field(default_factory=Withheld)


def write_export(records: Iterable[Record], staging: Staging, *, systems: Mapping[str, str],
                 zones: Mapping[str, str] | None = None, declarations: Declarations | None = None,
                 language: str = "en", electricity_supplier: bool = True) -> ExportSummary:
    """Write the portability export of `records` (the released records of one person) into `staging`.

    `systems`: every system searched (system -> title), in the order the files should list them; a
    system without records still gets its (empty) JSON file, saying it held nothing exportable.
    `zones`: metering point EIC -> IANA zone, when known beyond what the records say.
    `declarations`: system -> its sources, instead of the connectors' own declarations (tests).
    `language`: the request's; the data dictionary's human-readable parts are written in it.
    `electricity_supplier`: the controller's; the dictionary names categories as its letter does.
    """
    summary = ExportSummary()
    groups: dict[str, dict[str, list[Record]]] = {name: {} for name in systems}
    series_systems: list[str] = []
    with ConsumptionExport(staging, zones) as series:
        if isinstance(records, Sequence):
            for record in records:
                series.learn(record)
        for record in records:
            if record.source == SERIES_SOURCE:
                series.add(record)
                if record.system not in series_systems:
                    series_systems.append(record.system)
                groups.setdefault(record.system, {})
                continue
            series.learn(record)
            groups.setdefault(record.system, {}).setdefault(record.source, []).append(record)
    summary.series = series.summary
    summary.files.extend(series.summary.files)

    tables: list[TableResult] = []
    titles: dict[str, str] = {}
    for system, sources in groups.items():
        check_name(system, "system")
        titles[system] = systems.get(system, system)
        declared = declarations.get(system) if declarations is not None else declared_sources(system)
        order = [s for s in (declared or {}) if s in sources] + [s for s in sources if s not in (declared or {})]
        results = _write_system(staging, system, titles[system], [(s, sources[s]) for s in order],
                                declared or {}, system in series_systems and summary.series.rows > 0, summary)
        tables.extend(results)
    series_rows = summary.series.rows if summary.series.files else None
    content = dictionary(tables, titles, series_rows, summary.left_out, language=language,
                         electricity_supplier=electricity_supplier)
    summary.files.extend(write_dictionary(staging, content))
    return summary


def _write_system(staging: Staging, system: str, title: str, sources: list[tuple[str, list[Record]]],
                  declared: Mapping[str, Source], series: bool, summary: ExportSummary) -> list[TableResult]:
    results: list[TableResult] = []
    exported = 0
    with staged_binary(staging, json_path(system)) as out:
        out.write(f'{{"format":{dumps(FORMAT)},"system":{dumps(system)},"title":{dumps(title)},"sources":{{'.encode())
        first_table = True
        for source, records in sources:
            plan = plan_table(system, source, records, declared.get(source))
            result = TableResult(plan)
            results.append(result)
            for column, reason in plan.dropped.items():
                summary.left_out.append({"system": system, "source": source, "column": column, "reason": reason})
            if plan.left_out:
                summary.left_out.append({"system": system, "source": source, "records": len(records),
                                         "reason": plan.left_out})
                continue
            head = f'{"" if first_table else ","}\n{dumps(source)}:{{"description":{dumps(plan.description or source)}'
            out.write(f'{head},"csv":{dumps(plan.csv_path)},"records":['.encode())
            first_table = False
            _write_table(staging, plan.csv_path, records, result, out, summary.withheld)
            out.write(b"\n]}")
            exported += result.rows
            summary.tables[plan.csv_path] = result.rows
            summary.files.append(plan.csv_path)
        out.write(b"\n}")
        if series:
            reference = {"csv": summary.series.files[0], "parquet": summary.series.files[1],
                         "rows": summary.series.rows, "metering_points": summary.series.metering_points}
            out.write(f',"series":{{"consumption":{dumps(json_value(reference))}}}'.encode())
        out.write(b"}\n")
    summary.files.append(json_path(system))
    summary.records[system] = exported
    schema = system_schema(system, title, [r for r in results if not r.plan.left_out], series)
    with staged_binary(staging, schema_path(system)) as out:
        out.write(json.dumps(schema, ensure_ascii=False, indent=2).encode("utf-8"))
    summary.files.append(schema_path(system))
    return results


def _write_table(staging: Staging, path: str, records: list[Record], result: TableResult, json_out: Any,
                 withheld: Withheld) -> None:
    """One table: each record redacted once, then written as a CSV row and a JSON object."""
    columns = result.plan.columns
    kinds = result.kinds
    for column in columns:
        kinds.setdefault(column, set())
    with staged_binary(staging, path) as out:
        writer = csv.writer(TextSink(out))
        writer.writerow(columns)
        for index, record in enumerate(records):
            fields = redact_record(record, withheld).fields
            row = []
            item = {}
            for column in columns:
                if column in fields:
                    value = fields[column]
                    kinds[column].add(kind(value))
                    item[column] = json_value(value)
                    row.append(csv_cell(value))
                else:
                    result.absent.add(column)
                    row.append("")
            writer.writerow(row)
            json_out.write(f'{"" if index == 0 else ","}\n{dumps(item)}'.encode())
            result.rows += 1
