"""The one environment switch: `DSAR_ENV` picks a resource set and an executor, nothing else does.

- ``embedded`` (the default): the sandbox's systems, the local work folder and key file, the audit
  trail's local key file, nobody signs in to the UI.
- ``cluster``: as embedded, but every step hands over through the S3 work bucket (`DSAR_WORK_BUCKET`
  on `DSAR_S3_ENDPOINT_URL`), so steps may run on different hosts: the topology of `make cluster`.
- ``production``: the S3 work bucket with KMS data keys, the audit anchors signed by KMS, the DPO's
  identity from the authenticating proxy. It refuses to start without its secrets.

Every resource field is a `DSAR_*` setting given as `dg.EnvVar`: Dagster resolves it in the process
that runs the step, and stores only the variable's name. Settings a deployment may leave unset get
their documented defaults here (`dsar_pipeline.settings.DEFAULTS`), so each variable exists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from assets.celery_workers import celery_or_in_process_executor
from assets.dpo import DpoIdentityResource
from assets.io_manager import EncryptedIOManager
from assets.resources import (
    AuditResource,
    DeliveryResource,
    DeskResource,
    InboxResource,
    RunSettingsResource,
    WorkStoreResource,
    system_resources,
)
from dsar_pipeline.settings import apply_defaults, check_production_secrets

ENVIRONMENTS = ("embedded", "cluster", "production")
WORK_STORES = {"embedded": "local", "cluster": "s3", "production": "s3"}
"""Where steps hand over: a folder on this host only in the embedded default."""


def resources(environment: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resource set of an environment: the same keys in each, different kinds where they differ.
    Settings are read at run time, or from `environ` now when it is given."""
    work = WorkStoreResource.from_environment(environ, kind=WORK_STORES[environment])
    return {
        "io_manager": EncryptedIOManager(work=work),
        "work": work,
        "audit": AuditResource.from_environment(environ, env=environment),
        "inbox": InboxResource.from_environment(environ),
        "delivery_channels": DeliveryResource.from_environment(environ),
        "run_settings": RunSettingsResource.from_environment(environ),
        "desk": DeskResource.from_environment(environ),
        # embedded: nobody signs in to `dagster dev`; production: the identity the SSO proxy vouches for
        "dpo": DpoIdentityResource(mode="proxy" if environment == "production" else "none"),
        **system_resources(environ),
    }


def executor_config() -> dict[str, Any]:
    """Steps start in a forkserver that has already imported the pipeline and what its steps use
    (`step_preload`): a five-branch fan-out on the default spawn start-up cost ~17 s of CPU on a
    2-core machine, this brings a run to a few seconds."""
    return {"max_concurrent": int(os.environ.get("DSAR_MAX_CONCURRENT_STEPS", "6")),
            "start_method": {"forkserver": {"preload_modules": ["assets.definitions", "assets.step_preload"]}}}


def current_environment() -> str:
    """`DSAR_ENV`, checked: production also has to have its secrets."""
    environment = os.environ.get("DSAR_ENV", "embedded")
    if environment not in ENVIRONMENTS:
        raise ValueError(f"DSAR_ENV must be one of {', '.join(ENVIRONMENTS)}")
    if environment == "production" and (missing := check_production_secrets()):
        raise SystemExit("production refuses to start without its secrets: " + "; ".join(missing))
    if WORK_STORES[environment] == "s3" and not os.environ.get("DSAR_WORK_BUCKET"):
        raise SystemExit(f"DSAR_ENV={environment} hands over through the S3 work store: set DSAR_WORK_BUCKET")
    apply_defaults()
    return environment


IN_PROCESS_RUN_CONFIG: dict[str, Any] = {"execution": {"config": {"in_process": True}}}


def environment_definitions(environment: str, config: dict[str, Any]) -> dg.Definitions:
    """The environment's resources and executor: embedded, multiprocess with `config` (`executor_config()`);
    cluster and production, Celery workers (`assets.celery_workers`). Either runs a run's steps in its own
    process when the run asks (`IN_PROCESS_RUN_CONFIG`)."""
    executor = request_executor(config) if environment == "embedded" else celery_or_in_process_executor
    return dg.Definitions(resources=resources(environment), executor=executor)


def request_executor(config: dict[str, Any]) -> dg.ExecutorDefinition:
    """Multiprocess steps pay ~0.3-0.5 s of fork and hand-over each, which only parallel branches earn
    back: a run whose requests search one system has none, so the sensor runs it in process."""
    return dg.multi_or_in_process_executor.configured(
        lambda chosen: {"in_process": {}} if chosen["in_process"] else {"multiprocess": config},
        config_schema={"in_process": dg.Field(bool, default_value=False, description=(
            "Run every step in the run's own process: for runs without parallel branches."))})


def resource_now(key: str, environment: str = "embedded") -> Any:
    """One resource of an environment with the settings this process has now: for scripts and tests
    that use a resource outside a run."""
    apply_defaults()
    return resources(environment, os.environ)[key]
