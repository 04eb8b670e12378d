"""Review: sort what was found (release / DPO review / someone else's), find data held past its
retention period, and decide whether release needs the DPO's approval (`assets.release` takes it).
"""


from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.partitions import requests_partitions, single_run
from assets.resources import AuditResource
from connectors.registry import systems
from dsar_pipeline.collection.collect import records_asset_name
from dsar_pipeline.review.findings import ReviewOutcome, review

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


defs = dg.Definitions(assets=[review_findings])
