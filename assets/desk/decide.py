"""One decision on one request, launched as its decision job: what the desk and `dsar decide` share."""

from __future__ import annotations

from enum import StrEnum

from assets.decisions import decision_config
from assets.desk.dagster_api import DagsterApi
from dsar_pipeline.intake.request_ids import is_request_id


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    APPROVE_WITH_REVIEW_RECORDS = "approve_with_review_records"


JOBS = {DecisionKind.APPROVE: "approve_release", DecisionKind.REJECT: "reject_release",
        DecisionKind.APPROVE_WITH_REVIEW_RECORDS: "release_with_reviewed_records"}


class DecisionRefused(ValueError):
    """A decision that is not launched; the message is one safe line."""


def launch_decision(api: DagsterApi, request_id: str, kind: DecisionKind, *, dpo_user: str, bundle_sha256: str,
                    include_unbound: bool = False, via: str) -> str:
    """Launch the decision job for `request_id`; returns the run id. `via` (desk | cli) is a run tag."""
    if not is_request_id(request_id):
        raise DecisionRefused("not a request id (r- followed by 26 characters)")
    if include_unbound and kind is not DecisionKind.APPROVE_WITH_REVIEW_RECORDS:
        raise DecisionRefused("unbound records go out only with the records in review (--with-review-records)")
    config = decision_config(JOBS[kind], dpo_user=dpo_user, review_bundle_sha256=bundle_sha256,
                             include_unbound_records=include_unbound)
    return api.launch(JOBS[kind], request_id, config, {"dsar/decided_via": via})
