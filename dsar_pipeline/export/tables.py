"""Which tables and columns go into the portability export, and how each column is described.

The Art. 20 rule (the data dictionary repeats it to the person):
- Included: data the person provided (contact details, consents, messages, vehicles, the account)
  and data observed from their use of the service (meter readings, charging sessions, login
  history, payments, invoices and the contract record) — the EDPB's "provided" and "observed" data.
- Left out as inferred: data we or a third party derived by assessing the person. Here that is the
  category `user.financial.credit_check` (a credit bureau's score, our decision and its logic):
  WP242 rev.01 names credit scores as the example of inferred data. The letter (Art. 15(1)(h)) and
  the readable report still show it: the right of access covers it, portability does not.
- Left out as other people's data: every `third_party.*` field (Art. 20(4) and 15(4)); the agent
  names in transcript texts are masked (see `redaction`).
- A table is left out whole when nothing but bookkeeping (`system.operations`, `user.unique_id`)
  would remain of it.
- The meter-data pages are not a table of their own: their intervals are the consumption series
  (`consumption`), in CSV and Parquet; each system's JSON refers to those files instead of
  repeating a million intervals.

Columns are the connector's declared fields (its `Source`), in declaration order, so a table has
the same columns for every person; a source no connector declares gets the fields its records
carry, in order of first appearance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors.categories import CATEGORIES
from connectors.contract import Record, Source
from dsar_pipeline.export.redaction import THIRD_PARTY

INFERRED: dict[str, str] = {
    "user.financial.credit_check": "inferred: a credit score, the decision taken on it and its logic are derived "
                                   "by assessing the person (not provided or observed data)",
}
OTHER_PEOPLE = "other people's data (Art. 15(4), 20(4))"
BOOKKEEPING = frozenset({"system.operations", "user.unique_id"})
SERIES_SOURCES = frozenset({"meter_data"})
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

RULE_TEXT = {
    "included": "Data you provided to us and data observed from your use of our services (Art. 20 GDPR): "
                "contact details, account, consents, messages, vehicles, contracts, invoices, payments, "
                "charging sessions, login history, call and chat metadata, and your metering data.",
    "left_out_inferred": "Data derived by assessing you is not portable data and is left out of this export: "
                         "credit checks (score, decision, logic). It is shown in the readable report and explained "
                         "in the letter.",
    "left_out_other_people": "Other people's data is left out: our agents' identities are replaced by a neutral "
                             "label and their names masked in transcripts (Art. 15(4)).",
    "consumption": "Consumption and production intervals are in export/csv/avp/consumption.csv and "
                   "export/parquet/consumption.parquet (Regulation (EU) 2023/1162, validated historical data).",
}

GENERIC_FIELDS: dict[str, str] = {
    "id": "identifier of this record in the system",
    "customer_id": "your customer number with us",
    "account_id": "identifier of your app account",
    "contract_id": "identifier of the related contract",
    "invoice_id": "identifier of the related invoice",
    "debt_id": "identifier of the related debt",
    "vehicle_id": "identifier of the related vehicle",
    "created_at": "when the record was created (ISO 8601, UTC)",
}


def check_name(value: str, what: str) -> str:
    """System and source names become path parts: only plain lower-case names are accepted."""
    if not NAME.fullmatch(value):
        raise ValueError(f"{what} name is not a plain lower-case name")
    return value


def declared_sources(system: str) -> Mapping[str, Source] | None:
    """The connector's declared sources for `system`, or None if the system's connector is unknown."""
    from connectors.registry import systems

    entry = systems().get(system)
    if entry is None:
        return None
    try:
        sources = entry.connector_class().sources
    except (ImportError, AttributeError):
        return None
    return sources if isinstance(sources, Mapping) else None


def column_description(name: str, category: str) -> str:
    """A plain description of a column from its name and data category."""
    if name in GENERIC_FIELDS:
        return GENERIC_FIELDS[name]
    if category == "system.operations":
        base = name.replace("_", " ")
        if name.endswith("_at"):
            return f"{base[:-3]} time (ISO 8601, UTC)"
        return f"{base} (record keeping in the system)"
    label = CATEGORIES.get(category, category)
    words = name.replace("_", " ")
    if words.casefold() in label.casefold() or label.casefold().startswith(words.casefold().rstrip("s")):
        return label
    return f"{label}: {words}"


def excluded_reason(category: str) -> str | None:
    """Why a column of this category is not in the export, or None if it is."""
    if category.startswith(THIRD_PARTY):
        return OTHER_PEOPLE
    return INFERRED.get(category)


@dataclass
class TablePlan:
    """The export's view of one (system, source): columns kept and dropped, or the whole table left out."""

    system: str
    source: str
    description: str
    columns: list[str]
    categories: dict[str, str]
    dropped: dict[str, str] = field(default_factory=dict)  # column -> reason
    left_out: str | None = None  # reason, when the table is not exported at all

    @property
    def csv_path(self) -> str:
        return f"export/csv/{self.system}/{self.source}.csv"


def plan_table(system: str, source: str, records: Iterable[Record], declared: Source | None) -> TablePlan:
    """Columns of a table: declared order first, then any field a record carries beyond the declaration."""
    check_name(system, "system")
    check_name(source, "source")
    categories: dict[str, str] = dict(declared.fields) if declared else {}
    for record in records:
        for name in record.fields:
            if name not in categories:
                categories[name] = record.categories.get(name, "system.operations")
    kept, dropped = [], {}
    for name, category in categories.items():
        reason = excluded_reason(category)
        if reason:
            dropped[name] = reason
        else:
            kept.append(name)
    plan = TablePlan(system, source, declared.description if declared else "", kept, categories, dropped)
    if not kept or all(categories[c] in BOOKKEEPING for c in kept):
        reasons = sorted(set(dropped.values()))
        plan.left_out = "; ".join(reasons) if reasons else "only record keeping"
    return plan
