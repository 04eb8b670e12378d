"""Delivery: the release rules, then the link by e-mail and the passphrase by SMS
(`dsar_pipeline.delivery.release`); every release is anchored in the audit trail at once."""

from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.io_manager import load_stored
from assets.partitions import requests_partitions, single_run
from assets.request_checks import Verdict, check_result
from assets.resources import AuditResource, DeliveryResource, RunSettingsResource, WorkStoreResource
from dsar_pipeline.delivery.release import DeliveryDesk
from dsar_pipeline.review.approval import Approval


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="delivery", kinds={"s3"},
          ins={"dsar_request": dg.AssetIn(), "review_findings": dg.AssetIn(), "response_package": dg.AssetIn()},
          deps=["release_approval"],
          check_specs=[dg.AssetCheckSpec("delivered", asset="delivery", partitions_def=requests_partitions,
                                         description="the package reached the person (a warning while it waits "
                                                     "for the DPO, an error when incomplete)")],
          description="Upload with SSE-KMS, link by e-mail, passphrase by SMS — only when the release rules allow.")
def delivery(context: dg.AssetExecutionContext, work: WorkStoreResource, audit: AuditResource,
             delivery_channels: DeliveryResource, run_settings: RunSettingsResource, **inputs: Any) -> Any:
    desk = DeliveryDesk(store=work.store(), keys=work.key_provider(), trail=audit.trail(),
                        settings=delivery_channels.settings(), client=delivery_channels.client("s3"))

    def step(request_id: str, own: dict) -> dict[str, Any]:
        approval: Approval = load_stored(context.instance, work, request_id, "release_approval") or Approval()
        return desk.release(request_id, own["dsar_request"], own["response_package"], own["review_findings"],
                            approval)

    result = per_request(context, inputs, step, workers=run_settings.threads(),
                         describe=lambda r: {k: v for k, v in r.items() if isinstance(v, str | int | bool)})
    outcomes = result if len(context.partition_keys) > 1 else {context.partition_key: result}
    states = {key: o.get("status", "failed") if isinstance(o, dict) else "failed" for key, o in outcomes.items()}
    if "delivered" in states.values():
        _anchor(context, audit)
    tag_run_state(context, states)
    yield dg.Output(result)
    yield check_result(context, "delivered", {key: delivered(state) for key, state in states.items()})


STATE_ORDER = ("failed", "incomplete", "awaiting_review", "rejected", "delivered")
"""Worst first: the run's `dsar/state` tag is its worst request's state."""


def delivered(state: str) -> Verdict:
    """Passed only when delivered. Waiting for the DPO or refused by them: a warning; otherwise an error."""
    if state == "delivered":
        return Verdict(True, metadata={"state": state})
    severity = dg.AssetCheckSeverity.WARN if state in ("awaiting_review", "rejected") else dg.AssetCheckSeverity.ERROR
    return Verdict(False, severity, {"state": state})


def tag_run_state(context: dg.AssetExecutionContext, states: dict[str, str]) -> None:
    """The run says how its requests ended (`dsar/state`, and a count per state in a batch): a run
    whose request waits or is incomplete must not read as a plain success in the Runs view."""
    worst = min(states.values(), key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else 0)
    tags = {"dsar/state": worst}
    if len(states) > 1:
        tags |= {f"dsar/{state}": str(list(states.values()).count(state)) for state in set(states.values())}
    context.instance.add_run_tags(context.run.run_id, tags)


def _anchor(context: dg.AssetExecutionContext, audit: AuditResource) -> None:
    """Every release is anchored outside the database at once (the daily anchor catches a miss)."""
    try:
        audit.anchor()
    except Exception as exc:  # the package is out; a missed anchor must not hide that, the daily one follows
        context.log.warning(f"audit anchor after delivery not written ({type(exc).__name__}); the daily one follows")


defs = dg.Definitions(assets=[delivery])
