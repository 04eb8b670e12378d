"""Retention findings: records held longer than the controller's retention schedule allows.

Connectors tag each source with a retention rule (a key below) and each record with the date the
period counts from (`Record.event_date`: a contract's end, an invoice's date, a call's start).
The controller profile gives each rule its period. Such records are still disclosed to the
person (data held is data held) and flagged for the DPO.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from connectors.contract import Record
from connectors.retention_rules import RULES  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Period:
    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def ends(self, start: date) -> date:
        """The last day of the period that starts on `start` (calendar years/months, then days)."""
        month_index = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, _days_in_month(year, month))
        return date(year, month, day) + timedelta(days=self.days + self.hours // 24)


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


@dataclass(frozen=True)
class RetentionFinding:
    system: str
    source: str
    key: str
    rule: str
    event_date: date
    expired_on: date


def retention_findings(records: list[Record], rules_of_source: Mapping[tuple[str, str], str],
                       periods: Mapping[str, Period], today: date) -> list[RetentionFinding]:
    """Records whose period under their source's rule ended before `today`."""
    findings = []
    for record in records:
        rule = rules_of_source.get((record.system, record.source))
        if rule is None or rule not in periods or record.event_date is None:
            continue
        expires = periods[rule].ends(record.event_date)
        if expires < today:
            findings.append(RetentionFinding(record.system, record.source, record.key, rule,
                                             record.event_date, expires))
    return findings
