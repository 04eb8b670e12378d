"""Erasing what a request left behind outside Dagster: its sealed objects, its local staging and
package files, its delivered package, and rejected inbox tickets past their window."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dsar_pipeline.delivery.send import purge_package
from dsar_pipeline.intake.inbox import REJECTED_PREFIX
from dsar_pipeline.sealing.workstore import WorkStore


def erase_request_files(request_id: str, *, store: WorkStore, work_root: Path, s3_client: Any,
                        package_bucket: str) -> tuple[int, int, int]:
    """Delete the request's sealed objects, local files and delivered package; the counts of each."""
    sealed = store.delete_prefix(request_id)
    local_dir = work_root / request_id
    local = sum(1 for p in local_dir.rglob("*") if p.is_file()) if local_dir.exists() else 0
    shutil.rmtree(local_dir, ignore_errors=True)
    packages = purge_package(s3_client, package_bucket, request_id)
    return sealed, local, packages


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
