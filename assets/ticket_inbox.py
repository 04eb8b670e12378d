"""Tickets start runs with no one watching: the inbox sensor.

The sensor verifies each new ticket's evidence (`dsar_pipeline.intake.inbox`), adds one dynamic partition
per request and launches exactly one run per accepted ticket (run key = request id, so a
re-delivered ticket starts nothing). Several new tickets in one tick go out as batches: one run
over a range of their partitions, so Dagster's per-run start-up is paid once per batch. A request
whose evidence is rejected gets its partition and a `dsar_request` materialisation carrying the
verdict (the DPO sees it), the helpdesk gets the reason code, and no run starts. An invalid ticket
is answered to the helpdesk with its reason and never stops the sensor; neither does an
unreachable inbox.
"""


import hashlib
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError

from assets.environments import IN_PROCESS_RUN_CONFIG
from assets.jobs import dsar_request_job
from assets.partitions import requests_partitions
from assets.resources import AuditResource, DeliveryResource, InboxResource, RunSettingsResource, WorkStoreResource
from dsar_pipeline.delivery.notify import send_status
from dsar_pipeline.intake.batches import batches
from dsar_pipeline.intake.deadlines import deadline_for_ticket
from dsar_pipeline.intake.inbox import Intake, take_tickets
from dsar_pipeline.profiles import load_profile
from dsar_pipeline.signatures.verification import VerificationResult

SAFE_REF = re.compile(r"[^A-Za-z0-9._-]")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def run_requests_for(request_ids: list[str], run_settings: RunSettingsResource,
                     tags_of: Mapping[str, Mapping[str, str]] | None = None,
                     one_system: Collection[str] = ()) -> list[dg.RunRequest]:
    """One run per request, or one run per batch of consecutive new partitions (`DSAR_BATCH_SIZE`,
    `DSAR_BATCH_RUNS`: the `dsar/batch_size` limit of dagster.yaml). `tags_of` gives each request's
    filterable tags (`request_tags`); a batch carries a tag where its requests agree, else `mixed`.
    A run whose requests are all in `one_system` (their controller searches one system: no parallel
    branch) runs its steps in its own process (`IN_PROCESS_RUN_CONFIG`)."""
    runs = []
    for chunk in batches(request_ids, size=run_settings.batch_size, runs=run_settings.batch_runs):
        shared = merged_tags([dict((tags_of or {}).get(request_id, {})) for request_id in chunk])
        config = IN_PROCESS_RUN_CONFIG if all(request_id in one_system for request_id in chunk) else None
        if len(chunk) == 1:
            runs.append(dg.RunRequest(run_key=chunk[0], partition_key=chunk[0], tags=shared, run_config=config))
            continue
        key = "batch-" + hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:32]
        runs.append(dg.RunRequest(run_key=key, run_config=config,
                                  tags={**shared, RANGE_START: chunk[0], RANGE_END: chunk[-1],
                                        "dsar/batch_size": str(len(chunk))}))
    return runs


def request_tags(intake: Intake, received_at: datetime) -> dict[str, str]:
    """What the Runs view filters on: the controller and the ISO week the answer is due (never a
    personal value)."""
    due = deadline_for_ticket(received_at, intake.controller).effective_due_date
    year, week, _ = due.isocalendar()
    return {"dsar/controller": intake.controller, "dsar/due_week": f"{year}-W{week:02d}"}


def merged_tags(each: list[dict[str, str]]) -> dict[str, str]:
    names = {name for tags in each for name in tags}
    return {name: values.pop() if len(values := {tags.get(name, "") for tags in each}) == 1 else "mixed"
            for name in sorted(names)}


SENSOR_INTERVAL_S = 3
"""The inbox sensor's least interval. Dagster's daemon looks at its sensors every 5 s at most, so below that
every look evaluates it: a ticket waits 2.5 s on average before its run is created (at 10 s it waited 5 s, a
fifth of a request's time from ticket to delivery on the cluster). A tick with nothing new is one S3 listing
of the inbox prefix."""


@dg.sensor(job=dsar_request_job, minimum_interval_seconds=SENSOR_INTERVAL_S,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="New request tickets in the inbox: validate, add the request, launch its run.")
def ticket_inbox_sensor(context: dg.SensorEvaluationContext, work: WorkStoreResource, audit: AuditResource,
                        inbox: InboxResource, delivery_channels: DeliveryResource,
                        run_settings: RunSettingsResource) -> dg.SensorResult:
    settings = delivery_channels.settings()  # the helpdesk's callback address and key
    trail = audit.trail()
    try:
        tick = take_tickets(inbox.client("s3"), inbox.settings(), work.store(), work.key_provider(), replay=trail)
    except (BotoCoreError, ClientError) as exc:
        return dg.SensorResult(skip_reason=f"inbox unreachable ({type(exc).__name__}); will try again")
    for name, reason in tick.rejected:
        ref = SAFE_REF.sub("_", name.removesuffix(".json"))[:128] or "unnamed"
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        context.log.info(f"rejected inbox ticket #{digest}: {reason}")
        if not _callback(settings, "unknown", ref, "cancelled", reason=f"rejected: {reason}"):
            context.log.warning(f"helpdesk unreachable: rejection of ticket #{digest} not reported")
    if tick.failed:
        context.log.warning(f"{len(tick.failed)} tickets left in the inbox for the next tick "
                            f"({', '.join(sorted(set(tick.failed)))})")
    now = datetime.now(UTC).replace(microsecond=0)
    received_at = now.isoformat().replace("+00:00", "Z")
    for intake in [*tick.accepted, *tick.refused]:
        trail.append(intake.request_id, "received", {"received_at": received_at})
        trail.append(intake.request_id, "verified", verification_evidence(intake.verification))
    for intake in tick.accepted:
        if not _callback(settings, intake.controller, intake.ticket_ref, "in_progress"):
            context.log.warning(f"helpdesk unreachable: progress of {intake.request_id} not reported")
    for intake in tick.refused:
        code = intake.verification.reason_code
        context.log.info(f"request {intake.request_id} stopped at intake: evidence rejected ({code})")
        if not _callback(settings, intake.controller, intake.ticket_ref, "cancelled", reason=f"rejected: {code}"):
            context.log.warning(f"helpdesk unreachable: rejection of {intake.request_id} not reported")
    new_ids = [intake.request_id for intake in tick.accepted]
    all_ids = [intake.request_id for intake in [*tick.accepted, *tick.refused]]
    if not all_ids:
        return dg.SensorResult(skip_reason=f"no new tickets ({tick.duplicates} duplicates, "
                                           f"{len(tick.rejected)} rejected, {len(tick.failed)} left for the next tick)")
    tags_of = {intake.request_id: request_tags(intake, now) for intake in tick.accepted}
    one_system = {intake.request_id for intake in tick.accepted if len(load_profile(intake.controller).systems) == 1}
    return dg.SensorResult(run_requests=run_requests_for(new_ids, run_settings, tags_of, one_system),
                           dynamic_partitions_requests=[requests_partitions.build_add_request(all_ids)],
                           asset_events=[refusal(intake) for intake in tick.refused])


def verification_evidence(verdict: VerificationResult) -> dict[str, object]:
    """The verdict as audit evidence: codes, times and the container's digest, never its content."""
    facts = verdict.to_dict()
    return {key: facts[key] for key in ("status", "reason_code", "signatures", "signing_time_source",
                                        "revocation", "container_sha256", "mismatched_fields")
            if facts[key] not in (None, [], "")} | \
        ({"signing_time": verdict.signing_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
         if verdict.signing_time else {})


def refusal(intake: Intake) -> dg.AssetMaterialization:
    """The `dsar_request` partition of a request stopped at intake: its verdict, for the DPO's view."""
    verdict = intake.verification
    return dg.AssetMaterialization(asset_key="dsar_request", partition=intake.request_id, metadata={
        "controller": intake.controller, "verification": verdict.status.value, "reason_code": verdict.reason_code,
        "status": "rejected", "reason": verdict.reason})


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
