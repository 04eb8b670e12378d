"""The Dagster definitions: every domain's assets, sensors and jobs, merged, plus the resources and
executor of the environment `DSAR_ENV` chooses (`assets/environments.py`)."""

from __future__ import annotations

import dagster as dg

from assets import (
    audit,
    deadline_watch,
    decisions,
    delivery,
    dpo_worklist,
    dsar_request,
    package,
    purge,
    release,
    review_findings,
    subject_identities,
    system_records,
    ticket_inbox,
    worklist_refresh,
)
from assets.environments import current_environment, environment_definitions, executor_config
from assets.jobs import jobs_defs

EXECUTOR_CONFIG = executor_config()

defs = dg.Definitions.merge(
    dsar_request.defs, subject_identities.defs, system_records.defs, review_findings.defs, release.defs,
    package.defs, delivery.defs, ticket_inbox.defs, deadline_watch.defs, purge.defs, audit.defs, jobs_defs,
    dpo_worklist.defs, worklist_refresh.defs, decisions.defs,
    environment_definitions(current_environment(), EXECUTOR_CONFIG),
)


def request_job() -> dg.JobDefinition:
    """The request job, resolvable from this module (for `dg.reconstructable` in the runner)."""
    return defs.resolve_job_def("dsar_request_job")
