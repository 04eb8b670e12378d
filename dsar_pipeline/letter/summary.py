"""Reduce the records found for one person to what the letter needs, one record at a time.

Why a separate step: the letter must be tailored (categories, retention rules, sources actually
used, automated decisions, the companies involved) but must not hold the records themselves. This
accumulator keeps only counters, sets of category and rule names, and the few facts of automated
decisions, so it runs in constant memory however many records stream past.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.contract import Record

from .catalog import DEFAULT_RULE, rules_of_source
from .context import DecisionFound, SearchStatus, SystemSearch, WithheldKind

# Where the billing connector keeps the facts the letter names (connectors/dataset/files/billing.yml).
CREDIT_CHECKS = ("billing", "credit_checks")
COLLECTION_STEPS = ("billing", "collection_steps")
METERING_POINTS = ("billing", "metering_points")
AUTOMATED_DEBT_STEPS = frozenset({"reminder", "final_notice"})
"""Collection steps our systems take automatically (the notices' "automatic notices in debt processes")."""

AUDIO = "user.sensor.audio"
RECORDINGS = "recordings"
CHAT_CHANNELS = frozenset({"chatbot", "chat"})
"""A call-centre session on these channels is a chat: it has a transcript and never an audio file."""
_THIRD_PARTY: dict[str, WithheldKind] = {"third_party.staff": "staff_identity", "third_party.person": "other_person"}


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _as_date(value: Any, zone: ZoneInfo | None) -> date | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        if zone is not None and value.tzinfo is not None:
            value = value.astimezone(zone)
        return value.date()
    return value if isinstance(value, date) else None


class FoundData:
    """Accumulates what a letter needs from a stream of ``Record``s.

    ``rules`` maps (system, source) to a retention rule (default: the connectors' declarations).
    Records should be those disclosed to the person (after DPO review): held-back records are
    counted with ``hold_back``. Fields of the ``third_party.*`` categories that a record still
    carries are counted as withheld, since the copy redacts them.
    """

    def __init__(self, rules: Mapping[tuple[str, str], str] | None = None, zone: ZoneInfo | None = None) -> None:
        self._rules = dict(rules_of_source() if rules is None else rules)
        self._zone = zone
        self._records: dict[str, int] = {}
        self._categories: dict[str, set[str]] = {}
        self._rules_found: dict[str, set[str]] = {}
        self._decisions: list[DecisionFound] = []
        self._counterparties: dict[str, dict[str, None]] = {}
        self.withheld: dict[WithheldKind, int] = {}
        self.recordings = 0
        self.chats = 0
        self.calls_without_audio = 0

    def add(self, record: Record) -> None:
        system = record.system
        self._records[system] = self._records.get(system, 0) + 1
        categories = self._categories.setdefault(system, set())
        for field, category in record.categories.items():
            if _present(record.fields.get(field)):
                kind = _THIRD_PARTY.get(category)
                if kind is None:
                    categories.add(category)
        for kind in {_THIRD_PARTY[c] for f, c in record.categories.items()
                     if c in _THIRD_PARTY and _present(record.fields.get(f))}:
            self.withheld[kind] = self.withheld.get(kind, 0) + 1
        rule = self._rules.get((system, record.source)) or DEFAULT_RULE.get(system)
        if rule:
            self._rules_found.setdefault(system, set()).add(rule)
        if record.attachment is not None and record.attachment.media_type.startswith("audio/"):
            # The audio is an attachment, not a field: it is the person's voice all the same.
            self.recordings += 1
            categories.add(AUDIO)
        elif system == RECORDINGS:
            # The letter says why the copy has fewer audio files than call-centre records: a chat has
            # no audio (its transcript is in the report), and a call's audio may no longer be held.
            channel = str(record.fields.get("channel") or "").lower()
            if channel in CHAT_CHANNELS or (not channel and _present(record.fields.get("transcript"))):
                self.chats += 1
            else:
                self.calls_without_audio += 1
        self._decisions_and_parties(record)

    def add_all(self, records: Iterable[Record]) -> FoundData:
        for record in records:
            self.add(record)
        return self

    def hold_back(self, kind: WithheldKind, count: int = 1) -> None:
        """Count records or fields left out of the copy to protect others (Art. 15(4))."""
        self.withheld[kind] = self.withheld.get(kind, 0) + count

    def _decisions_and_parties(self, record: Record) -> None:
        where, fields = (record.system, record.source), record.fields
        if where == CREDIT_CHECKS:
            self._party("credit_bureau", fields.get("bureau"))
            on = _as_date(fields.get("checked_at"), self._zone)
            if fields.get("automated") and on is not None:
                outcome = fields.get("decision")
                self._decisions.append(DecisionFound(kind="credit_check", on=on,
                                                     outcome=str(outcome) if _present(outcome) else None))
        elif where == COLLECTION_STEPS:
            self._party("collection_agency", fields.get("agency"))
            on = _as_date(fields.get("taken_at"), self._zone)
            if fields.get("step") in AUTOMATED_DEBT_STEPS and on is not None:
                self._decisions.append(DecisionFound(kind="debt_notice", on=on, outcome=str(fields["step"])))
        elif where == METERING_POINTS:
            self._party("grid_operator", fields.get("grid_operator"))

    def _party(self, role: str, name: Any) -> None:
        if isinstance(name, str) and name.strip():
            self._counterparties.setdefault(role, {})[name.strip()] = None

    # -- results -----------------------------------------------------------------------------------

    @property
    def decisions(self) -> tuple[DecisionFound, ...]:
        return tuple(self._decisions)

    @property
    def counterparties(self) -> dict[str, tuple[str, ...]]:
        return {role: tuple(names) for role, names in self._counterparties.items()}

    def systems(self, statuses: Mapping[str, SearchStatus]) -> tuple[SystemSearch, ...]:
        """One ``SystemSearch`` per system in ``statuses`` (every system the controller runs)."""
        return tuple(SystemSearch(system=name, status=status, records=self._records.get(name, 0),  # type: ignore[arg-type]
                                  categories=frozenset(self._categories.get(name, ())),
                                  rules=frozenset(self._rules_found.get(name, ())))
                     for name, status in statuses.items())

    def context_fields(self, statuses: Mapping[str, SearchStatus]) -> dict[str, Any]:
        """Keyword arguments for ``LetterContext`` (systems, decisions, counterparties, withheld, and the
        counts of recordings, chats and calls without audio)."""
        return {"systems": self.systems(statuses), "decisions": self.decisions,
                "counterparties": self.counterparties, "withheld": dict(self.withheld),
                "recordings": self.recordings, "chats": self.chats, "calls_without_audio": self.calls_without_audio}


__all__ = ["AUTOMATED_DEBT_STEPS", "FoundData"]
