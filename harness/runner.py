"""Drive the same sensor and job the UI uses, without the daemon: for the demo, tests and benchmarks.

`tick` evaluates the inbox sensor once against a real instance and applies its result exactly as
the daemon would (new partitions, one run per run request, deduplicated by run key); `execute`
runs a launched request through the job on the multiprocess executor of the definitions;
`start_step_server` starts that executor's forkserver ahead of the first request.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from assets.definitions import EXECUTOR_CONFIG, defs, request_job

SENSOR = "ticket_inbox_sensor"


@dataclass
class Tick:
    new_requests: list[str]  # every new request's partition, refused ones too
    runs: list[dg.RunRequest]
    skip_reason: str | None


def tick(instance: dg.DagsterInstance) -> Tick:
    sensor = defs.resolve_sensor_def(SENSOR)
    with dg.build_sensor_context(instance=instance, resources=dict(defs.resources or {}),
                                 sensor_name=SENSOR) as context:
        result = sensor(context)
    if not isinstance(result, dg.SensorResult):
        raise TypeError("the inbox sensor must return a SensorResult")
    new: list[str] = []
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            known = set(instance.get_dynamic_partitions(request.partitions_def_name))  # one query, not one a key
            fresh = [k for k in request.partition_keys if k not in known]
            instance.add_dynamic_partitions(request.partitions_def_name, fresh)
            new.extend(fresh)
    for event in result.asset_events or []:  # after the partitions: a refused request's verdict
        instance.report_runless_asset_event(event)
    runs = [r for r in result.run_requests or [] if not _already_launched(instance, r.run_key)]
    skip = result.skip_reason.skip_message if isinstance(result.skip_reason, dg.SkipReason) else result.skip_reason
    return Tick(new, runs, skip)


def _already_launched(instance: dg.DagsterInstance, run_key: str | None) -> bool:
    if not run_key:
        return False
    return bool(instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: SENSOR}),
                                         limit=1))


def start_step_server() -> None:
    """Start the step forkserver now, with the modules the executor preloads (~4 s of CPU on two
    cores), so that the first request does not wait for it; runs of this process then share it.

    Call it once this process's settings are final: the forkserver, and every step forked from it,
    keeps the environment it started with. The executor finds it running and uses it.
    """
    import multiprocessing
    from multiprocessing import forkserver

    preload = EXECUTOR_CONFIG["start_method"]["forkserver"]["preload_modules"]  # type: ignore[index]
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["dagster._core.executor.multiprocess", *preload])
    forkserver.ensure_running()


def execute(instance: dg.DagsterInstance, run: dg.RunRequest) -> dg.JobExecutionResult:
    """Run one run request of the sensor through the request job: its steps on the multiprocess executor
    (forkserver), or in this process where the sensor asked for it (a run of one-system requests)."""
    tags = {**(run.tags or {}), SENSOR_NAME_TAG: SENSOR}
    if run.run_key:
        tags[RUN_KEY_TAG] = run.run_key
    if run.partition_key:
        tags["dagster/partition"] = run.partition_key
    return dg.execute_job(dg.reconstructable(request_job), instance=instance, tags=tags,
                          run_config=dict(run.run_config or {}) or None)
