"""The production executor on real parts: Celery workers on RabbitMQ (127.0.0.1:5672) with results in Redis
(127.0.0.1:6379), each worker in its own working directory, temporary directory and local work folder, the
S3 work store between steps (`DSAR_ENV=cluster`). A request is delivered with its steps run by the workers,
and the workers' disks are empty afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assets.celery_workers import QUEUE

from .conftest import drop, person_ticket

pytestmark = [pytest.mark.usefixtures("no_faults"), pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]


def cluster_env(base: dict[str, str], work_dir: Path) -> dict[str, str]:
    return {**base, "DSAR_ENV": "cluster", "DSAR_WORK_DIR": str(work_dir)}


@pytest.fixture
def workers(pipeline_env: dict[str, str], celery_services: dict[str, str], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Two Celery workers (one process each), each on a 'host' of its own under tmp_path."""
    for name, value in celery_services.items():
        monkeypatch.setenv(name, value)
    hosts, processes = [], []
    for number in (1, 2):
        host = tmp_path / f"worker-{number}"
        for folder in ("cwd", "tmp", "work"):
            (host / folder).mkdir(parents=True, mode=0o700)
        env = {**cluster_env(dict(os.environ), host / "work"), "TMPDIR": str(host / "tmp")}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "assets.celery_workers", "worker", "-Q", QUEUE, "--concurrency", "1",
             "--pool", "prefork", "-n", f"dsar-test-{number}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"], cwd=host / "cwd", env=env, start_new_session=True))
        hosts.append(host)
    try:
        yield hosts
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_celery_workers_deliver_a_request_and_leave_their_disks_empty(federation, workers: list[Path],
                                                                       tmp_path: Path) -> None:
    drop(federation, person_ticket(federation, "demo", suffix="-celery"), "web-celery")
    driver_work = tmp_path / "driver-work"
    done = subprocess.run([sys.executable, "-m", "tests.pipeline.cluster_driver"], cwd=ROOT,
                          env=cluster_env(dict(os.environ), driver_work), capture_output=True, text=True, timeout=800,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["runs"] == [True] and list(outcome["statuses"].values()) == ["delivered"], outcome
    assert {"dsar_request", "billing_records", "portability_export", "response_package", "delivery"} <= set(
        outcome["in_celery"]), outcome["in_celery"]
    left = sorted(str(p.relative_to(tmp_path)) for host in workers for p in host.rglob("*") if p.is_file())
    assert not left, f"files left on the workers' disks: {left}"
    assert not driver_work.exists(), "nothing went through a local work folder"
