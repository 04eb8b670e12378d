"""The Dagster definitions: every domain's assets, sensors and jobs, merged, plus the resources
of the environment chosen by `DSAR_ENV` (embedded: sandbox systems, local work folder and key
file, SQLite; production: S3 work bucket, KMS, PostgreSQL audit database).
"""

from __future__ import annotations

import os

import dagster as dg

from assets import (
    audit,
    deadline_watch,
    delivery,
    dsar_request,
    package,
    purge,
    release,
    review_findings,
    subject_identities,
    system_records,
    ticket_inbox,
)
from assets.dpo import DpoIdentityResource
from assets.io_manager import EncryptedIOManager
from assets.jobs import jobs_defs
from assets.resources import AuditResource, ConnectorsResource, WorkStoreResource
from dsar_pipeline.settings import check_production_secrets


def _resources(environment: str) -> dict[str, object]:
    work = WorkStoreResource(kind="s3" if environment == "production" else "local")
    return {
        "io_manager": EncryptedIOManager(work=work),
        "work": work,
        "connectors": ConnectorsResource(),
        "audit": AuditResource(database_url=dg.EnvVar("DSAR_AUDIT_DATABASE_URL")),
        # embedded: nobody signs in to `dagster dev`; production: the identity the SSO proxy vouches for
        "dpo": DpoIdentityResource(mode="proxy" if environment == "production" else "none"),
    }


ENVIRONMENTS = ("embedded", "production")
environment = os.environ.get("DSAR_ENV", "embedded")
if environment not in ENVIRONMENTS:
    raise ValueError(f"DSAR_ENV must be one of {', '.join(ENVIRONMENTS)}")
if environment == "production" and (missing := check_production_secrets()):
    raise SystemExit("production refuses to start without its secrets: " + "; ".join(missing))

# Steps start in a forkserver that has already imported the pipeline and what its steps use
# (`step_preload`): a five-branch fan-out on the default spawn start-up cost ~17 s of CPU on a
# 2-core machine, this brings a run to a few seconds.
EXECUTOR_CONFIG = {
    "max_concurrent": int(os.environ.get("DSAR_MAX_CONCURRENT_STEPS", "6")),
    "start_method": {"forkserver": {"preload_modules": ["assets.definitions", "assets.step_preload"]}},
}
executor = dg.multiprocess_executor.configured(EXECUTOR_CONFIG)

defs = dg.Definitions.merge(
    dsar_request.defs, subject_identities.defs, system_records.defs, review_findings.defs, release.defs,
    package.defs, delivery.defs, ticket_inbox.defs, deadline_watch.defs, purge.defs, audit.defs, jobs_defs,
    dg.Definitions(resources=_resources(environment), executor=executor),
)


def request_job() -> dg.JobDefinition:
    """The request job, resolvable from this module (for `dg.reconstructable` in the runner)."""
    return defs.resolve_job_def("dsar_request_job")
