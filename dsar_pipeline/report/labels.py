"""Labels the person reads instead of our machine names, loaded from `labels.yaml`.

Why data and not code: the labels are reviewed by translators, four languages side by side, and a
new field a connector starts producing needs one new line there (the tests fail until it has one).
The machine names stay what they are everywhere else (the export's columns, the JSON keys); only
what a person reads goes through here.

Lookups never fail: a field, key or source without a label is shown in a readable form of its
name (`first_name` -> "First name", `consumptionScale` -> "Consumption scale"), an enumeration
value without one likewise (`PHYSICAL_PERSON` -> "physical person"), so an unforeseen value from
a system can never break a report.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("et", "lv", "ru", "en")
LABELS_FILE = Path(__file__).with_name("labels.yaml")
# An enumeration constant: `PHYSICAL_PERSON`, `to_customer`; not `PT15M`, `S-L-807-1` or `id-card`.
_CONSTANT = re.compile(r"[A-Za-z]+(?:_[A-Za-z0-9]+)+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

Texts = Mapping[str, str]


def base_language(language: str) -> str:
    """`et-EE`, `ET`, `lv_LV` -> `et`, `lv`; a language we do not write in falls back to English."""
    base = language.split("-")[0].split("_")[0].lower()
    return base if base in LANGUAGES else "en"


def _check(texts: Any, where: str) -> Texts:
    if not isinstance(texts, Mapping) or set(texts) != set(LANGUAGES) \
            or not all(isinstance(v, str) and v.strip() for v in texts.values()):
        raise ValueError(f"labels.yaml: {where} needs a text in each of {', '.join(LANGUAGES)}")
    return texts


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    """The whole file, checked once per process: every entry has all four languages."""
    data = yaml.safe_load(LABELS_FILE.read_text(encoding="utf-8"))
    for name, texts in data["systems"].items():
        _check(texts, f"systems.{name}")
    for name, entry in data["sources"].items():
        _check(entry["title"], f"sources.{name}.title")
        _check(entry["description"], f"sources.{name}.description")
    for scope, fields in data["fields"].items():
        for name, texts in fields.items():
            _check(texts, f"fields.{scope}.{name}")
    for name, texts in data["nested"].items():
        _check(texts, f"nested.{name}")
    for field, values in data["values"].items():
        for value, texts in values.items():
            _check(texts, f"values.{field}.{value}")
    return data


def readable_name(name: str) -> str:
    """`first_name` / `consumptionScale` -> "First name" / "Consumption scale" (the last resort)."""
    words = _CAMEL.sub(" ", name).replace("_", " ").replace("-", " ").strip()
    words = " ".join(words.split()).lower()
    return words[:1].upper() + words[1:] if words else name


def readable_value(value: str) -> str:
    """An enumeration constant without a label as words: `PHYSICAL_PERSON` -> "physical person"."""
    if _CONSTANT.fullmatch(value):
        return value.replace("_", " ").lower()
    return value


def system_title(system: str, language: str) -> str | None:
    """The system's name in `language` (this file's, else the systems file's `titles`), or None."""
    texts = catalogue()["systems"].get(system)
    if texts:
        return texts[base_language(language)]
    from connectors.registry import systems

    entry = systems().get(system)
    return (entry.titles or {}).get(base_language(language)) if entry is not None else None


def source_title(system: str, source: str, language: str) -> str:
    entry = catalogue()["sources"].get(f"{system}.{source}")
    return entry["title"][base_language(language)] if entry else readable_name(source)


def source_description(system: str, source: str, language: str) -> str | None:
    entry = catalogue()["sources"].get(f"{system}.{source}")
    return entry["description"][base_language(language)] if entry else None


def field_texts(system: str, source: str, field: str) -> Texts | None:
    """The field's label in all languages: `system.source` first, then `system`, then `common`."""
    fields = catalogue()["fields"]
    for scope in (f"{system}.{source}", system, "common"):
        texts = fields.get(scope, {}).get(field)
        if texts is not None:
            return texts
    return None


def field_label(system: str, source: str, field: str, language: str) -> str:
    texts = field_texts(system, source, field)
    return texts[base_language(language)] if texts else readable_name(field)


def key_label(key: str, language: str, *, system: str = "", source: str = "") -> str:
    """A key inside a nested value (the hub's camelCase attributes, an identity's type ...)."""
    texts = catalogue()["nested"].get(key) or field_texts(system, source, key)
    return texts[base_language(language)] if texts else readable_name(key)


def is_enumeration(field: str) -> bool:
    return field in catalogue()["values"]


def value_label(field: str, value: str, language: str) -> str:
    """An enumeration value of `field` (or nested key) in `language`; unknown ones made readable."""
    texts = catalogue()["values"].get(field, {}).get(value)
    if texts is not None:
        return texts[base_language(language)]
    return readable_value(value)
