"""After every request or decision run ends, the DPO's worklist is rebuilt (one refresh for all the
runs that ended since the last tick, so a campaign of a thousand runs does not launch a thousand)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from assets.dpo_worklist import dpo_worklist_job

WATCHED_JOBS = frozenset({"dsar_request_job", "approve_release", "reject_release", "release_with_reviewed_records"})
ENDED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


@dg.sensor(job=dpo_worklist_job, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Refresh the DPO's worklist after request and decision runs end.")
def worklist_refresh(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    since = float(context.cursor) if context.cursor else 0.0
    ended = context.instance.get_run_records(
        dg.RunsFilter(statuses=ENDED, updated_after=datetime.fromtimestamp(since, UTC) if since else None),
        limit=500, order_by="update_timestamp", ascending=True)
    ours = [r for r in ended if r.dagster_run.job_name in WATCHED_JOBS and r.update_timestamp.timestamp() > since]
    if not ours:
        return dg.SensorResult(skip_reason="no request or decision run ended since the last refresh",
                               cursor=context.cursor)
    latest = max(r.update_timestamp.timestamp() for r in ours)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"after-{latest:.6f}",
                                                       tags={"dsar/refreshed_by": "worklist_refresh"})],
                           cursor=f"{latest:.6f}")


defs = dg.Definitions(sensors=[worklist_refresh])
