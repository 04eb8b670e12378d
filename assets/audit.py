"""Anchoring the audit trail on a schedule: the chain's head, signed, into the locked work bucket.

Why a daily job besides the anchor after each delivery: events that follow the newest anchor are
only as safe as the database, so the unanchored window is bounded to a day even when nothing is
delivered. The domain work is `dsar_pipeline.audit.anchor.anchor_head`; this is only its
Dagster wiring (merged into `definitions.py` as `audit.defs`).
"""

import dagster as dg

from assets.resources import AuditResource


@dg.op(description="Sign the audit chain's head and store it under S3 Object Lock and in dsar_audit_anchors.")
def anchor_audit_head(context: dg.OpExecutionContext, audit: AuditResource) -> None:
    anchor = audit.anchor()
    context.log.info(f"anchored audit event {anchor.seq} with key {anchor.key_fingerprint}")


@dg.job(description="Anchor the audit trail's head now (the daily schedule runs it).")
def audit_anchor_job() -> None:
    anchor_audit_head()


audit_anchor_schedule = dg.ScheduleDefinition(
    name="audit_anchor_daily",
    job=audit_anchor_job,
    cron_schedule="15 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At least one signed, locked anchor of the audit chain per day.",
)

defs = dg.Definitions(jobs=[audit_anchor_job], schedules=[audit_anchor_schedule])
