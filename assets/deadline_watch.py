"""The statutory clock: flag requests near or past their due date that are not yet delivered.

Reads only what Dagster already holds (each request's due date in the `dsar_request` metadata, the
`delivery` status) and records an observation per flagged request, which the DPO sees on the
request's partition; the days left are recomputed daily.
"""

from datetime import UTC, date, datetime

import dagster as dg

from assets.partitions import requests_partitions
from assets.resources import RunSettingsResource
from assets.status import latest_metadata
from dsar_pipeline.intake.deadlines import controller_today, deadline_state


@dg.sensor(minimum_interval_seconds=6 * 3600, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests near or past their statutory due date and not delivered yet.")
def deadline_watch(context: dg.SensorEvaluationContext, run_settings: RunSettingsResource) -> dg.SensorResult:
    now = datetime.now(UTC)
    observations = []
    for request_id in context.instance.get_dynamic_partitions(requests_partitions.name):
        facts = latest_metadata(context.instance, "dsar_request", request_id)
        if "due_date" not in facts:
            continue
        if latest_metadata(context.instance, "delivery", request_id).get("status") == "delivered":
            continue
        due = date.fromisoformat(str(facts["due_date"]))
        today = controller_today(str(facts["controller"]), now) if facts.get("controller") else now.date()
        state = deadline_state(due, today, warning_days=run_settings.deadline_warning_days)
        if state:
            observations.append(dg.AssetObservation(
                asset_key="dsar_request", partition=request_id,
                metadata={"deadline": state, "days_left": (due - today).days, "due_date": due.isoformat()}))
            context.log.warning(f"request {request_id} is {state.replace('_', ' ')}: due {due.isoformat()}")
    return dg.SensorResult(asset_events=observations, skip_reason=None if observations else "no deadline concerns")


defs = dg.Definitions(sensors=[deadline_watch])
