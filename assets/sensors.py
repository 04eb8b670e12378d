"""Tickets start runs with no one watching: the inbox sensor, and the deadline watch.

The sensor adds one dynamic partition per accepted request and launches exactly one run per
ticket (run key = request id, so a re-delivered ticket starts nothing). Several new tickets in one
tick go out as batches: one run over a range of their partitions, so Dagster's per-run start-up is
paid once per batch. An invalid ticket is answered to the helpdesk with its reason and never stops
the sensor; neither does an unreachable inbox.
"""


import hashlib
import itertools
import math
import os
import re
from datetime import UTC, datetime

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError

from assets.jobs import dsar_request_job
from assets.partitions import requests_partitions
from dsar_pipeline.inbox import take_tickets
from dsar_pipeline.notify import send_status
from dsar_pipeline.resources import AuditResource, WorkStoreResource, aws_client, current_settings

SAFE_REF = re.compile(r"[^A-Za-z0-9._-]")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def batch_size() -> int:
    """Most requests one run carries."""
    return max(1, int(os.environ.get("DSAR_BATCH_SIZE", "50")))


def batch_runs() -> int:
    """Batched runs the deployment runs side by side (the `dsar/batch_size` limit of dagster.yaml)."""
    return max(1, int(os.environ.get("DSAR_BATCH_RUNS", "2")))


def batches(request_ids: list[str]) -> list[list[str]]:
    """The new requests cut into consecutive batches of near-equal size: enough batches to fill every
    run slot (a burst is served on all of them at once), in whole waves of `batch_runs()`, none larger
    than `batch_size()`. Fewer, larger runs pay Dagster's per-run and per-step start-up fewer times."""
    count, slots = len(request_ids), batch_runs()
    waves = math.ceil(count / (slots * batch_size())) if count else 0
    runs = min(count, slots * waves)
    bounds = [-(-index * count // runs) for index in range(runs + 1)] if runs else [0]
    return [request_ids[start:end] for start, end in itertools.pairwise(bounds)]


def run_requests_for(request_ids: list[str]) -> list[dg.RunRequest]:
    """One run per request, or one run per batch of consecutive new partitions."""
    runs = []
    for chunk in batches(request_ids):
        if len(chunk) == 1:
            runs.append(dg.RunRequest(run_key=chunk[0], partition_key=chunk[0]))
            continue
        key = "batch-" + hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:32]
        runs.append(dg.RunRequest(run_key=key, tags={RANGE_START: chunk[0], RANGE_END: chunk[-1],
                                                     "dsar/batch_size": str(len(chunk))}))
    return runs


@dg.sensor(job=dsar_request_job, minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING,
           description="New request tickets in the inbox: validate, add the request, launch its run.")
def ticket_inbox_sensor(context: dg.SensorEvaluationContext, work: WorkStoreResource,
                        audit: AuditResource) -> dg.SensorResult:
    settings = current_settings()
    try:
        client = aws_client("s3", settings, "DSAR_S3_ENDPOINT_URL")
        tick = take_tickets(client, settings, work.store(), work.key_provider())
    except (BotoCoreError, ClientError) as exc:
        return dg.SensorResult(skip_reason=f"inbox unreachable ({type(exc).__name__}); will try again")
    trail = audit.trail()
    for name, reason in tick.rejected:
        ref = SAFE_REF.sub("_", name.removesuffix(".json"))[:128] or "unnamed"
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        context.log.info(f"rejected inbox ticket #{digest}: {reason}")
        if not _callback(settings, "unknown", ref, "cancelled", reason=f"rejected: {reason}"):
            context.log.warning(f"helpdesk unreachable: rejection of ticket #{digest} not reported")
    new_ids = [rid for rid, _, _ in tick.accepted]
    for rid, controller, ticket_ref in tick.accepted:
        trail.append(rid, "received", {"received_at": datetime.now(UTC).replace(microsecond=0).isoformat()
                                       .replace("+00:00", "Z")})
        if not _callback(settings, controller, ticket_ref, "in_progress"):
            context.log.warning(f"helpdesk unreachable: progress of {rid} not reported")
    if not new_ids:
        return dg.SensorResult(skip_reason=f"no new tickets ({tick.duplicates} duplicates, "
                                           f"{len(tick.rejected)} rejected)")
    return dg.SensorResult(run_requests=run_requests_for(new_ids),
                           dynamic_partitions_requests=[requests_partitions.build_add_request(new_ids)])


def _callback(settings: dict[str, str], controller: str, ticket_ref: str, status: str,
              reason: str | None = None) -> bool:
    """Status to the helpdesk; a helpdesk that is down must not stop intake. False when not sent."""
    if not settings.get("DSAR_HELPDESK_CALLBACK_URL"):
        return False
    try:
        send_status(settings, controller=controller, subject_request_id=ticket_ref, status=status, reason=reason)
    except Exception:
        return False
    return True


defs = dg.Definitions(sensors=[ticket_inbox_sensor])
