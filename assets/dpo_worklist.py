"""The DPO's desk in Dagster: `dpo_worklist`, every open request with its state and the action it
needs, most urgent first, and checks that flag what is overdue or due soon.

Built only from what Dagster already holds (opaque ids, controllers, dates, states, counts), so it
holds no personal value; the personal details stay in the sealed review bundle its links open.
Refreshed by the deadline watch (at least hourly) and after every request or decision run
(`worklist_refresh`); the DPO can also materialise it at any time.
"""


from datetime import UTC, date, datetime

import dagster as dg

from assets.resources import DeskResource, RunSettingsResource
from assets.status import latest_by_partition
from connectors.registry import systems
from dsar_pipeline.collection.collect import records_asset_name
from dsar_pipeline.intake.deadlines import controller_today
from dsar_pipeline.profiles import list_controllers
from dsar_pipeline.review.worklist import RequestSnapshot, WorkItem, Worklist, WorkState, build_worklist

COLUMNS = (("request_id", "string", "opaque request id (the partition)"),
           ("controller", "string", "the controller answering"),
           ("received", "date", "day of receipt, controller's local date"),
           ("due", "date", "statutory due date (extended where extended)"),
           ("days_left", "int", "calendar days to the due date, computed now (negative: late)"),
           ("state", "string", "overdue | awaiting_decision | incomplete | in_progress | rejected"),
           ("waiting_on", "string", "who or what the request waits for"),
           ("action", "string", "what the DPO does next"),
           ("reasons", "string", "why it waits (review reasons, refusal code)"))
DECISION_STATES = (WorkState.OVERDUE, WorkState.AWAITING_DECISION, WorkState.INCOMPLETE)
MAX_LINKS = 25
"""Review links put on the materialisation (the most urgent decisions first)."""


def snapshots(instance: dg.DagsterInstance) -> list[RequestSnapshot]:
    """Every request's state as Dagster recorded it."""
    intake = latest_by_partition(instance, "dsar_request")
    delivery = latest_by_partition(instance, "delivery")
    review = latest_by_partition(instance, "review_findings")
    per_system = {name: latest_by_partition(instance, records_asset_name(name)) for name in systems()}
    found = []
    for request_id in instance.get_dynamic_partitions("dsar_requests"):
        facts, intake_at = intake.get(request_id, ({}, 0.0))
        delivered, delivered_at = delivery.get(request_id, ({}, 0.0))
        failed = tuple(name for name, latest in per_system.items()
                       if latest.get(request_id, ({}, 0.0))[0].get("status") == "failed")
        found.append(RequestSnapshot(
            request_id=request_id, controller=str(facts.get("controller", "")),
            received=_day(facts.get("received_date")), due=_day(facts.get("due_date")),
            verification=str(facts.get("verification", "")), reason_code=str(facts.get("reason_code", "")),
            delivery_status=str(delivered.get("status", "")), failed_systems=failed,
            review_reasons=tuple(_reasons(review.get(request_id, ({}, 0.0))[0].get("reasons"))),
            last_event=datetime.fromtimestamp(max(intake_at, delivered_at), UTC).date()
            if max(intake_at, delivered_at) else None))
    return found


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _reasons(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def bundle_digests(instance: dg.DagsterInstance) -> dict[str, str]:
    """Request → SHA-256 of its sealed review bundle, as `review_findings` recorded it."""
    return {request_id: str(meta["review_bundle_sha256"])
            for request_id, (meta, _) in latest_by_partition(instance, "review_findings").items()
            if meta.get("review_bundle_sha256")}


def table(items: list[WorkItem]) -> dg.MetadataValue:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind, description) for name, kind, description in COLUMNS])
    return dg.MetadataValue.table(records=[dg.TableRecord(item.row()) for item in items], schema=schema)


def local_days(now: datetime) -> dict[str, date]:
    """Each controller's local date now: days left count on the controller's calendar."""
    return {controller: controller_today(controller, now) for controller in list_controllers()}


@dg.asset(group_name="dpo", kinds={"python"},
          check_specs=[
              dg.AssetCheckSpec("no_overdue_requests", asset="dpo_worklist",
                                description="no open request is past its due date"),
              dg.AssetCheckSpec("none_due_within_warning_days", asset="dpo_worklist",
                                description="no open request is due within DSAR_DEADLINE_WARNING_DAYS")],
          description="Every open request, its state and the action it needs, most urgent first (no personal "
                      "values: the review links open the sealed details).")
def dpo_worklist(context: dg.AssetExecutionContext, run_settings: RunSettingsResource, desk: DeskResource):
    now = datetime.now(UTC)
    worklist = build_worklist(snapshots(context.instance), local_days(now), now.date())
    digests = bundle_digests(context.instance)
    links = {f"review {item.request_id}": dg.MetadataValue.url(desk.review_link(item.request_id,
                                                                              digests[item.request_id]))
             for item in worklist.items if item.request_id in digests and item.state in DECISION_STATES}
    links = dict(list(links.items())[:MAX_LINKS])
    yield dg.MaterializeResult(metadata={
        "worklist": table(worklist.items), "open_requests": len(worklist.items),
        **{f"count_{state}": count for state, count in worklist.counts.items()},
        "refreshed_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), **links})
    yield from checks(worklist, run_settings.deadline_warning_days)


def checks(worklist: Worklist, warning_days: int) -> list[dg.AssetCheckResult]:
    overdue, soon = worklist.overdue(), worklist.due_within(warning_days)
    return [
        dg.AssetCheckResult(check_name="no_overdue_requests", passed=not overdue, severity=dg.AssetCheckSeverity.ERROR,
                            metadata={"overdue": len(overdue), "requests": ", ".join(i.request_id for i in overdue)}),
        dg.AssetCheckResult(check_name="none_due_within_warning_days", passed=not soon,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"due_soon": len(soon), "warning_days": warning_days,
                                      "requests": ", ".join(f"{i.request_id} ({i.days_left} d)" for i in soon)})]


dpo_worklist_job = dg.define_asset_job("dpo_worklist_job", selection=[dpo_worklist],
                                       description="Refresh the DPO's worklist.")

defs = dg.Definitions(assets=[dpo_worklist], jobs=[dpo_worklist_job])
