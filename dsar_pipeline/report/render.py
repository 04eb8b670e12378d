"""The readable report (`report/report.html`): the person's data, system by system, for a person to read.

One self-contained HTML file: inline CSS, inline SVG charts, no script, no external resource (a
Content-Security-Policy meta tag forbids loading any), so it opens offline in any browser. Everything
a person reads is in their language: headings (`strings`), system, table and column names and
enumeration values (`labels`, from `labels.yaml`); times in the controller's time zone and dates and
numbers in the reader's format, nested values as label/value sub-tables (`display`). The machine
names stay only in `data-` attributes. Everything passes Jinja2's autoescaping: a value such as
`<script>` in a portal message is shown as text.

Layout: a table of at most `MAX_TABLE_COLUMNS` plain columns is a table; a wider one, or one with
nested values, shows each record as a label/value card, so no page scrolls sideways at 1024 pixels;
print styles break pages between systems and never inside a row or a card.

What it shows: the systems searched with their status and record counts; per system, one table per
source (redacted first, like everything in the package: agents appear as "customer service agent",
in the reader's language);
the interval series is summarised, not listed — per metering point a monthly table and a bar chart
of consumption (and production, if any) by local calendar month. Unlike the portability export,
the report also shows inferred data (credit checks): the right of access covers it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

from connectors.contract import Record
from dsar_pipeline.export.consumption import SERIES_SOURCE, MonthlyTotals, PageReader
from dsar_pipeline.export.redaction import Withheld, redact_record
from dsar_pipeline.export.streams import TextSink, staged_binary
from dsar_pipeline.export.tables import declared_sources
from dsar_pipeline.package.staging import Staging
from dsar_pipeline.report import labels
from dsar_pipeline.report.chart import build_chart
from dsar_pipeline.report.display import Display

REPORT_PATH = "report/report.html"
TEMPLATES = Path(__file__).with_name("templates")
MAX_ROWS = 5000
# More columns than this, or any nested value, and a table's rows become label/value cards: a wide
# table would make a 1024-pixel page (or a printed A4 page) scroll sideways.
MAX_TABLE_COLUMNS = 6


@dataclass
class ReportSummary:
    path: str
    systems: int = 0
    tables: int = 0
    rows: int = 0
    metering_points: int = 0
    withheld: Withheld = field(default_factory=Withheld)


@dataclass
class _Table:
    source: str
    description: str
    title: str = ""
    columns: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    nested: bool = False

    @property
    def layout(self) -> str:
        return "cards" if self.nested or len(self.columns) > MAX_TABLE_COLUMNS else "table"


def _outcome(value: Any) -> dict[str, Any]:
    """status / records / title from a mapping or an object such as `SystemResult`."""
    def get(name: str) -> Any:
        return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)

    records = get("records")
    status = get("status")
    return {"status": str(getattr(status, "value", status) or "complete"),
            "records": len(records) if isinstance(records, Sequence) else int(records or 0),
            "title": get("title")}


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """One per process: building it compiles the template again (tens of ms a request)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def write_report(records: Iterable[Record], staging: Staging, *, person_language: str,
                 systems_summary: Mapping[str, Any], request_id: str | None = None,
                 generated_at: datetime | None = None, time_zone: str = "Europe/Tallinn",
                 zones: Mapping[str, str] | None = None, max_rows: int = MAX_ROWS,
                 monthly: MonthlyTotals | None = None) -> ReportSummary:
    """Write `report/report.html` for `records` (the released records of one person).

    `systems_summary`: system -> {status, records, title?} (or a `SystemResult`), every system
    searched in display order. `time_zone` is the zone times are shown in (the controller's).
    `monthly`: the export's monthly totals (`ExportSummary.series.monthly`); given, the series pages
    are not converted a second time. System, table and column names, enumeration values and times
    are shown in `person_language` (`labels`, `display`); the machine names stay in `data-` attributes.
    """
    fmt = Display(person_language, time_zone)
    summary = ReportSummary(REPORT_PATH)
    reader = PageReader(zones)
    totals = monthly if monthly is not None else MonthlyTotals()
    if isinstance(records, Sequence):
        for record in records:
            reader.learn(record)
    tables: dict[str, dict[str, _Table]] = {name: {} for name in systems_summary}
    categories: dict[tuple[str, str], dict[str, str]] = {}
    for record in records:
        if record.source == SERIES_SOURCE:
            table = reader.table(record) if monthly is None else None
            if table is not None:
                totals.add(table, reader.zone(table.column("metering_point_eic")[0].as_py()), record.system)
            tables.setdefault(record.system, {})
            continue
        reader.learn(record)
        redacted = redact_record(record, summary.withheld)
        per_system = tables.setdefault(record.system, {})
        table = per_system.get(record.source)
        if table is None:
            table = per_system[record.source] = _Table(record.source, "")
            table.title = labels.source_title(record.system, record.source, fmt.language)
        known = categories.setdefault((record.system, record.source), {})
        for name in redacted.fields:
            if name not in known:
                known[name] = redacted.categories.get(name, "")
                table.columns.append(name)
                table.labels[name] = labels.field_label(record.system, record.source, name, fmt.language)
        table.total += 1
        if len(table.rows) < max_rows:
            row = {n: fmt.cell(v, redacted.categories.get(n, ""), record.system, record.source, n)
                   for n, v in redacted.fields.items()}
            table.nested = table.nested or any("text" not in c for c in row.values())
            table.rows.append(row)
    for owner in totals.systems.values():
        tables.setdefault(owner, {})
    systems = []
    for system, per_system in tables.items():
        outcome = _outcome(systems_summary.get(system, {"status": "complete", "records": 0}))
        declared = declared_sources(system) or {}
        ordered = [per_system[s] for s in declared if s in per_system]
        ordered += [t for s, t in per_system.items() if s not in declared]
        for table in ordered:
            table.description = labels.source_description(system, table.source, fmt.language) or (
                declared[table.source].description if table.source in declared else "")
            order = list(getattr(declared.get(table.source), "fields", {}) or {})
            table.columns = [c for c in order if c in table.columns] + [c for c in table.columns if c not in order]
            summary.tables += 1
            summary.rows += table.total
        title = labels.system_title(system, fmt.language) or outcome["title"] or labels.readable_name(system)
        systems.append({"name": system, "anchor": f"system-{system}", "title": title,
                        "status": outcome["status"], "records": outcome["records"], "tables": ordered,
                        "meters": _meters(totals, system, fmt)})
    summary.systems = len(systems)
    summary.metering_points = len(totals.totals)
    moment = generated_at or datetime.now(UTC)
    context = {"t": fmt.text, "lang": fmt.language, "request_id": request_id, "generated": fmt.moment(moment),
               "time_zone": fmt.zone_name, "systems": systems, "withheld": bool(summary.withheld), "max_rows": max_rows}
    template = _environment().get_template("report.html.j2")
    with staged_binary(staging, REPORT_PATH) as out:
        sink = TextSink(out)
        for piece in template.generate(**context):
            sink.write(piece)
    return summary


def _meters(totals: MonthlyTotals, system: str, fmt: Display) -> list[dict[str, Any]]:
    """Per metering point whose series `system` held: its monthly table and chart."""
    meters = []
    for eic, series in sorted(totals.totals.items()):
        if totals.systems.get(eic) != system:
            continue
        months = totals.months(eic)
        directions = [d for d in ("consumption", "production") if d in series]
        rows = []
        for month in months:
            values = {d: series[d].get(month) for d in directions}
            rows.append({"month": fmt.month(month), "key": month,
                         "values": {d: fmt.kwh(v) if v is not None else fmt.text["empty"] for d, v in values.items()}})
        sums = {d: fmt.kwh(sum(series[d].values(), Decimal(0))) for d in directions}
        chart = build_chart(series, months, fmt.kwh, fmt.month, fmt.axis)
        meters.append({"eic": eic, "zone": totals.zones.get(eic, ""), "directions": directions, "rows": rows,
                       "sums": sums, "chart": chart, "anchor": f"meter-{eic}"})
    return meters
