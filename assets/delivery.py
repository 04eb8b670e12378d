"""Delivery: the gate, then the link by e-mail and the passphrase by SMS.

Never delivered automatically: an incomplete package (a system failed), anything that needs review
(weak matches, someone else's records, identity not verified) until the DPO approves, or a package
the DPO rejected. The outcome is the asset's `status` metadata: delivered | incomplete |
awaiting_review | rejected — the same word the DPO, the helpdesk and `dsar demo` see.
"""

from typing import Any

import dagster as dg

from assets.batching import per_request, request_threads
from assets.partitions import requests_partitions, single_run
from dsar_pipeline.delivery import deliver
from dsar_pipeline.notify import send_status
from dsar_pipeline.package.envelope import decrypt_bytes
from dsar_pipeline.resources import AuditResource, WorkStoreResource, aws_client, current_settings


def gate(review: Any, approval: dict[str, Any]) -> str:
    """What may happen to this request's package now."""
    decision = approval.get("decision", "pending")
    if decision == "reject":
        return "rejected"
    if decision == "approve":
        return "deliver"
    if review.failed_systems:
        return "incomplete"
    return "awaiting_review" if review.requires_approval else "deliver"


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="delivery", kinds={"s3"},
          ins={"dsar_request": dg.AssetIn(), "review_findings": dg.AssetIn(), "release_approval": dg.AssetIn(),
               "response_package": dg.AssetIn()},
          description="Upload with SSE-KMS, link by e-mail, passphrase by SMS — only when the gate allows.")
def delivery(context: dg.AssetExecutionContext, work: WorkStoreResource, audit: AuditResource,
             **inputs: Any) -> Any:
    settings = current_settings()
    keys, store, trail = work.key_provider(), work.store(), audit.trail()
    client = aws_client("s3", settings, "DSAR_S3_ENDPOINT_URL")

    def step(request_id: str, own: dict) -> dict[str, Any]:
        facts, package = own["dsar_request"], own["response_package"]
        state = gate(own["review_findings"], own["release_approval"])
        if state != "deliver":
            _tell_helpdesk(settings, facts, "in_progress" if state != "rejected" else "cancelled", state)
            return {"status": state}
        passphrase = decrypt_bytes(store.get(f"{request_id}/passphrase.sealed"), keys,
                                   {"request": request_id, "asset": "passphrase"}).decode()
        evidence = deliver(client, settings, request_id=request_id, package=package.path, passphrase=passphrase,
                           email=facts.delivery_email, phone=facts.delivery_phone, language=facts.language,
                           cdoc=package.cdoc_path)
        trail.append(request_id, "delivered", {"package_sha256": evidence.sha256, "size": evidence.size,
                                               "complete": package.complete})
        _tell_helpdesk(settings, facts, "completed", "delivered")
        return {"status": "delivered", **evidence.public()}

    return per_request(context, inputs, step, workers=request_threads(),
                       describe=lambda r: {k: v for k, v in r.items() if isinstance(v, str | int | bool)})


def _tell_helpdesk(settings: dict[str, str], facts: Any, status: str, reason: str) -> None:
    if not settings.get("DSAR_HELPDESK_CALLBACK_URL"):
        return
    send_status(settings, controller=facts.controller, subject_request_id=facts.subject_request_id, status=status,
                due=facts.due_date, reason=reason)


defs = dg.Definitions(assets=[delivery])
