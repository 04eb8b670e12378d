"""A request's state as Dagster recorded it, for the purge (rules: `dsar_pipeline.retention.rules`), and
the purge of one request: its files (`dsar_pipeline.retention.erase`), its runs and its partition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from assets.status import latest_materialization, metadata_of
from dsar_pipeline.retention.erase import erase_request_files
from dsar_pipeline.retention.rules import CLOSED_STATES, PurgeReport, RequestState, state_code
from dsar_pipeline.sealing.workstore import WorkStore

FIRST_SEEN_MARK = {"purge_clock": "first_seen"}


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
        state = state_code(metadata_of(delivery).get("status"))
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


def purge_request(instance: dg.DagsterInstance, request_id: str, *, store: WorkStore, work_root: Path,
                  s3_client: Any, package_bucket: str, trail: Any, partitions_name: str | None = None,
                  state: RequestState | None = None) -> PurgeReport:
    """Remove everything personal of one request and append one `purged` audit event with the
    state it was purged in (read from Dagster first when the caller did not pass it)."""
    state = state or request_state(instance, request_id)
    sealed, local, packages = erase_request_files(request_id, store=store, work_root=work_root, s3_client=s3_client,
                                                  package_bucket=package_bucket)
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
