"""The Dagster definitions: every domain's assets, sensors and jobs, merged, plus the resources
of the environment chosen by `DSAR_ENV` (embedded: sandbox systems, local work folder and key
file, SQLite; production: S3 work bucket, KMS, PostgreSQL audit database).
"""

from __future__ import annotations

import os

import dagster as dg

from assets import (
    audit,
    collection,
    deadlines,
    delivery,
    identities,
    package,
    purge,
    release,
    requests,
    review,
    sensors,
)
from assets.dpo import DpoIdentityResource
from assets.jobs import jobs_defs
from dsar_pipeline.io_manager import EncryptedIOManager
from dsar_pipeline.resources import AuditResource, ConnectorsResource, WorkStoreResource
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
    "start_method": {"forkserver": {"preload_modules": ["dsar_pipeline.definitions", "dsar_pipeline.step_preload"]}},
}
executor = dg.multiprocess_executor.configured(EXECUTOR_CONFIG)

defs = dg.Definitions.merge(
    requests.defs, identities.defs, collection.defs, review.defs, release.defs, package.defs, delivery.defs,
    sensors.defs,
    deadlines.defs, purge.defs, audit.defs, jobs_defs,
    dg.Definitions(resources=_resources(environment), executor=executor),
)


def request_job() -> dg.JobDefinition:
    """The request job, resolvable from this module (for `dg.reconstructable` in the runner)."""
    return defs.resolve_job_def("dsar_request_job")
