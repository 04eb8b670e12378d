"""Steps on hosts of their own, for `test_private_step_dirs`: Dagster's step-delegating executor (the one its
Docker, Kubernetes and Celery executors build on) with a step handler that starts `dagster api execute_step`
in a new process whose working directory, temporary directory and local work folder are new, empty and
its own, as on a separate host.

`python -m tests.pipeline.private_hosts HOSTS` (with `DSAR_ENV=cluster` and the sandbox's settings) takes
the inbox's one ticket with a sensor tick, runs its request that way and prints a JSON line: request id,
whether the run succeeded, the request's status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEvent
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)

HOSTS_VARIABLE = "DSAR_TEST_PRIVATE_HOSTS"


class PrivateHostStepHandler(StepHandler):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def name(self) -> str:
        return "private_hosts"

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        args = step_handler_context.execute_step_args
        (step_key,) = args.step_keys_to_execute or ()
        host = Path(tempfile.mkdtemp(prefix=f"{step_key}-", dir=self.root))
        for folder in ("cwd", "tmp", "work"):
            (host / folder).mkdir(mode=0o700)
        env = {**os.environ, "TMPDIR": str(host / "tmp"), "DSAR_WORK_DIR": str(host / "work")}
        command = list(args.get_command_args())
        if command[0] == "dagster":  # the console script need not be on PATH: this interpreter's module
            command[:1] = [sys.executable, "-m", "dagster"]
        self.processes[step_key] = subprocess.Popen(command, cwd=host / "cwd", env=env)
        yield from ()

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        (step_key,) = step_handler_context.execute_step_args.step_keys_to_execute or ()
        code = self.processes[step_key].poll()
        return CheckStepHealthResult.unhealthy(f"exited {code}") if code else CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        for step_key in step_handler_context.execute_step_args.step_keys_to_execute or ():
            self.processes[step_key].kill()
        yield from ()


@dg.executor(name="private_hosts")
def private_hosts_executor(_: dg.InitExecutorContext) -> StepDelegatingExecutor:
    return StepDelegatingExecutor(PrivateHostStepHandler(Path(os.environ[HOSTS_VARIABLE])),
                                  retries=RetryMode.DISABLED, max_concurrent=2, check_step_health_interval_seconds=1)


def private_hosts_job() -> dg.JobDefinition:
    """The request job, each step on a host of its own (reconstructable, for the step processes)."""
    from assets.definitions import request_job

    return request_job().with_executor_def(private_hosts_executor)


def main() -> None:
    from assets.status import request_status
    from harness import runner

    os.environ[HOSTS_VARIABLE] = str(Path(sys.argv[1]).resolve())
    with dg.DagsterInstance.get() as instance:
        tick = runner.tick(instance)
        (request_id,) = tick.new_requests
        result = dg.execute_job(dg.reconstructable(private_hosts_job), instance=instance,
                                tags={"dagster/partition": request_id})
        status = request_status(instance, request_id)["status"]
    print(json.dumps({"request_id": request_id, "success": result.success, "status": status}))


if __name__ == "__main__":
    main()
