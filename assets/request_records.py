"""Purge a request after its retention window, in whatever state it ended: the delivered package,
every sealed intermediate (the sealed ticket among them), the local staging and package files, the
runs that carried only this request, and its partition. Rejected inbox tickets go the same way.

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
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg

from assets.status import latest_materialization, metadata_of
from dsar_pipeline.delivery.send import purge_package
from dsar_pipeline.intake.deadlines import add_months, next_working_day
from dsar_pipeline.intake.inbox import REJECTED_PREFIX
from dsar_pipeline.sealing.workstore import WorkStore

CLOSED_STATES = frozenset({"delivered", "rejected", "rejected_at_intake"})
EXTENDED_DEADLINE_MONTHS = 3  # one month, extendable once by two (GDPR Art. 12(3))
FIRST_SEEN_MARK = {"purge_clock": "first_seen"}
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


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _code(value: Any) -> str:
    """A status as a lowercase code the audit trail accepts; anything else is `unknown` (and open)."""
    text = str(value or "").lower()
    return text if _STATE_CODE.fullmatch(text) else "unknown"


def _filter(asset: str, request_id: str) -> dg.AssetRecordsFilter:
    return dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[request_id])


def received_at(instance: dg.DagsterInstance, request_id: str) -> datetime | None:
    """When the request arrived as Dagster knows it: its first `dsar_request` materialisation, else
    the earliest other event of its partition; None when the partition has none."""
    first = instance.fetch_materializations(_filter("dsar_request", request_id), limit=1, ascending=True).records
    if first:
        return _moment(first[0].timestamp)
    moments = [_moment(r.timestamp) for fetch in (instance.fetch_observations, instance.fetch_planned_materializations)
               for r in fetch(_filter("dsar_request", request_id), limit=1, ascending=True).records]
    runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": request_id}), limit=1, ascending=True)
    moments += [_aware(r.create_timestamp) for r in runs]
    return min(moments, default=None)


def request_state(instance: dg.DagsterInstance, request_id: str) -> RequestState:
    """The request's state for the purge: the `delivery` status when there is one; else rejected at
    intake; else `failed` when the last run of its own partition failed or was cancelled, and
    `unfinished` otherwise (still running, never launched, or in a batched run, whose outcome is
    not told per request)."""
    received = received_at(instance, request_id)
    delivery = latest_materialization(instance, "delivery", request_id)
    if delivery is not None:
        state = _code(metadata_of(delivery).get("status"))
        return RequestState(request_id, state, _moment(delivery.timestamp) if state in CLOSED_STATES else None,
                            received)
    intake = latest_materialization(instance, "dsar_request", request_id)
    if intake is not None and metadata_of(intake).get("verification") == "rejected":
        return RequestState(request_id, "rejected_at_intake", _moment(intake.timestamp), received)
    last_run = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": request_id}), limit=1)
    failed = bool(last_run) and last_run[0].dagster_run.status in (dg.DagsterRunStatus.FAILURE,
                                                                   dg.DagsterRunStatus.CANCELED)
    return RequestState(request_id, "failed" if failed else "unfinished", None, received)


def due_requests(instance: dg.DagsterInstance, partitions_name: str, window: timedelta,
                 now: datetime | None = None) -> list[RequestState]:
    """Every request past its retention window at `now`, in any state.

    A partition with no event at all gets one (a `dsar_request` observation) so that its clock
    starts; it is not due on this pass.
    """
    now = now or datetime.now(UTC)
    due = []
    for request_id in instance.get_dynamic_partitions(partitions_name):
        state = request_state(instance, request_id)
        if state.received_at is None and not state.closed:
            instance.report_runless_asset_event(dg.AssetObservation(
                asset_key="dsar_request", partition=request_id, metadata=FIRST_SEEN_MARK))
            continue
        if state.due(now, window):
            due.append(state)
    return due


def expired_requests(instance: dg.DagsterInstance, partitions_name: str, older_than: timedelta,
                     now: datetime | None = None) -> list[str]:
    """Ids of the requests past their retention window `older_than` at `now`, not purged yet."""
    return [state.request_id for state in due_requests(instance, partitions_name, older_than, now)]


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


def purge_request(instance: dg.DagsterInstance, request_id: str, *, store: WorkStore, work_root: Path,
                  s3_client: Any, package_bucket: str, trail: Any, partitions_name: str | None = None,
                  state: RequestState | None = None) -> PurgeReport:
    """Remove everything personal of one request and append one `purged` audit event with the
    state it was purged in (read from Dagster first when the caller did not pass it)."""
    state = state or request_state(instance, request_id)
    sealed = store.delete_prefix(request_id)
    local_dir = work_root / request_id
    local = sum(1 for p in local_dir.rglob("*") if p.is_file()) if local_dir.exists() else 0
    shutil.rmtree(local_dir, ignore_errors=True)
    packages = purge_package(s3_client, package_bucket, request_id)
    runs = 0
    for record in instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": request_id})):
        instance.delete_run(record.dagster_run.run_id)
        runs += 1
    removed = bool(partitions_name) and instance.has_dynamic_partition(partitions_name, request_id)
    if removed:
        instance.delete_dynamic_partition(partitions_name, request_id)  # type: ignore[arg-type]
    report = PurgeReport(request_id, sealed, local, packages, runs, removed, state.state)
    trail.append(request_id, "purged", {**state.evidence(), **report.evidence()})
    return report


def purge_rejected_tickets(client: Any, bucket: str, older_than: timedelta, now: datetime | None = None, *,
                           prefix: str = REJECTED_PREFIX, page_size: int = 500) -> int:
    """Delete rejected inbox tickets last modified more than `older_than` before `now`; returns how
    many. One listing page at a time, deleted as it is read, so the inbox is never held whole."""
    cutoff = (now or datetime.now(UTC)) - older_than
    deleted = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        old = [{"Key": item["Key"]} for item in page.get("Contents", []) if item["LastModified"] <= cutoff]
        if old:
            answer = client.delete_objects(Bucket=bucket, Delete={"Objects": old, "Quiet": True})
            deleted += len(old) - len(answer.get("Errors", []))
    return deleted
