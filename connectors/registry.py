"""The configured systems (`systems.yaml`) and how to build their connectors from settings."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from connectors.contract import Connector

SYSTEMS_FILE = Path(__file__).with_name("systems.yaml")
SYSTEMS_FILE_SETTING = "DSAR_SYSTEMS_FILE"  # a deployment's own systems file instead of SYSTEMS_FILE
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,30}$"  # a system name is part of asset, resource and setting names


@dataclass(frozen=True)
class SystemEntry:
    name: str
    factory: str
    title: str
    kinds: tuple[str, ...] = ()
    retries: int = 2
    settings: tuple[str, ...] = ()  # the DSAR_* settings its connector reads
    dataset: Path | None = None  # a dataset file describing the system (its one setting is the URL)
    titles: Mapping[str, str] | None = field(default=None, hash=False)  # per language (en, et, lv, ru)

    def title_in(self, language: str) -> str:
        return (self.titles or {}).get(language) or self.title

    @property
    def pool(self) -> str:
        """Concurrency pool of this system's steps (limits are set per deployment)."""
        return f"dsar_{self.name}"

    def connector_class(self) -> Any:
        """The class named by `factory` (its declared accepts, reveals and sources).

        For a system described by a dataset file, the factory's class makes the class of that file
        (`for_dataset`), so what it declares is read from the file, without connecting.
        """
        module_name, _, attribute = self.factory.partition(":")
        cls = getattr(importlib.import_module(module_name), attribute.split(".")[0])
        if self.dataset is not None:
            cls = cls.for_dataset(self.dataset, system=self.name, url_setting=self.settings[0])
        return cls

    def build(self, settings: Mapping[str, str]) -> Connector:
        target: Any = self.connector_class()
        for part in self.factory.partition(":")[2].split(".")[1:]:
            target = getattr(target, part)
        connector = target(settings)
        if not isinstance(connector, Connector):
            raise TypeError(f"{self.factory} did not build a connector")
        return connector


class SystemsFileError(ValueError):
    """The systems file cannot be used; the message is one line naming the file and the entry."""


@lru_cache(maxsize=1)
def systems() -> dict[str, SystemEntry]:
    """The configured systems: `DSAR_SYSTEMS_FILE` if set, else `connectors/systems.yaml`."""
    path = Path(os.environ.get(SYSTEMS_FILE_SETTING, "").strip() or SYSTEMS_FILE)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SystemsFileError(f"{path}: the systems file cannot be read ({exc.strerror or type(exc).__name__})") \
            from None
    except yaml.YAMLError as exc:
        raise SystemsFileError(f"{path}: the systems file is not YAML ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or not raw:
        raise SystemsFileError(f"{path}: must map system names to their entries")
    return {name: _entry(path, name, entry) for name, entry in raw.items()}


def _entry(path: Path, name: Any, entry: Any) -> SystemEntry:
    """One entry; a relative `dataset` path counts from the folder of the file that names it."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise SystemsFileError(f"{path}: {name!r} is not a system name (lower-case letters, digits, _)")
    if not isinstance(entry, dict) or not isinstance(entry.get("factory"), str):
        raise SystemsFileError(f"{path}: {name}: an entry needs a factory (module:Class.method)")
    settings = tuple(str(setting) for setting in entry.get("settings", ()))
    dataset = entry.get("dataset")
    if dataset is not None:
        if len(settings) != 1:
            raise SystemsFileError(f"{path}: {name} is described by a dataset file, so it has exactly one setting "
                                   "(its database URL)")
        dataset = (path.parent / str(dataset)).resolve()
        if not dataset.is_file():
            raise SystemsFileError(f"{path}: {name}: dataset file {dataset} does not exist")
    titles = entry.get("titles")
    if titles is not None and not (isinstance(titles, dict) and all(isinstance(v, str) for v in titles.values())):
        raise SystemsFileError(f"{path}: {name}: titles maps a language (en, et, lv, ru) to a title")
    return SystemEntry(name=name, factory=entry["factory"], title=str(entry.get("title", name)),
                       kinds=tuple(entry.get("kinds", ())), retries=int(entry.get("retries", 2)),
                       settings=settings, dataset=dataset, titles=titles)


def build_connectors(settings: Mapping[str, str], names: list[str] | None = None) -> dict[str, Connector]:
    entries = systems()
    return {name: entries[name].build(settings) for name in (names or list(entries))}
