"""Review: sort what was found (release / DPO review / someone else's), find data held past its
retention period, and decide whether release needs the DPO's approval (`assets.release` takes it).

A request that needs a decision gets its review bundle (`dsar_pipeline.review.bundle`): every record
under review with why and through which identifiers it was reached, the draft letter with each
statement's source, what would be released and what held; sealed in the work store for the DPO.
Its materialisation links to it (the review desk opens it) and records the bundle's SHA-256, which
the decision must name.
"""

import dataclasses
from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.partitions import requests_partitions, single_run
from assets.resources import AuditResource, DeskResource, WorkStoreResource
from connectors.registry import systems
from dsar_pipeline.collection.collect import records_asset_name
from dsar_pipeline.review.binding import sealed_digest
from dsar_pipeline.review.bundle import build_review_bundle, bundle_key, seal_review_bundle
from dsar_pipeline.review.findings import ReviewOutcome, review

REVIEWED_INPUTS = ("dsar_request", "subject_identities", *(records_asset_name(name) for name in systems()))

SYSTEM_INPUTS = {records_asset_name(name): dg.AssetIn() for name in systems()}


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="review", kinds={"python"},
          ins={"dsar_request": dg.AssetIn(), "subject_identities": dg.AssetIn(), **SYSTEM_INPUTS},
          description="What may be released, what waits for the DPO, retention findings, whether approval is needed.")
def review_findings(context: dg.AssetExecutionContext, audit: AuditResource, work: WorkStoreResource,
                    desk: DeskResource, **inputs: object) -> Any:
    trail, store, keys = audit.trail(), work.store(), work.key_provider()
    links: dict[str, dict[str, Any]] = {}

    def step(request_id: str, own: dict) -> ReviewOutcome:
        results = {name: own[records_asset_name(name)] for name in systems()}
        outcome = review(own["dsar_request"], own["subject_identities"], results)
        if outcome.requires_approval:
            shown = {name: sealed_digest(store, request_id, name) for name in REVIEWED_INPUTS}
            document = build_review_bundle(own["dsar_request"], own["subject_identities"], results, outcome,
                                           bound_inputs=shown)
            outcome = dataclasses.replace(outcome, review_bundle_sha256=seal_review_bundle(store, keys, request_id,
                                                                                           document))
            links[outcome.review_bundle_sha256] = bundle_links(work, desk, request_id, outcome.review_bundle_sha256)
        else:
            store.delete_prefix(bundle_key(request_id))  # a bundle of an earlier review shows what no longer holds
        trail.append(request_id, "systems_queried", {
            "systems": {name: {"status": r.status.value, "records": len(r.records)} for name, r in results.items()}})
        trail.append(request_id, "reviewed", {"requires_approval": outcome.requires_approval,
                                              "reasons": outcome.reasons, **outcome.counts,
                                              "retention_findings": len(outcome.findings)})
        return outcome

    return per_request(context, inputs, step, describe=lambda outcome: {
        **outcome.public_summary(), **links.get(outcome.review_bundle_sha256, {})})


def bundle_links(work: WorkStoreResource, desk: DeskResource, request_id: str, sha256: str) -> dict[str, Any]:
    """A short-lived review link; in the embedded default also the sealed file's local path."""
    found: dict[str, Any] = {"review_link": dg.MetadataValue.url(desk.review_link(request_id, sha256))}
    if work.kind == "local":
        found["review_bundle_path"] = dg.MetadataValue.path(str(work.work_root() / bundle_key(request_id)))
    return found


defs = dg.Definitions(assets=[review_findings])
