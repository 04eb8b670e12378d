"""The DPO's two decisions on a request, and what binds an approval to the package it approves.

`release_scope` (before the package is built): whether the records waiting in review that the DPO
checked go into the package too; the sensor's runs build it with none of them.
`release_approval` (after the package is built): approve or reject *this* package. The approval
records the SHA-256 of every sealed object the package was built from (the review among them), of
the package file and of its manifest, in the audit trail and in its own output; delivery ships only
while all of them are unchanged, so re-materialising anything upstream voids it.

Who decides: `dpo_user` in the launchpad is a claim, not an identity. The embedded default has no
authentication and records the claim as such (`authenticated: false`); production takes the
DPO's identity from the authenticating proxy in front of the UI (see deploy/dpo-authentication.md).
"""

from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.dpo import DpoIdentityResource
from assets.partitions import requests_partitions, single_run
from assets.resources import AuditResource, WorkStoreResource
from dsar_pipeline.review.approval import Approval, Decision
from dsar_pipeline.review.binding import current_binding


class ScopeConfig(dg.Config):
    """Which records in review the DPO has checked and puts into the package (default: none).

    `include_review_records`: records reached through a weak identifier of the person (a shared
    e-mail or phone). `include_unbound_records`, a separate and deliberate choice: records reached
    only through an identifier the ticket *claims* and no record binds to the verified person;
    such a record may be a stranger's (an impostor typed in their customer number), so include it
    only after confirming it is the requester's by other means.
    """

    include_review_records: bool = False
    include_unbound_records: bool = False
    dpo_user: str = ""


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="review", kinds={"python"},
          deps=["review_findings"],
          description="Which records the package holds: those released, plus (on the DPO's word) those in review.")
def release_scope(context: dg.AssetExecutionContext, config: ScopeConfig, audit: AuditResource,
                  dpo: DpoIdentityResource) -> Any:
    chosen = {"include_review_records": config.include_review_records,
              "include_unbound_records": config.include_unbound_records}
    who = dpo.identify(context, config.dpo_user) if any(chosen.values()) else None
    trail = audit.trail() if who else None
    scopes = {}
    for request_id in context.partition_keys:
        if who and trail:
            trail.append(request_id, "reviewed", {**chosen, **who.evidence()})
        scopes[request_id] = dict(chosen)
    context.add_output_metadata(chosen)
    return scopes if len(scopes) > 1 else scopes[context.partition_key]


class ApprovalConfig(dg.Config):
    """The DPO's decision on the package as built: `pending`, `approve` or `reject`.

    `dpo_user` is the DPO's staff user id (lower-case letters, digits, `.`, `_`, `-`), never the
    data subject's data; where the deployment authenticates the DPO, that identity is used instead.
    """

    decision: str = "pending"
    dpo_user: str = ""


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="review", kinds={"python"},
          ins={"response_package": dg.AssetIn()},
          description="The DPO's decision on the package as built (pending until given in the launchpad); an "
                      "approval is bound to the hashes of the package and of everything it was built from.")
def release_approval(context: dg.AssetExecutionContext, config: ApprovalConfig, audit: AuditResource,
                     work: WorkStoreResource, dpo: DpoIdentityResource, response_package: Any) -> Any:
    try:
        decision = Decision(config.decision)
    except ValueError:
        raise dg.Failure("decision must be pending, approve or reject") from None
    who = dpo.identify(context, config.dpo_user) if decision is not Decision.PENDING else None
    trail, store = audit.trail(), work.store()

    def step(request_id: str, own: dict) -> Approval:
        if decision is Decision.PENDING or who is None:
            return Approval()
        if decision is Decision.REJECT:
            trail.append(request_id, "rejected", who.evidence())
            return Approval(Decision.REJECT, who.user, who.authenticated)
        binding = current_binding(store, request_id, own["response_package"])
        trail.append(request_id, "approved", {**who.evidence(), "package_sha256": binding.package_sha256,
                                              "manifest_sha256": binding.manifest_sha256,
                                              "review_sha256": binding.inputs["review_findings"],
                                              "inputs": dict(binding.inputs)})
        return Approval(Decision.APPROVE, who.user, who.authenticated, binding)

    return per_request(context, {"response_package": response_package}, step, describe=lambda a: {
        "decision": a.decision.value, "decided_by": a.decided_by, "authenticated": a.authenticated,
        "package_sha256": a.binding.package_sha256 if a.binding else "",
        "manifest_sha256": a.binding.manifest_sha256 if a.binding else ""})


defs = dg.Definitions(assets=[release_scope, release_approval])
