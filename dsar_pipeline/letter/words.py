"""The letter's wording in one language: string tables, dates, numbers, periods and lists.

Every string is formatted through ``Markup(...).format``, which escapes the values put into it, so
a name or a company name from the data can never become markup in the letter.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit
from markupsafe import Markup, escape

from connectors.categories import CATEGORIES

from ..profiles import Language
from .facts import PeriodSpec

STRINGS_DIR = Path(__file__).with_name("strings")


@lru_cache(maxsize=8)
def strings(language: Language) -> dict[str, Any]:
    """The string table of one language (``strings/<language>.yaml``)."""
    path = STRINGS_DIR / f"{language}.yaml"
    if language not in ("et", "lv", "ru", "en") or not path.is_file():
        raise ValueError(f"no letter strings for language {language!r}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"letter strings {language!r} are not a mapping")
    return data


class Words:
    """Phrases, dates and numbers of one language."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self.table = strings(language)
        self.locale = Locale.parse(self.table["locale"])

    def __call__(self, key: str, **values: Any) -> Markup:
        """The phrase ``key`` with ``values`` escaped into its placeholders."""
        return self.phrase(self.table[key], **values)

    @staticmethod
    def phrase(text: str, **values: Any) -> Markup:
        return Markup(escape(text)).format(**values)  # noqa: S704 - the template text is escaped first

    def sub(self, table: str, key: str) -> str:
        return str(self.table[table][key])

    def system(self, name: str) -> str:
        """The system's name in this language: the string table's, else the systems file's `titles`."""
        known = self.table["systems"].get(name)
        if known:
            return str(known)
        from connectors.registry import systems

        entry = systems().get(name)
        return entry.title_in(self.language) if entry is not None else name

    def category(self, name: str) -> str:
        return str(self.table["categories"].get(name) or CATEGORIES.get(name, name))

    def date(self, value: date) -> str:
        return format_date(value, "long", locale=self.locale)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def join(self, items: list[str]) -> str:
        return format_list(items, locale=self.locale) if items else ""

    @staticmethod
    def join_items(items: list[str]) -> str:
        """Category or retention-rule names in running text, joined with "; ".

        Those names often contain the language's "and" themselves ("klienta un kontaktinformācija"), so
        the list's own "and" would make it ambiguous; contact channels and system names keep ``join``.
        """
        return "; ".join(items)

    def period(self, spec: PeriodSpec) -> str:
        parts = [self._unit(n, unit) for n, unit in ((spec.years, "year"), (spec.months, "month"),
                                                     (spec.days, "day"), (spec.hours, "hour")) if n]
        return self.join(parts)

    def _unit(self, n: int, unit: str) -> str:
        text = format_unit(n, f"duration-{unit}", length="long", locale=self.locale)
        if "duration" in text:  # Babel lacks the unit for this locale (Estonian months): our own forms
            forms = self.table["units"][unit]
            pattern = forms.get(self.locale.plural_form(n)) or forms["other"]
            text = pattern.format(n=self.number(n))
        return text


__all__ = ["STRINGS_DIR", "Words", "strings"]
