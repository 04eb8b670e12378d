"""The Dagster UI as the DPO starts it: `dsar ui` (webserver and daemon, `dagster dev`) in its own process
group, against the sandbox's settings file and a prepared Dagster home; GraphQL for readiness."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx

from .processes import child_env, free_port, group_process, log_tail

LOCATION = "dsar_pipeline"
LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


class UiStartError(RuntimeError):
    pass


@dataclass
class DagsterUi:
    base_url: str
    process: Popen
    log_path: Path
    desk_url: str = ""
    """The review desk `dsar ui` started beside the UI (when `dsar_ui` was given a `desk_port`)."""

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.base_url}/graphql", json={"query": query, "variables": dict(variables or {})},
                              timeout=30)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def wait_ready(self, timeout_s: float) -> None:
        """Until `/server_info` answers and the code location has loaded (a load error fails at once)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UiStartError(f"dsar ui exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._location_loaded():
                return
            time.sleep(0.5)
        raise UiStartError(f"the Dagster UI was not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def _location_loaded(self) -> bool:
        try:
            if httpx.get(f"{self.base_url}/server_info", timeout=5).status_code != 200:
                return False
            entries = self.graphql(LOCATION_QUERY)["workspaceOrError"].get("locationEntries") or []
        except (httpx.HTTPError, RuntimeError, ValueError):
            return False
        for entry in entries:
            if entry["name"] != LOCATION or entry["loadStatus"] != "LOADED":
                continue
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") == "PythonError":
                raise UiStartError(f"code location failed to load: {loaded.get('message')}")
            return loaded.get("__typename") == "RepositoryLocation"
        return False

    def wait_desk(self, timeout_s: float) -> None:
        """Until the review desk answers `/health` (it starts beside the UI, before `dagster dev`)."""
        if not self.desk_url:
            raise UiStartError("this UI was started without a desk port")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UiStartError(f"dsar ui exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.desk_url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise UiStartError(f"the review desk was not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def dismiss_community_prompt(self) -> None:
        """The UI asks local users once to join the community (a modal over every page); say it was seen."""
        self.graphql("mutation { setNuxSeen }")


@contextmanager
def dsar_ui(env: Mapping[str, str], env_file: Path, dagster_home: Path, log_path: Path,
            ready_timeout_s: float | None = 120.0, desk_port: int | None = None) -> Iterator[DagsterUi]:
    """`dsar ui --env-file ... --dagster-home ... --port <free>`; stopped with its whole process group.
    With `ready_timeout_s=None` it yields at once (call `wait_ready` after doing something else meanwhile).
    With `desk_port` also `--desk-port` (the review desk; `ui.desk_url`, `ui.wait_desk`)."""
    port = free_port()
    args = [sys.executable, "-m", "dsar_pipeline.cli", "ui", "--env-file", str(env_file),
            "--dagster-home", str(dagster_home), "--port", str(port)]
    if desk_port is not None:
        args += ["--desk-port", str(desk_port)]
    with group_process(args, child_env(env), log_path) as process:
        ui = DagsterUi(f"http://127.0.0.1:{port}", process, log_path,
                       desk_url=f"http://127.0.0.1:{desk_port}" if desk_port is not None else "")
        if ready_timeout_s is not None:
            ui.wait_ready(ready_timeout_s)
        yield ui


EXPECT_MS = 30_000  # Playwright assertions wait 5 s by default: too little on a loaded 2-core machine
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def finished(instance: Any, run_id: str) -> Any:
    """The run once it has ended (success, failure or cancel), else None: for `wait_for`."""
    run = instance.get_run_by_id(run_id)
    return run if run is not None and run.status.value in TERMINAL else None
