"""No step relies on another step's disk: each step of a request runs in a process of its own whose working
directory, temporary directory and local work folder are empty and private, as on separate hosts, with
the S3 work store of `DSAR_ENV=cluster` between them, and the request is delivered. Afterwards every
step's directories are empty again: a step's scratch space lives no longer than the step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assets.environments import resource_now

from .conftest import drop, person_ticket

pytestmark = [pytest.mark.usefixtures("no_faults"), pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]


def test_each_step_on_a_host_of_its_own_delivers_and_leaves_its_disk_empty(
        federation, pipeline_env: dict[str, str], tmp_path: Path) -> None:
    hosts, driver_work = tmp_path / "hosts", tmp_path / "driver-work"
    hosts.mkdir()
    drop(federation, person_ticket(federation, "demo", suffix="-private"), "web-private")
    env = {**os.environ, "DSAR_ENV": "cluster", "DSAR_WORK_DIR": str(driver_work)}
    done = subprocess.run([sys.executable, "-m", "tests.pipeline.private_hosts", str(hosts)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["success"] and outcome["status"] == "delivered", outcome
    steps = sorted(path.name.rsplit("-", 1)[0] for path in hosts.iterdir())
    assert {"dsar_request", "billing_records", "portability_export", "response_package", "delivery"} <= set(steps)
    assert len(steps) == len(set(steps)), "one host per step"
    left = sorted(str(p.relative_to(hosts)) for p in hosts.rglob("*") if p.is_file())
    assert not left, f"files left on the steps' hosts: {left}"
    assert not driver_work.exists(), "nothing went through a local work folder"
    s3 = resource_now("work", "cluster").store()
    handed_over = s3.keys(outcome["request_id"])
    assert f"{outcome['request_id']}/response_package.sealed" in handed_over
    assert any(key.startswith(f"{outcome['request_id']}/package/") for key in handed_over)
