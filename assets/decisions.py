"""The DPO's decisions as jobs, one per decision, each asking only for what the DPO must give.

The launchpad of each opens prefilled with the job's decision; the DPO fills in their user id and
the SHA-256 of the review bundle decided on (each field documented in the config schema). The
decision is the job's: `release_approval` refuses another one typed in. The review desk and `dsar
decide` launch the same jobs, so nobody has to type YAML. Every decision is for one request: `release_scope` and
`release_approval` refuse a run over several partitions.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

JOB_DECISIONS = {"approve_release": "APPROVE", "reject_release": "REJECT", "release_with_reviewed_records": "APPROVE"}
"""The decision each job takes: `release_approval` refuses another one typed into its launchpad."""


def decision_config(job: str, dpo_user: str = "", review_bundle_sha256: str = "",
                    include_unbound_records: bool = False) -> dict[str, Any]:
    """The run config of a decision job: prefilled in the launchpad, sent whole by the desk and the CLI."""
    approval = {"decision": JOB_DECISIONS[job], "dpo_user": dpo_user, "review_bundle_sha256": review_bundle_sha256}
    ops: dict[str, Any] = {"release_approval": {"config": approval}}
    if job == "release_with_reviewed_records":
        ops["release_scope"] = {"config": {"include_review_records": True,
                                           "include_unbound_records": include_unbound_records,
                                           "dpo_user": dpo_user, "review_bundle_sha256": review_bundle_sha256}}
    return {"ops": ops}


approve_release = dg.define_asset_job(
    "approve_release", selection=dg.AssetSelection.assets("release_approval", "delivery"),
    config=decision_config("approve_release"), tags={"dsar/decision": "approve"},
    description="Approve the package as built for ONE request (the records in review stay out) and deliver it. "
                "Fill in dpo_user and review_bundle_sha256.")

reject_release = dg.define_asset_job(
    "reject_release", selection=dg.AssetSelection.assets("release_approval", "delivery"),
    config=decision_config("reject_release"), tags={"dsar/decision": "reject"},
    description="Reject ONE request's package: it is never delivered; tell the person why (Art. 12(4)). "
                "Fill in dpo_user.")

release_with_reviewed_records = dg.define_asset_job(
    "release_with_reviewed_records",
    selection=dg.AssetSelection.assets("release_scope", "portability_export", "response_package",
                                       "release_approval", "delivery"),
    config=decision_config("release_with_reviewed_records"),
    tags={"dsar/decision": "approve_with_review_records"},
    description="For ONE request: put the records in review into the package, rebuild it, approve and deliver it. "
                "Fill in dpo_user and review_bundle_sha256 (in both places).")

DECISION_JOBS = {"approve": approve_release, "reject": reject_release,
                 "approve_with_review_records": release_with_reviewed_records}

defs = dg.Definitions(jobs=list(DECISION_JOBS.values()))
