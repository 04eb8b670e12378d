"""The executor of `DSAR_ENV=cluster` and `production`: Dagster's Celery executor, steps on Celery workers.

Broker: RabbitMQ (`DSAR_CELERY_BROKER`); results: Redis (`DSAR_CELERY_BACKEND`). The run's process puts
each step on the `dagster` queue; any worker takes it, loads the job from the code location and runs the
step against the instance's storage (PostgreSQL), so pools and op concurrency limits hold across workers
(`dsar_<system>` pools: claimed in the instance, not in a worker). Nothing passes between steps except
through the work store (README, "Between steps").

Losing a worker loses no step: tasks are acknowledged only when done (`task_acks_late`) and a task whose
worker died is given back to the queue (`task_reject_on_worker_lost`); each worker takes one task at a
time per process (`worker_prefetch_multiplier` 1), so a dying worker holds no others. Dagster's own step
retries (enabled) cover a step that failed outright.

A run whose requests search one system asks for `in_process` (as with the multiprocess executor), so the
sensor's run config is the same in every environment.

Workers: `celery -A assets.celery_workers worker -Q dagster` (what `make cluster` starts), with the same
settings as the code location.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor

from dsar_pipeline.settings import apply_defaults

RESULT_POLL_SECONDS = 0.2
"""How often the run's process asks the result backend whether its steps are done. dagster-celery's loop
sleeps its module's `TICK_SECONDS` (1 s) between looks, which put ~0.9 s between one step's end and the
next step's start: 8 s of a request's 26 s in the cluster. A look is one Redis read per running step.
Celery is imported only where it runs (a run's process, a worker): the embedded default never loads it."""

QUEUE = "dagster"
"""dagster-celery's queue (its routing is fixed to it); steps may pick another with the `dagster-celery/queue`
tag, which a worker then has to listen to (`-Q`)."""


def celery_settings() -> dict[str, Any]:
    """The Celery settings the run's process and the workers must agree on."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "result_expires": 24 * 3600,  # a step's events, once the run has read them, are of no use
        "worker_hijack_root_logger": False,
    }


def broker_and_backend() -> tuple[str, str]:
    apply_defaults()
    return os.environ["DSAR_CELERY_BROKER"], os.environ["DSAR_CELERY_BACKEND"]


@dg.executor(name="celery_or_in_process",
             config_schema={"in_process": dg.Field(bool, default_value=False, description=(
                 "Run every step in the run's own process: for runs without parallel branches."))},
             requirements=dg.multiple_process_executor_requirements())
def celery_or_in_process_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    if init_context.executor_config["in_process"]:
        return InProcessExecutor(retries=RetryMode.ENABLED)
    import dagster_celery.core_execution_loop
    from dagster_celery.executor import CeleryExecutor

    dagster_celery.core_execution_loop.TICK_SECONDS = RESULT_POLL_SECONDS
    broker, backend = broker_and_backend()
    return CeleryExecutor(retries=RetryMode.ENABLED, broker=broker, backend=backend, config_source=celery_settings())


def worker_app() -> Any:
    """The workers' Celery app, with the step task registered. The worker's main process loads the pipeline
    and warms what every step uses (`assets.step_preload`) before it forks its pool: each pool process then
    starts warm instead of loading the code location on its first step (~3-5 s)."""
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    import assets.definitions
    import assets.step_preload  # noqa: F401

    broker, backend = broker_and_backend()
    celery_app = make_app({"broker": broker, "backend": backend, "config_source": celery_settings()})
    create_task(celery_app)
    return celery_app


def __getattr__(name: str) -> Any:
    """`app` for `celery -A assets.celery_workers worker`, built on first use: importing this module for the
    executor connects to nothing."""
    if name == "app":
        globals()["app"] = worker_app()
        return globals()["app"]
    raise AttributeError(name)
