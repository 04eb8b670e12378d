"""The readable report (`report/report.html`): the person's data, system by system, for a person to read.

One self-contained HTML file: inline CSS, inline SVG charts, no script, no external resource (a
Content-Security-Policy meta tag forbids loading any), so it opens offline in any browser. Headings
are in the person's language (`report_strings`); values are shown as held, dates and numbers in
the person's locale (Babel). Everything passes Jinja2's autoescaping: a value such as `<script>` in
a portal message is shown as text.

What it shows: the systems searched with their status and record counts; per system, one table per
source (redacted first, like everything in the package: agents appear as "customer service agent");
the interval series is summarised, not listed — per metering point a monthly table and a bar chart
of consumption (and production, if any) by local calendar month. Unlike the portability export,
the report also shows inferred data (credit checks): the right of access covers it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from connectors.contract import Record
from dsar_pipeline.export.consumption import SERIES_SOURCE, MonthlyTotals, PageReader
from dsar_pipeline.export.redaction import AGENT_SPEAKER, OTHER_SPEAKER, STAFF, Withheld, redact_record
from dsar_pipeline.export.streams import TextSink, staged_binary
from dsar_pipeline.export.tables import declared_sources
from dsar_pipeline.export.values import dumps, json_value
from dsar_pipeline.package.staging import Staging
from dsar_pipeline.report.chart import build_chart
from dsar_pipeline.report.strings import strings

REPORT_PATH = "report/report.html"
TEMPLATES = Path(__file__).with_name("templates")
MAX_ROWS = 5000
AGENT_WORDS = {"en": "customer service agent", "et": "klienditeenindaja", "lv": "klientu apkalpošanas speciālists",
               "ru": "специалист по обслуживанию клиентов"}
OTHER_WORDS = {"en": "other person", "et": "teine isik", "lv": "cita persona", "ru": "другое лицо"}
OWN_WORDS = {
    "customer": {"en": "you", "et": "teie", "lv": "jūs", "ru": "вы"},
    "bot": {"en": "chatbot", "et": "vestlusrobot", "lv": "tērzēšanas robots", "ru": "чат-бот"},
}


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
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def _outcome(value: Any) -> dict[str, Any]:
    """status / records / title from a mapping or an object such as `SystemResult`."""
    def get(name: str) -> Any:
        return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)

    records = get("records")
    status = get("status")
    return {"status": str(getattr(status, "value", status) or "complete"),
            "records": len(records) if isinstance(records, Sequence) else int(records or 0),
            "title": get("title")}


class _Formatter:
    """Values as text for a person of `language`, times in `zone`."""

    def __init__(self, language: str, zone: str) -> None:
        self.language = language.split("-")[0].split("_")[0].lower()
        self.zone = ZoneInfo(zone)
        self.text = strings(self.language)
        self.locale = Locale.parse(self.language)  # parsed once: babel parses a locale name on every call

    def kwh(self, value: Decimal) -> str:
        return format_decimal(value, format="#,##0.000", locale=self.locale)

    def axis(self, value: Decimal) -> str:
        return format_decimal(value, format="#,##0.###", locale=self.locale)

    def month(self, month: str) -> str:
        year, number = month.split("-")
        return format_date(date(int(year), int(number), 1), "LLLL yyyy", locale=self.locale)

    def moment(self, value: datetime) -> str:
        if value.tzinfo is None:
            return format_datetime(value, "medium", locale=self.locale)
        return format_datetime(value, "medium", tzinfo=self.zone, locale=self.locale)

    def cell(self, value: Any, category: str) -> dict[str, Any]:
        if category == STAFF and value is not None:
            return {"text": AGENT_WORDS[self.language]}
        if value is None:
            return {"text": self.text["empty"]}
        if isinstance(value, bool):
            return {"text": self.text["yes" if value else "no"]}
        if isinstance(value, int):
            return {"text": str(value)}
        if isinstance(value, Decimal | float):
            return {"text": format_decimal(value, locale=self.locale, decimal_quantization=False)}
        if isinstance(value, datetime):
            return {"text": self.moment(value)}
        if isinstance(value, date):
            return {"text": format_date(value, "medium", locale=self.locale)}
        if isinstance(value, list) and value and all(isinstance(t, Mapping) and "text" in t for t in value):
            return {"turns": [(self.speaker(t.get("speaker")), str(t.get("text", ""))) for t in value]}
        if isinstance(value, list | dict | tuple):
            return {"text": dumps(json_value(value)), "code": True}
        return {"text": str(value)}

    def speaker(self, speaker: Any) -> str:
        if speaker == AGENT_SPEAKER:
            return AGENT_WORDS[self.language]
        if speaker == OTHER_SPEAKER:
            return OTHER_WORDS[self.language]
        if isinstance(speaker, str) and speaker.casefold() in OWN_WORDS:
            return OWN_WORDS[speaker.casefold()][self.language]
        return str(speaker) if speaker is not None else self.text["empty"]


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
    are not converted a second time.
    """
    fmt = _Formatter(person_language, time_zone)
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
        known = categories.setdefault((record.system, record.source), {})
        for name in redacted.fields:
            if name not in known:
                known[name] = redacted.categories.get(name, "")
                table.columns.append(name)
        table.total += 1
        if len(table.rows) < max_rows:
            table.rows.append({n: fmt.cell(v, redacted.categories.get(n, "")) for n, v in redacted.fields.items()})
    for owner in totals.systems.values():
        tables.setdefault(owner, {})
    systems = []
    for system, per_system in tables.items():
        outcome = _outcome(systems_summary.get(system, {"status": "complete", "records": 0}))
        declared = declared_sources(system) or {}
        ordered = [per_system[s] for s in declared if s in per_system]
        ordered += [t for s, t in per_system.items() if s not in declared]
        for table in ordered:
            if not table.description and table.source in declared:
                table.description = declared[table.source].description
            order = list(getattr(declared.get(table.source), "fields", {}) or {})
            table.columns = [c for c in order if c in table.columns] + [c for c in table.columns if c not in order]
            summary.tables += 1
            summary.rows += table.total
        systems.append({"name": system, "anchor": f"system-{system}", "title": outcome["title"] or system,
                        "status": outcome["status"], "records": outcome["records"], "tables": ordered,
                        "meters": _meters(totals, system, fmt)})
    summary.systems = len(systems)
    summary.metering_points = len(totals.totals)
    moment = generated_at or datetime.now(UTC)
    context = {"t": fmt.text, "lang": fmt.language, "request_id": request_id, "generated": fmt.moment(moment),
               "systems": systems, "withheld": bool(summary.withheld), "max_rows": max_rows}
    template = _environment().get_template("report.html.j2")
    with staged_binary(staging, REPORT_PATH) as out:
        sink = TextSink(out)
        for piece in template.generate(**context):
            sink.write(piece)
    return summary


def _meters(totals: MonthlyTotals, system: str, fmt: _Formatter) -> list[dict[str, Any]]:
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
