"""Purge a request after its retention window: the delivered package, every sealed intermediate,
the local staging and package files, the runs that carried only this request, and its partition.

What stays is non-personal evidence: the hash-chained audit trail (hashes, counts, timestamps)
with a `purged` event saying what was removed, and — in Dagster — the metadata-only events of
batched runs that also carried other requests. The partition goes so that what is listed per
request (the daily purge, the deadline watch, per-partition metadata of a batch) stays as large as
the retention window, not as the number of requests ever answered.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from dsar_pipeline.delivery import purge_package
from dsar_pipeline.status import latest_materialization, metadata_of
from dsar_pipeline.workstore import WorkStore


@dataclass
class PurgeReport:
    request_id: str
    sealed_objects: int
    local_files: int
    package_objects: int
    runs: int
    partition_removed: bool = False

    def evidence(self) -> dict[str, int]:
        return {"sealed_objects": self.sealed_objects, "local_files": self.local_files,
                "package_objects": self.package_objects, "runs": self.runs,
                "partition_removed": int(self.partition_removed)}


def purge_request(instance: dg.DagsterInstance, request_id: str, *, store: WorkStore, work_root: Path,
                  s3_client: Any, package_bucket: str, trail: Any, partitions_name: str | None = None) -> PurgeReport:
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
    report = PurgeReport(request_id, sealed, local, packages, runs, removed)
    trail.append(request_id, "purged", report.evidence())
    return report


def expired_requests(instance: dg.DagsterInstance, partitions_name: str, older_than: timedelta,
                     now: datetime | None = None) -> list[str]:
    """Requests delivered (or rejected) longer ago than `older_than`, not purged yet."""
    cutoff = (now or datetime.now(UTC)) - older_than
    expired = []
    for request_id in instance.get_dynamic_partitions(partitions_name):
        record = latest_materialization(instance, "delivery", request_id)
        if record is None:
            continue
        status = metadata_of(record).get("status")
        when = datetime.fromtimestamp(record.timestamp, UTC)
        if status in ("delivered", "rejected") and when < cutoff:
            expired.append(request_id)
    return expired
