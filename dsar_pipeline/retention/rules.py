"""When a request's data must go: after its retention window, in whatever state it ended. The purge
removes the delivered package, every sealed intermediate (the sealed ticket among them), the local
staging and package files, the runs that carried only this request, and its partition.
Rejected inbox tickets go the same way.

What is not delivered must not linger: a request that failed, stalled or waits for a review nobody
gives holds the same personal data as a delivered one. So every state has a purge date:

- **Closed** (`delivered`, `rejected` by the DPO, `rejected_at_intake`): purged
  `DSAR_PURGE_AFTER_DAYS` (default 30) after the closing event, i.e. the timestamp of the `delivery`
  materialisation (or, rejected at intake, of the `dsar_request` materialisation that says
  `verification: rejected`).
- **Open** (`incomplete`, `awaiting_review`, `failed`, `unfinished`, or any other status): the
  request may still be answered until the extended statutory deadline, received + 3 calendar
  months (one month, extendable by two; GDPR Art. 12(3)). It is purged `DSAR_PURGE_AFTER_DAYS`
  after that deadline and never earlier. The deadline is taken at its latest: counted as if
  received the day after the UTC date of receipt (the controller's local date can be one day
  later), moved past weekends and the public holidays of every controller country (Regulation
  1182/71 Art. 3(4)), to the end of that day. "Received" is the first `dsar_request` materialisation of the partition,
  else the partition's earliest event (a planned `dsar_request` materialisation or an observation
  of it, a run of the partition). A partition with no event at all is given one: the purge records a
  `dsar_request` observation the first time it sees it, and counts from then (later than the
  true receipt, so never too early).
- **Rejected inbox tickets** (`rejected/` in `DSAR_INBOX_BUCKET`, tickets that never became a
  request): deleted once their S3 `LastModified` is more than `DSAR_PURGE_AFTER_DAYS` ago.

What stays is non-personal evidence: the hash-chained audit trail (hashes, counts, timestamps)
with one `purged` event per request saying in which state it was purged and what was removed, and
— in Dagster — the metadata-only events of batched runs that also carried other requests. The
partition goes so that what is listed per request (the daily purge, the deadline watch,
per-partition metadata of a batch) stays as large as the retention window, not as the number of
requests ever answered; it is also what makes the purge idempotent (a purged request is no longer
listed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from dsar_pipeline.intake.deadlines import add_months, next_working_day

CLOSED_STATES = frozenset({"delivered", "rejected", "rejected_at_intake"})
EXTENDED_DEADLINE_MONTHS = 3  # one month, extendable once by two (GDPR Art. 12(3))
_STATE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@lru_cache(maxsize=1)
def controller_countries() -> tuple[str, ...]:
    """Countries whose public holidays can move a deadline: those of every controller profile."""
    from dsar_pipeline.profiles import list_controllers, load_profile

    return tuple(sorted({str(load_profile(c).country) for c in list_controllers()}))


def open_until(received_at: datetime, countries: Iterable[str] | None = None) -> datetime:
    """The latest moment the extended statutory deadline of a request received at `received_at`
    can end. Taken at its latest because the exact one needs the controller's time zone and
    country, which a failed request may never have revealed; the surplus is a few days."""
    latest_local_day = received_at.astimezone(UTC).date() + timedelta(days=1)
    day = add_months(latest_local_day, EXTENDED_DEADLINE_MONTHS)
    last = max(next_working_day(day, country) for country in (countries or controller_countries()))
    return datetime.combine(last + timedelta(days=1), time.min, UTC)


def purge_due(state: str, closed_at: datetime | None, received_at: datetime | None, now: datetime,
              window: timedelta) -> bool:
    """Whether a request in `state` is past its retention window at `now` (rules: module docstring).

    A closed state without its closing time, and an open one without a time of receipt, are never
    due: a request is not purged on a guess.
    """
    if state in CLOSED_STATES and closed_at is not None:
        return now >= closed_at + window
    if state in CLOSED_STATES or received_at is None:
        return False
    return now >= open_until(received_at) + window


@dataclass(frozen=True)
class RequestState:
    """What the purge needs to know of one request, read from Dagster's records (metadata only)."""

    request_id: str
    state: str
    closed_at: datetime | None
    received_at: datetime | None

    @property
    def closed(self) -> bool:
        return self.state in CLOSED_STATES

    def due(self, now: datetime, window: timedelta) -> bool:
        return purge_due(self.state, self.closed_at, self.received_at, now, window)

    def evidence(self) -> dict[str, Any]:
        """The state and its dates, for the audit trail (codes and dates only)."""
        facts: dict[str, Any] = {"state": self.state, "closed": int(self.closed)}
        if self.received_at is not None:
            facts["received_date"] = self.received_at.date().isoformat()
        if self.closed_at is not None:
            facts["closed_date"] = self.closed_at.date().isoformat()
        return facts


def state_code(value: Any) -> str:
    """A status as a lowercase code the audit trail accepts; anything else is `unknown` (and open)."""
    text = str(value or "").lower()
    return text if _STATE_CODE.fullmatch(text) else "unknown"


@dataclass
class PurgeReport:
    request_id: str
    sealed_objects: int
    local_files: int
    package_objects: int
    runs: int
    partition_removed: bool = False
    state: str = "unknown"

    def evidence(self) -> dict[str, int]:
        return {"sealed_objects": self.sealed_objects, "local_files": self.local_files,
                "package_objects": self.package_objects, "runs": self.runs,
                "partition_removed": int(self.partition_removed)}
