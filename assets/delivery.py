"""Delivery: the release rules, then the link by e-mail and the passphrase by SMS.

Never delivered automatically: an incomplete package (a system failed), anything that needs review
(weak or unbound matches, someone else's records, identity not verified) until the DPO approves
*this* package, or a package the DPO rejected (`intake.approval.delivery_gate`). The outcome is the
asset's `status` metadata: delivered | incomplete | awaiting_review | rejected — the same word the
DPO, the helpdesk and `dsar demo` see — and `gate_reason` says why.
"""

from typing import Any

import dagster as dg

from assets.batching import per_request, request_threads
from assets.io_manager import load_stored
from assets.package import PASSPHRASE_OBJECT
from assets.partitions import requests_partitions, single_run
from assets.release import current_binding
from assets.resources import AuditResource, WorkStoreResource, aws_client, current_settings
from dsar_pipeline.delivery.notify import send_status
from dsar_pipeline.delivery.send import deliver
from dsar_pipeline.review.approval import Approval, Decision, DeliveryState, delivery_gate
from dsar_pipeline.sealing.envelope import decrypt_bytes


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="delivery", kinds={"s3"},
          ins={"dsar_request": dg.AssetIn(), "review_findings": dg.AssetIn(), "response_package": dg.AssetIn()},
          deps=["release_approval"],
          description="Upload with SSE-KMS, link by e-mail, passphrase by SMS — only when the release rules allow.")
def delivery(context: dg.AssetExecutionContext, work: WorkStoreResource, audit: AuditResource,
             **inputs: Any) -> Any:
    settings = current_settings()
    keys, store, trail = work.key_provider(), work.store(), audit.trail()
    client = aws_client("s3", settings, "DSAR_S3_ENDPOINT_URL")

    def step(request_id: str, own: dict) -> dict[str, Any]:
        facts, package, review = own["dsar_request"], own["response_package"], own["review_findings"]
        approval: Approval = load_stored(work, request_id, "release_approval") or Approval()
        current = current_binding(store, request_id, package) if approval.decision is Decision.APPROVE else None
        verdict = delivery_gate(requires_approval=review.requires_approval, failed_systems=review.failed_systems,
                                approval=approval, current=current)
        if verdict.state is not DeliveryState.DELIVER:
            if verdict.reason == "approval_void":
                trail.append(request_id, "failed", {"stage": "delivery", "reason": "approval_void",
                                                    "changed": list(verdict.changed)})
            cancelled = verdict.state is DeliveryState.REJECTED
            _tell_helpdesk(settings, facts, "cancelled" if cancelled else "in_progress", verdict.state.value)
            return {"status": verdict.state.value, "gate_reason": verdict.reason,
                    "changed": ", ".join(verdict.changed)}
        passphrase_key = f"{request_id}/{PASSPHRASE_OBJECT}"
        passphrase = decrypt_bytes(store.get(passphrase_key), keys,
                                   {"request": request_id, "asset": "passphrase"}).decode()
        evidence = deliver(client, settings, request_id=request_id, package=package.path, passphrase=passphrase,
                           email=facts.delivery_email, phone=facts.delivery_phone, language=facts.language,
                           cdoc=package.cdoc_path, package_sha256=package.sha256)
        store.delete_prefix(passphrase_key)  # the SMS gateway has it (or the CDOC copy needs none): gone here
        trail.append(request_id, "delivered", {"package_sha256": evidence.sha256, "size": evidence.size,
                                               "manifest_sha256": package.manifest_sha256,
                                               "complete": package.complete, "gate_reason": verdict.reason,
                                               "cdoc": evidence.cdoc_key is not None})
        _tell_helpdesk(settings, facts, "completed", "delivered")
        return {"status": "delivered", "gate_reason": verdict.reason, **evidence.public()}

    result = per_request(context, inputs, step, workers=request_threads(),
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


def _tell_helpdesk(settings: dict[str, str], facts: Any, status: str, reason: str) -> None:
    if not settings.get("DSAR_HELPDESK_CALLBACK_URL"):
        return
    send_status(settings, controller=facts.controller, subject_request_id=facts.subject_request_id, status=status,
                due=facts.due_date, reason=reason)


defs = dg.Definitions(assets=[delivery])
