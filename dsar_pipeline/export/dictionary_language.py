"""The data dictionary's human-readable parts in the request's language.

Why: the dictionary is read by the person as much as by a program. Its machine-readable parts
(file paths, column names, types, category keys, JSON keys) never change with the language, so a
program reads every package alike; what a person reads — column labels and descriptions, category
names, the rules of what is in the export, the CSV conventions, why something was left out — is
in the request's language. English is the constants beside the code (`tables`, `consumption`, this
module); Estonian, Latvian and Russian are in `dictionary_texts.yaml`; field labels are the
report's (`report.labels`) and category names the letter's, so the three never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from connectors.categories import CATEGORIES
from dsar_pipeline.export import consumption
from dsar_pipeline.export.tables import INFERRED, OTHER_PEOPLE, RULE_TEXT
from dsar_pipeline.letter.words import strings as letter_strings
from dsar_pipeline.report import labels

TEXTS_FILE = Path(__file__).with_name("dictionary_texts.yaml")
RECORD_KEEPING = "only record keeping"
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
CONSUMPTION_FILES = {
    "csv": "validated historical data (Regulation (EU) 2023/1162): one row per interval",
    "parquet": "the same rows as Parquet: times as timestamp (UTC), quantity as decimal(12,3)",
}
REASONS = {"inferred": next(iter(INFERRED.values())), "other_people": OTHER_PEOPLE, "record_keeping": RECORD_KEEPING}
ENGLISH: dict[str, Mapping[str, str]] = {"rules": RULE_TEXT, "csv": CSV_CONVENTIONS, "reasons": REASONS,
                                         "consumption_columns": consumption.DESCRIPTIONS,
                                         "consumption_files": CONSUMPTION_FILES}


@functools.lru_cache(maxsize=1)
def translations() -> dict[str, dict[str, dict[str, str]]]:
    """section -> key -> language -> text, for et, lv and ru."""
    data: dict[str, Any] = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
    return data


def text(section: str, key: str, language: str) -> str:
    """One text of `section` in `language`; English for `en` and for anything not translated."""
    base = labels.base_language(language)
    english = ENGLISH[section][key]
    if base == "en":
        return english
    return translations().get(section, {}).get(key, {}).get(base, english)


def section(name: str, language: str) -> dict[str, str]:
    return {key: text(name, key, language) for key in ENGLISH[name]}


def reason(english: str, language: str) -> str:
    """A left-out reason (the export's English text, reasons joined by "; ") in `language`."""
    by_text = {value: key for key, value in REASONS.items()}
    return "; ".join(text("reasons", by_text[part], language) if part in by_text else part
                     for part in english.split("; "))


def category_label(category: str, language: str, *, electricity_supplier: bool = True) -> str:
    """The data category's name as the letter gives it in `language` (with the letter's neutral names
    for a controller that is not an electricity supplier: its contract is no "electricity contract")."""
    base = labels.base_language(language)
    if not electricity_supplier:
        neutral = letter_strings(base).get("categories_non_supplier", {}).get(category)  # type: ignore[arg-type]
        if isinstance(neutral, str) and neutral:
            return neutral
    if base != "en":
        named = letter_strings(base).get("categories", {}).get(category)  # type: ignore[arg-type]
        if isinstance(named, str) and named:
            return named
    return CATEGORIES.get(category, category)
