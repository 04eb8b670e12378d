"""The statutory clock: flag requests near or past their due date that are not yet delivered, and
refresh the DPO's worklist, at least hourly.

Reads only what Dagster already holds (each request's due date in the `dsar_request` metadata, the
`delivery` status) and records an observation per flagged request, which the DPO sees on the
request's partition. Days left are computed at each tick on the controller's local date, never
taken from intake.
"""

from datetime import UTC, date, datetime

import dagster as dg

from assets.dpo_worklist import dpo_worklist_job
from assets.partitions import requests_partitions
from assets.resources import RunSettingsResource
from assets.status import latest_by_partition
from dsar_pipeline.intake.deadlines import controller_today, deadline_state

TICK_SECONDS = 3600


@dg.sensor(job=dpo_worklist_job, minimum_interval_seconds=TICK_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests near or past their statutory due date and not delivered yet; refreshes the "
                       "DPO's worklist.")
def deadline_watch(context: dg.SensorEvaluationContext, run_settings: RunSettingsResource) -> dg.SensorResult:
    now = datetime.now(UTC)
    observations = []
    intake = latest_by_partition(context.instance, "dsar_request")
    delivery = latest_by_partition(context.instance, "delivery")
    for request_id in context.instance.get_dynamic_partitions(requests_partitions.name):
        facts = intake.get(request_id, ({}, 0.0))[0]
        if "due_date" not in facts or delivery.get(request_id, ({}, 0.0))[0].get("status") == "delivered":
            continue
        due = date.fromisoformat(str(facts["due_date"]))
        today = controller_today(str(facts["controller"]), now) if facts.get("controller") else now.date()
        state = deadline_state(due, today, warning_days=run_settings.deadline_warning_days)
        if state:
            observations.append(dg.AssetObservation(
                asset_key="dsar_request", partition=request_id,
                metadata={"deadline": state, "days_left": (due - today).days, "due_date": due.isoformat()}))
            context.log.warning(f"request {request_id} is {state.replace('_', ' ')}: due {due.isoformat()}")
    return dg.SensorResult(run_requests=[dg.RunRequest(tags={"dsar/refreshed_by": "deadline_watch"})],
                           asset_events=observations)


defs = dg.Definitions(sensors=[deadline_watch])
