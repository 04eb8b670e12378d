"""`dsar ui` starts the Dagster CLI of its own interpreter, so it works without an activated venv."""

from __future__ import annotations

import os
import subprocess
import sys

from harness.ui import dagster_cli


def test_the_dagster_cli_runs_without_dagster_on_the_path() -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no .venv/bin: what `make ui` gives
    result = subprocess.run([*dagster_cli(), "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dagster" in result.stdout.lower()
    assert dagster_cli()[0] == sys.executable
