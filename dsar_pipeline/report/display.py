"""Values as a person of one language reads them: times, numbers, enumerations and nested values.

Why a module of its own: the report shows values from five systems that each write them their own
way (aware datetimes, ISO strings ending in `Z`, hub constants such as `PHYSICAL_PERSON`, JSON
objects). Here each becomes text in the reader's conventions, so no raw `...Z` timestamp, constant
or JSON blob reaches the page:
- instants in the controller's time zone, in the reader's date format (et `dd.mm.yyyy HH:MM`,
  lv `dd.mm.yyyy. HH:MM`, ru `dd.mm.yyyy HH:MM`, en `4 Dec 2026 14:05`), also when a system sent
  them as ISO 8601 strings;
- enumeration values through `labels` (unknown ones as words, never an error);
- mappings as label/value pairs, lists of mappings as one such block per item, lists of plain
  values as one line; chat transcripts as turns with the speaker named in the reader's language.
A cell is a small dict the template renders: `text`, `turns`, `pairs` or `entries`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from dsar_pipeline.export.redaction import AGENT_SPEAKER, MASK, OTHER_MASK, OTHER_SPEAKER, STAFF, agent_label
from dsar_pipeline.report import labels
from dsar_pipeline.report.strings import strings

Cell = dict[str, Any]

# CLDR patterns: day.month.year as the Baltic languages write it (Latvian with the ordinal dot).
DATE_PATTERNS = {"et": "dd.MM.yyyy", "lv": "dd.MM.yyyy.", "ru": "dd.MM.yyyy", "en": "d MMM yyyy"}
TIME_PATTERN = "HH:mm"
MONEY_SUFFIX = "_eur"  # the systems' money columns: amount_eur, total_eur, unit_price_eur, price_eur
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})",
                         re.IGNORECASE)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

OTHER_WORDS = {"en": "other person", "et": "teine isik", "lv": "cita persona", "ru": "другое лицо"}
OWN_WORDS = {
    "customer": {"en": "you", "et": "teie", "lv": "jūs", "ru": "вы"},
    "bot": {"en": "chatbot", "et": "vestlusrobot", "lv": "tērzēšanas robots", "ru": "чат-бот"},
}


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 instant with its offset (`2024-03-18T00:00:00Z`), else None."""
    if not ISO_INSTANT.fullmatch(text.strip()):
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    if not ISO_DATE.fullmatch(text.strip()):
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _is_turns(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, Mapping) and "text" in t for t in value)


class Display:
    """Values as text for a reader of `language`, instants in `zone` (the controller's time zone)."""

    def __init__(self, language: str, zone: str) -> None:
        self.text = strings(language)  # refuses a language we do not write in
        self.language = labels.base_language(language)
        self.zone = ZoneInfo(zone)
        self.zone_name = zone
        self.locale = Locale.parse(self.language)  # parsed once: babel parses a locale name on every call

    # --- scalars --------------------------------------------------------------------------------------

    def moment(self, value: datetime) -> str:
        """Date and time in the reader's format; an aware instant in the controller's zone."""
        local = value.astimezone(self.zone) if value.tzinfo is not None else value
        pattern = f"{DATE_PATTERNS[self.language]} {TIME_PATTERN}"
        return format_datetime(local.replace(tzinfo=None), pattern, locale=self.locale)

    def day(self, value: date) -> str:
        return format_date(value, DATE_PATTERNS[self.language], locale=self.locale)

    def number(self, value: Decimal | float) -> str:
        return format_decimal(value, locale=self.locale, decimal_quantization=False)

    def money(self, value: Decimal | float | int) -> str:
        """Euros with cents, and up to four decimals where a unit price has them (0,1586)."""
        return format_decimal(value, format="#,##0.00##", locale=self.locale)

    def kwh(self, value: Decimal) -> str:
        return format_decimal(value, format="#,##0.000", locale=self.locale)

    def axis(self, value: Decimal) -> str:
        return format_decimal(value, format="#,##0.###", locale=self.locale)

    def month(self, month: str) -> str:
        year, number = month.split("-")
        return format_date(date(int(year), int(number), 1), "LLLL yyyy", locale=self.locale)

    def string(self, value: str, enumeration: str | None = None) -> str:
        """A string as held, unless it is an ISO time or date (then localised) or an enumeration value."""
        instant = parse_instant(value)
        if instant is not None:
            return self.moment(instant)
        day = parse_date(value)
        if day is not None:
            return self.day(day)
        if enumeration is not None:
            return labels.value_label(enumeration, value, self.language)
        return self.unmasked(value)

    def unmasked(self, text: str) -> str:
        """The redaction's masks (`[agent]`, `[other person]`) in the reader's words."""
        if "[" not in text:
            return text
        return text.replace(MASK, f"[{agent_label(self.language)}]").replace(OTHER_MASK,
                                                                             f"[{OTHER_WORDS[self.language]}]")

    def scalar(self, value: Any, enumeration: str | None = None) -> str:
        if value is None:
            return self.text["empty"]
        if isinstance(value, bool):
            return self.text["yes" if value else "no"]
        if isinstance(value, int):
            return str(value)
        if isinstance(value, Decimal | float):
            return self.number(value)
        if isinstance(value, datetime):
            return self.moment(value)
        if isinstance(value, date):
            return self.day(value)
        return self.string(str(value), enumeration)

    # --- cells ----------------------------------------------------------------------------------------

    def cell(self, value: Any, category: str, system: str = "", source: str = "", field: str = "") -> Cell:
        """One field's value as a cell of the template."""
        if category == STAFF and value is not None:
            return {"text": agent_label(self.language)}
        if _is_turns(value):
            return {"turns": [(self.speaker(t.get("speaker")), self.unmasked(str(t.get("text", "")))) for t in value]}
        if field.endswith(MONEY_SUFFIX) and isinstance(value, Decimal | float | int) and not isinstance(value, bool):
            return {"text": self.money(value)}
        enumeration = field if labels.is_enumeration(field) else None
        return self.nested(value, system, source, enumeration)

    def nested(self, value: Any, system: str, source: str, enumeration: str | None, depth: int = 0) -> Cell:
        """Mappings as label/value pairs, lists of mappings as entries, lists of scalars on one line.

        Inside a nested value every key's values are looked up as an enumeration of that key, and
        a constant no label covers is shown as words (the hub's documents are mostly constants).
        """
        if isinstance(value, Mapping):
            pairs = [(labels.key_label(str(k), self.language, system=system, source=source),
                      self.nested(v, system, source, str(k), depth + 1)) for k, v in value.items()]
            return {"pairs": pairs}
        if isinstance(value, list | tuple | set | frozenset):
            items = list(value)
            if any(isinstance(v, Mapping | list | tuple) for v in items):
                return {"entries": [self.nested(v, system, source, enumeration, depth + 1) for v in items]}
            return {"text": ", ".join(self.scalar(v, enumeration) for v in items) or self.text["empty"]}
        if depth and isinstance(value, str) and enumeration is not None and not labels.is_enumeration(enumeration):
            return {"text": labels.readable_value(self.string(value))}
        return {"text": self.scalar(value, enumeration)}

    def speaker(self, speaker: Any) -> str:
        if speaker == AGENT_SPEAKER:
            return agent_label(self.language)
        if speaker == OTHER_SPEAKER:
            return OTHER_WORDS[self.language]
        if isinstance(speaker, str) and speaker.casefold() in OWN_WORDS:
            return OWN_WORDS[speaker.casefold()][self.language]
        return str(speaker) if speaker is not None else self.text["empty"]
