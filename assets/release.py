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

import hmac
from typing import Any

import dagster as dg
from pydantic import Field

from assets.batching import per_request
from assets.decisions import JOB_DECISIONS
from assets.dpo import DpoIdentityResource
from assets.partitions import requests_partitions, single_run
from assets.resources import AuditResource, WorkStoreResource
from dsar_pipeline.review.approval import Approval, Decision
from dsar_pipeline.review.binding import REVIEW_BUNDLE, current_binding, sealed_digest


class ScopeConfig(dg.Config):
    """Which records in review the DPO has checked and puts into the package (default: none).

    `include_review_records`: records reached through a weak identifier of the person (a shared
    e-mail or phone). `include_unbound_records`, a separate and deliberate choice: records reached
    only through an identifier the ticket *claims* and no record binds to the verified person;
    such a record may be a stranger's (an impostor typed in their customer number), so include it
    only after confirming it is the requester's by other means.
    """

    include_review_records: bool = Field(default=False, description=(
        "Put the records in review that were reached through a weak identifier (shared e-mail or phone) into "
        "the package."))
    include_unbound_records: bool = Field(default=False, description=(
        "Also put records reached only through an identifier the ticket claims and no record binds to the "
        "verified person: they may be a stranger's. Only after confirming by other means."))
    dpo_user: str = Field(default="", description="The DPO's staff user id (never the data subject's data).")
    review_bundle_sha256: str = Field(default="", description=(
        "SHA-256 of the review bundle the decision was taken on (the review link fills it in; the worklist "
        "and review_findings show it). A bundle rebuilt since then refuses the decision."))


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="review", kinds={"python"},
          deps=["review_findings"],
          description="Which records the package holds: those released, plus (on the DPO's word) those in review.")
def release_scope(context: dg.AssetExecutionContext, config: ScopeConfig, audit: AuditResource,
                  work: WorkStoreResource, dpo: DpoIdentityResource) -> Any:
    chosen = {"include_review_records": config.include_review_records,
              "include_unbound_records": config.include_unbound_records}
    deciding = any(chosen.values())
    if deciding:
        one_request(context)
    who = dpo.identify(context, config.dpo_user) if deciding else None
    trail = audit.trail() if who else None
    scopes = {}
    for request_id in context.partition_keys:
        if who and trail:
            shown = shown_bundle(work, request_id, config.review_bundle_sha256)
            trail.append(request_id, "reviewed", {**chosen, **who.evidence(), "review_bundle_sha256": shown})
        scopes[request_id] = dict(chosen)
    context.add_output_metadata(chosen)
    return scopes if len(scopes) > 1 else scopes[context.partition_key]


class ApprovalConfig(dg.Config):
    """The DPO's decision on the package as built: PENDING, APPROVE or REJECT.

    `dpo_user` is the DPO's staff user id (lower-case letters, digits, `.`, `_`, `-`), never the
    data subject's data; where the deployment authenticates the DPO, that identity is used instead.
    """

    decision: Decision = Field(default=Decision.PENDING, description=(
        "PENDING (no decision yet), APPROVE (deliver this package as built) or REJECT (never deliver it)."))
    dpo_user: str = Field(default="", description="The DPO's staff user id (never the data subject's data).")
    review_bundle_sha256: str = Field(default="", description=(
        "SHA-256 of the review bundle the decision was taken on (the review link fills it in). An approval "
        "of a request that has a bundle needs it, and is refused when the bundle was rebuilt since."))


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="review", kinds={"python"},
          ins={"response_package": dg.AssetIn()},
          description="The DPO's decision on the package as built (pending until given in the launchpad); an "
                      "approval is bound to the hashes of the package and of everything it was built from.")
def release_approval(context: dg.AssetExecutionContext, config: ApprovalConfig, audit: AuditResource,
                     work: WorkStoreResource, dpo: DpoIdentityResource, response_package: Any) -> Any:
    decision = Decision(config.decision)
    expected = JOB_DECISIONS.get(context.job_def.name)
    if expected and decision.name != expected:
        raise dg.Failure(f"{context.job_def.name} takes the decision {expected.lower()}; launch the job of the "
                         "decision you mean")
    if decision is not Decision.PENDING:
        one_request(context)
    who = dpo.identify(context, config.dpo_user) if decision is not Decision.PENDING else None
    trail, store = audit.trail(), work.store()

    def step(request_id: str, own: dict) -> Approval:
        if decision is Decision.PENDING or who is None:
            return Approval()
        shown = shown_bundle(work, request_id, config.review_bundle_sha256, required=decision is Decision.APPROVE)
        if decision is Decision.REJECT:
            trail.append(request_id, "rejected", {**who.evidence(), "review_bundle_sha256": shown})
            return Approval(Decision.REJECT, who.user, who.authenticated)
        binding = current_binding(store, request_id, own["response_package"])
        trail.append(request_id, "approved", {**who.evidence(), "review_bundle_sha256": shown,
                                              "package_sha256": binding.package_sha256,
                                              "manifest_sha256": binding.manifest_sha256,
                                              "review_sha256": binding.inputs["review_findings"],
                                              "inputs": dict(binding.inputs)})
        return Approval(Decision.APPROVE, who.user, who.authenticated, binding)

    return per_request(context, {"response_package": response_package}, step, describe=lambda a: {
        "decision": a.decision.value, "decided_by": a.decided_by, "authenticated": a.authenticated,
        "package_sha256": a.binding.package_sha256 if a.binding else "",
        "manifest_sha256": a.binding.manifest_sha256 if a.binding else ""})


def one_request(context: dg.AssetExecutionContext) -> None:
    """A decision is taken on one request, the one its review showed: never on a range of them (the
    launchpad's "All" would otherwise approve every request at once)."""
    if len(context.partition_keys) != 1:
        raise dg.Failure(f"a decision covers one request; this run has {len(context.partition_keys)}: "
                         "launch it for the one request you reviewed")


def shown_bundle(work: WorkStoreResource, request_id: str, claimed: str, required: bool = True) -> str:
    """The review bundle's SHA-256 the decision was taken on, checked against the bundle as it is now
    ("absent" for a request that has none)."""
    current = sealed_digest(work.store(), request_id, REVIEW_BUNDLE)
    claimed = claimed.strip().lower()
    if current == "absent":
        return current
    if not claimed:
        if required:
            raise dg.Failure("this request has a review bundle: give review_bundle_sha256 of the bundle you "
                             "reviewed (the review link fills it in)")
        return "not_given"
    if not hmac.compare_digest(claimed, current):
        raise dg.Failure("the review bundle changed since it was shown: open the review again and decide on it")
    return current


defs = dg.Definitions(assets=[release_scope, release_approval])
