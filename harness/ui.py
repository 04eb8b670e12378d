"""`dsar ui`: the Dagster UI (webserver + daemon) on the embedded default, against a running sandbox.

Loads the sandbox's settings file and the embedded home's secrets into the environment, then runs
`dagster dev` on workspace.yaml, with the DPO's review desk (`assets.desk`) beside it. The DPO's
views: the `dpo_worklist` asset (every open request, most urgent first, with review links), the
review desk those links open, and the decision jobs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dsar_pipeline.settings import load_env_file
from harness.embedded import prepare_home

PROJECT = Path(__file__).resolve().parent.parent


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ui", help="open the Dagster UI on the embedded default",
                                   description="Run `dagster dev` (webserver and daemon) for the pipeline, with "
                                               "the settings of a running sandbox (`dsar sandbox up`).")
    parser.add_argument("--env-file", type=Path, default=Path(".sandbox/sandbox.env"),
                        help="settings written by `dsar sandbox up` (default .sandbox/sandbox.env)")
    parser.add_argument("--dagster-home", type=Path, default=Path(".dagster_home"),
                        help="project-local Dagster home (default .dagster_home)")
    parser.add_argument("--port", type=int, default=3000, help="webserver port (default 3000)")
    parser.add_argument("--desk-port", type=int, default=3001,
                        help="port of the DPO's review desk, started alongside (default 3001)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.env_file.is_file():
        print(f"dsar ui: error: no settings file {args.env_file}; start the sandbox first (`dsar sandbox up`)",
              file=sys.stderr)
        return 2
    load_env_file(args.env_file)
    for key, value in prepare_home(args.dagster_home).items():
        os.environ[key] = value
    os.environ["DSAR_DAGSTER_URL"] = f"http://127.0.0.1:{args.port}"
    os.environ["DSAR_REVIEW_DESK_URL"] = f"http://127.0.0.1:{args.desk_port}"
    start_desk(args.desk_port)
    command = [*dagster_cli(), "dev", "-w", str(PROJECT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(args.port)]
    os.execv(command[0], command)  # noqa: S606 - replaces this process with the Dagster CLI
    return 0


def start_desk(port: int) -> subprocess.Popen:
    """The review desk in a child process: it stays in this process group, so the Ctrl-C that stops
    the Dagster UI (which this process becomes) stops the desk too."""
    return subprocess.Popen([sys.executable, "-m", "assets.desk.server", "--host", "127.0.0.1",
                             "--port", str(port)], env=dict(os.environ))


def dagster_cli() -> list[str]:
    """The Dagster CLI of this very interpreter: `dagster` is on the PATH only in an activated venv,
    and `make ui` runs `.venv/bin/dsar` without one (execvp then failed with FileNotFoundError)."""
    return [sys.executable, "-m", "dagster"]
