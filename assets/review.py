"""Review: sort what was found (release / DPO review / someone else's), find data held past its
retention period, and decide whether release needs the DPO's approval. The DPO approves in the UI
by materialising `release_approval` for the request with their decision (recorded in the audit trail).
"""


import re
from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.collection import records_asset_name
from assets.partitions import requests_partitions, single_run
from connectors.registry import systems
from dsar_pipeline.resources import AuditResource
from dsar_pipeline.review import ReviewOutcome, review

SYSTEM_INPUTS = {records_asset_name(name): dg.AssetIn() for name in systems()}


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="review", kinds={"python"},
          ins={"dsar_request": dg.AssetIn(), "subject_identities": dg.AssetIn(), **SYSTEM_INPUTS},
          description="What may be released, what waits for the DPO, retention findings, whether approval is needed.")
def review_findings(context: dg.AssetExecutionContext, audit: AuditResource, **inputs: object) -> Any:
    trail = audit.trail()

    def step(request_id: str, own: dict) -> ReviewOutcome:
        results = {name: own[records_asset_name(name)] for name in systems()}
        outcome = review(own["dsar_request"], own["subject_identities"], results)
        trail.append(request_id, "systems_queried", {
            "systems": {name: {"status": r.status.value, "records": len(r.records)} for name, r in results.items()}})
        trail.append(request_id, "reviewed", {"requires_approval": outcome.requires_approval,
                                              "reasons": outcome.reasons, **outcome.counts,
                                              "retention_findings": len(outcome.findings)})
        return outcome

    return per_request(context, inputs, step, describe=ReviewOutcome.public_summary)


DPO_USER = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


class ApprovalConfig(dg.Config):
    """The DPO's decision, given in the launchpad: `approve` or `reject`, and who decides.

    `dpo_user` is the DPO's staff user id (lower-case letters, digits, `.`, `_`, `-`), never the
    data subject's data; `include_review_records` releases the weak matches the DPO checked.
    """

    decision: str = "pending"
    dpo_user: str = ""
    include_review_records: bool = False


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="review", kinds={"python"},
          deps=[review_findings],
          description="The DPO's release decision for the request (pending until given in the launchpad).")
def release_approval(context: dg.AssetExecutionContext, config: ApprovalConfig, audit: AuditResource) -> dict:
    if config.decision not in ("pending", "approve", "reject"):
        raise dg.Failure("decision must be pending, approve or reject")
    if config.decision != "pending" and not DPO_USER.fullmatch(config.dpo_user.strip()):
        raise dg.Failure("dpo_user must be the DPO's user id (lower-case letters, digits, '.', '_', '-')")
    trail = audit.trail()
    decisions = {}
    for request_id in context.partition_keys:
        if config.decision != "pending":
            event = "approved" if config.decision == "approve" else "rejected"
            trail.append(request_id, event, {"decided_by": config.dpo_user.strip(),
                                             "include_review_records": config.include_review_records})
        decisions[request_id] = {"decision": config.decision, "include_review_records": config.include_review_records}
    context.add_output_metadata({"decision": config.decision, "decided_by": config.dpo_user.strip()})
    return decisions if len(decisions) > 1 else decisions[context.partition_key]


defs = dg.Definitions(assets=[review_findings, release_approval])
