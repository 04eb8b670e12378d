"""Daily purge of requests past their retention window (DSAR_PURGE_AFTER_DAYS, default 30)."""

import os
from datetime import timedelta

import dagster as dg

from assets.package import work_root
from assets.partitions import requests_partitions
from dsar_pipeline.purge import expired_requests, purge_request
from dsar_pipeline.resources import AuditResource, WorkStoreResource, aws_client, current_settings


@dg.op(description="Purge packages, intermediates and runs of requests delivered longer ago than the window.")
def purge_expired_requests(context: dg.OpExecutionContext, work: WorkStoreResource, audit: AuditResource) -> None:
    days = int(os.environ.get("DSAR_PURGE_AFTER_DAYS", "30"))
    settings = current_settings()
    trail = audit.trail()
    client = aws_client("s3", settings, "DSAR_S3_ENDPOINT_URL")
    for request_id in expired_requests(context.instance, requests_partitions.name, timedelta(days=days)):
        if any(event.event_type == "purged" for event in trail.events(request_id)):
            continue
        report = purge_request(context.instance, request_id, store=work.store(), work_root=work_root(),
                               s3_client=client, package_bucket=settings["DSAR_PACKAGE_BUCKET"], trail=trail,
                               partitions_name=requests_partitions.name)
        context.log.info(f"purged {request_id}: {report.evidence()}")


@dg.job(description="Purge requests past their retention window, keeping only non-personal evidence.")
def purge_job() -> None:
    purge_expired_requests()


purge_schedule = dg.ScheduleDefinition(job=purge_job, cron_schedule="30 3 * * *",
                                       default_status=dg.DefaultScheduleStatus.RUNNING)

defs = dg.Definitions(jobs=[purge_job], schedules=[purge_schedule])
