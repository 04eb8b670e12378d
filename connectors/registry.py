"""The configured systems (`systems.yaml`) and how to build their connectors from settings."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from connectors.contract import Connector

SYSTEMS_FILE = Path(__file__).with_name("systems.yaml")


@dataclass(frozen=True)
class SystemEntry:
    name: str
    factory: str
    title: str
    kinds: tuple[str, ...] = ()
    retries: int = 2
    settings: tuple[str, ...] = ()  # the DSAR_* settings its connector reads
    dataset: Path | None = None  # a dataset file describing the system (its one setting is the URL)

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


@lru_cache(maxsize=1)
def systems() -> dict[str, SystemEntry]:
    raw = yaml.safe_load(SYSTEMS_FILE.read_text(encoding="utf-8"))
    return {name: _entry(name, entry, SYSTEMS_FILE.parent) for name, entry in raw.items()}


def _entry(name: str, entry: Mapping[str, Any], home: Path) -> SystemEntry:
    """One entry; a relative `dataset` path counts from the folder of the file that names it."""
    settings = tuple(entry.get("settings", ()))
    dataset = entry.get("dataset")
    if dataset is not None:
        if len(settings) != 1:
            raise ValueError(f"systems.yaml: {name} is described by a dataset file, so it has exactly one "
                             "setting (its database URL)")
        dataset = (home / dataset).resolve()
    return SystemEntry(name=name, factory=entry["factory"], title=entry.get("title", name),
                       kinds=tuple(entry.get("kinds", ())), retries=int(entry.get("retries", 2)),
                       settings=settings, dataset=dataset)


def build_connectors(settings: Mapping[str, str], names: list[str] | None = None) -> dict[str, Connector]:
    entries = systems()
    return {name: entries[name].build(settings) for name in (names or list(entries))}
