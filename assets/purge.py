"""Daily purge: requests past their retention window in every state, and old rejected inbox
tickets (rules: `dsar_pipeline.retention.rules`; window DSAR_PURGE_AFTER_DAYS, default 30).

Idempotent by construction: a purged request loses its partition, so the next pass does not list
it; a deleted ticket is not listed either. Logs carry request ids, states and counts only.
"""

from datetime import UTC, datetime

import dagster as dg

from assets.partitions import requests_partitions
from assets.request_records import due_requests, purge_request
from assets.resources import AuditResource, DeliveryResource, InboxResource, RunSettingsResource, WorkStoreResource
from dsar_pipeline.retention.erase import purge_rejected_tickets


@dg.op(description="Purge packages, intermediates, runs and partitions of requests past their retention window, "
                   "whatever their state.")
def purge_expired_requests(context: dg.OpExecutionContext, work: WorkStoreResource, audit: AuditResource,
                           delivery_channels: DeliveryResource, run_settings: RunSettingsResource) -> None:
    window, now = run_settings.purge_window(), datetime.now(UTC)
    trail = audit.trail()
    client = delivery_channels.client("s3")
    failed: list[str] = []
    due = due_requests(context.instance, requests_partitions.name, window, now)
    for state in due:
        # One request that cannot be purged now (a store hiccup) must not keep the others: it is
        # still listed tomorrow, and the op fails at the end so that the miss is seen.
        try:
            report = purge_request(context.instance, state.request_id, store=work.store(), work_root=work.work_root(),
                                   s3_client=client, package_bucket=delivery_channels.package_bucket, trail=trail,
                                   partitions_name=requests_partitions.name, state=state)
        except Exception as exc:
            failed.append(state.request_id)
            context.log.error(f"purge of {state.request_id} failed ({type(exc).__name__}); retried next pass")
            continue
        context.log.info(f"purged {state.request_id} ({report.state}): {report.evidence()}")
    context.log.info(f"purge pass: {len(due) - len(failed)} purged, {len(failed)} failed")
    if failed:
        raise dg.Failure(description=f"{len(failed)} request(s) not purged", metadata={"failed": len(failed)})


@dg.op(description="Delete rejected inbox tickets older than the retention window.")
def purge_rejected_inbox_tickets(context: dg.OpExecutionContext, inbox: InboxResource,
                                 run_settings: RunSettingsResource) -> None:
    deleted = purge_rejected_tickets(inbox.client("s3"), inbox.inbox_bucket, run_settings.purge_window())
    context.log.info(f"rejected inbox tickets deleted: {deleted}")


@dg.job(description="Purge requests past their retention window in every state, and old rejected inbox tickets, "
                    "keeping only non-personal evidence.")
def purge_job() -> None:
    purge_expired_requests()
    purge_rejected_inbox_tickets()


purge_schedule = dg.ScheduleDefinition(job=purge_job, cron_schedule="30 3 * * *",
                                       default_status=dg.DefaultScheduleStatus.RUNNING)

defs = dg.Definitions(jobs=[purge_job], schedules=[purge_schedule])
