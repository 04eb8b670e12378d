"""The dataset connector: any SQL system described by a fideslang dataset file, under our contract.

A connector class is made per dataset (`DatasetConnector.for_dataset(path, system=…)`): its class
attributes — `system`, `accepts`, `reveals`, `sources` — come from the file, so the pipeline reads them
without connecting, as it does for the hand-written connectors. An instance holds the database.

`discover` walks only the collections needed to reach the fields that reveal identifiers (fewer
queries); `collect` walks them all. Both obey the same rules (see `connectors.dataset.walk`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from connectors.contract import Record, Source
from connectors.dataset.compile import load_plan
from connectors.dataset.engine import DatasetDatabase, create_dataset_engine
from connectors.dataset.plan import Plan
from connectors.dataset.records import Owners, records, reveals
from connectors.dataset.walk import Walk, WalkResult
from connectors.identity import Identifier, IdentityType
from connectors.retry import RetryPolicy
from connectors.sql.database import Timeouts

REPOSITORY = Path(__file__).resolve().parents[2]


class DatasetConnector:
    """Reads one SQL database the way its dataset file describes (PostgreSQL, MariaDB/MySQL, SQLite)."""

    system: ClassVar[str] = "dataset"
    accepts: ClassVar[frozenset[IdentityType]] = frozenset()
    reveals: ClassVar[frozenset[IdentityType]] = frozenset()
    sources: ClassVar[Mapping[str, Source]] = {}
    plan: ClassVar[Plan]
    url_setting: ClassVar[str] = ""

    def __init__(self, database: DatasetDatabase, page_size: int = 500) -> None:
        if not hasattr(type(self), "plan"):
            raise TypeError("make the class for a dataset first: DatasetConnector.for_dataset(path, system=…)")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.db = database
        self.page_size = page_size
        self.last_walk: WalkResult | None = None

    @classmethod
    def for_dataset(cls, dataset: str | Path, *, system: str | None = None,
                    url_setting: str | None = None) -> type[DatasetConnector]:
        """The connector class of one dataset file (a relative path counts from the repository root)."""
        path = Path(dataset)
        if not path.is_absolute() and not path.exists():
            path = REPOSITORY / path
        return _specialised(cls, path.resolve(), system, url_setting)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, dataset: str | Path | None = None,
                      system: str | None = None, policy: RetryPolicy | None = None,
                      timeouts: Timeouts | None = None, page_size: int = 500, pool_size: int = 2) -> DatasetConnector:
        """Build from the settings: the URL is the one `url_setting` names (`DSAR_<SYSTEM>_DATABASE_URL`)."""
        target = cls if dataset is None else cls.for_dataset(dataset, system=system)
        if not hasattr(target, "plan"):
            raise ValueError("dataset connector: no dataset file given")
        url = settings.get(target.url_setting, "").strip()
        if not url:
            raise ValueError(f"{target.system}: setting {target.url_setting} is missing")
        timeouts = timeouts or Timeouts()
        engine = create_dataset_engine(url, timeouts, target.system, pool_size=pool_size)
        return target(DatasetDatabase(engine, timeouts, policy or RetryPolicy(), target.system), page_size)

    def __repr__(self) -> str:  # never the URL: it may carry a password
        return f"{type(self).__name__}(system={self.system}, backend={self.db.backend})"

    @property
    def calls_made(self) -> int:
        return self.db.attempts

    def close(self) -> None:
        self.db.close()

    def walk(self, identifiers: Sequence[Identifier], collections: set[str] | None = None) -> WalkResult:
        """One walk (the `dsar dataset access` dry run uses it directly)."""
        wanted = [i for i in identifiers if i.type in self.accepts]
        self.last_walk = Walk(self.plan, self.db, self.page_size, collections).run(wanted)
        return self.last_walk

    def discover(self, identifiers: Sequence[Identifier]) -> Iterator[Identifier]:
        yield from self.revealed(self.walk(identifiers, _revealing_side(self.plan)))

    def revealed(self, walked: WalkResult) -> Iterator[Identifier]:
        """Every identifier the walk's rows reveal, by its best path (never searched in the walk itself)."""
        found: dict[tuple[IdentityType, str, frozenset[str]], Identifier] = {}
        owners = Owners(self.plan, walked)
        for name, rows in walked.rows.items():
            collection = self.plan.collections[name]
            for key, row in rows.items():
                for identifier in reveals(self.system, collection, row, tuple(walked.matched_by[(name, key)].values()),
                                          owners.codes(name, key)):
                    # one per holder: the subject's own version and another person's are both reported
                    slot = (identifier.type, identifier.value, identifier.held_with)
                    known = found.get(slot)
                    if known is None or identifier.outranks(known):
                        found[slot] = identifier
        yield from found.values()

    def collect(self, identifiers: Sequence[Identifier]) -> Iterator[Record]:
        yield from records(self.plan, self.system, self.walk(identifiers))


@lru_cache(maxsize=64)
def _specialised(base: type[DatasetConnector], path: Path, system: str | None,
                 url_setting: str | None) -> type[DatasetConnector]:
    plan = load_plan(path)
    name = system or plan.key
    attributes: dict[str, Any] = {
        "system": name, "plan": plan, "accepts": plan.accepts, "reveals": plan.reveals, "sources": plan.sources(),
        "url_setting": url_setting or f"DSAR_{name.upper().replace('-', '_')}_DATABASE_URL",
        "__module__": base.__module__, "__doc__": f"{plan.name}: {path.name}"}
    return type(f"{name.title().replace('_', '')}DatasetConnector", (base,), attributes)


def _revealing_side(plan: Plan) -> set[str]:
    """Collections a walk must read to reach every field that reveals identifiers: those fields'
    collections and every collection with a reference leading towards one of them."""
    needed = {collection.name for collection, _, _ in plan.revealing()}
    grew = True
    while grew:
        grew = False
        for edge in plan.edges:
            if edge.target in needed and edge.source not in needed:
                needed.add(edge.source)
                grew = True
    return needed
