"""Delivery: the release rules, then the link by e-mail and the passphrase by SMS
(`dsar_pipeline.delivery.release`); every release is anchored in the audit trail at once."""

from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.io_manager import load_stored
from assets.partitions import requests_partitions, single_run
from assets.resources import AuditResource, DeliveryResource, RunSettingsResource, WorkStoreResource
from dsar_pipeline.delivery.release import DeliveryDesk
from dsar_pipeline.review.approval import Approval


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="delivery", kinds={"s3"},
          ins={"dsar_request": dg.AssetIn(), "review_findings": dg.AssetIn(), "response_package": dg.AssetIn()},
          deps=["release_approval"],
          description="Upload with SSE-KMS, link by e-mail, passphrase by SMS — only when the release rules allow.")
def delivery(context: dg.AssetExecutionContext, work: WorkStoreResource, audit: AuditResource,
             delivery_channels: DeliveryResource, run_settings: RunSettingsResource, **inputs: Any) -> Any:
    desk = DeliveryDesk(store=work.store(), keys=work.key_provider(), trail=audit.trail(),
                        settings=delivery_channels.settings(), client=delivery_channels.client("s3"))

    def step(request_id: str, own: dict) -> dict[str, Any]:
        approval: Approval = load_stored(work, request_id, "release_approval") or Approval()
        return desk.release(request_id, own["dsar_request"], own["response_package"], own["review_findings"],
                            approval)

    result = per_request(context, inputs, step, workers=run_settings.threads(),
                         describe=lambda r: {k: v for k, v in r.items() if isinstance(v, str | int | bool)})
    outcomes = result.values() if len(context.partition_keys) > 1 else [result]
    if any(isinstance(o, dict) and o.get("status") == "delivered" for o in outcomes):
        _anchor(context, audit)
    return result


def _anchor(context: dg.AssetExecutionContext, audit: AuditResource) -> None:
    """Every release is anchored outside the database at once (the daily anchor catches a miss)."""
    try:
        audit.anchor()
    except Exception as exc:  # the package is out; a missed anchor must not hide that, the daily one follows
        context.log.warning(f"audit anchor after delivery not written ({type(exc).__name__}); the daily one follows")


defs = dg.Definitions(assets=[delivery])
