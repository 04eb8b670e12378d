"""The production topology on this machine, over its real processes (`dsar cluster up`, as `make cluster`):
PostgreSQL instance storage, dagster-daemon, the code location's gRPC server, the webserver, two Celery
workers on RabbitMQ (a vhost of this module's own) and Redis, the sandbox.

- `dsar demo --cluster --json` gets its ticket delivered and prints the `dsar demo` contract.
- A worker killed with SIGKILL in the middle of a batch: every request still reaches a final status, every
  delivered customer gets exactly one link and one passphrase, and no plaintext personal value rests on
  any worker's disk.
- The daemon killed and started again mid-batch: no ticket is lost (tickets filed while it is down too)
  and no request gets a second run.
- `dsar cluster down` stops exactly the processes `up` started.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from dsar_pipeline.intake.request_ids import derive_request_id
from dsar_pipeline.settings import load_env_file
from sandbox.gateways.outbox import read_outbox

from .test_demo_pii import CONTRACT_KEYS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
FINAL = ("delivered", "awaiting_review", "incomplete")
BATCH_PEOPLE = ("demo", "two-contracts", "debtor", "volt-only", "portal-only", "latvian")
WAIT_S = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dsar(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 900
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("dsar")), *args], cwd=cwd, env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=timeout, check=False)


class Cluster:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.root = cwd / ".cluster"
        self.settings = load_env_file(self.root / "cluster.env", environ={})

    def parts(self) -> dict[str, dict[str, Any]]:
        return json.loads((self.root / "processes.json").read_text(encoding="utf-8"))

    def instance(self) -> dg.DagsterInstance:
        os.environ.update(self.settings)
        return dg.DagsterInstance.get()

    def file(self, person: str, label: str) -> str:
        """Sign a ticket for a named sandbox person (their eID, over the sandbox's control API) and drop it into
        the cluster's inbox; the request id the sensor will give it."""
        from harness.demo import CONTROLLER_OF_COUNTRY, control_signer
        from harness.ticket_example import sign_ticket, ticket_for

        control = self.settings["SANDBOX_CONTROL_URL"]
        who = next(p for p in httpx.get(f"{control}/people", timeout=10).json()["people"] if p["name"] == person)
        controller = CONTROLLER_OF_COUNTRY[str(who["country"])]
        ticket = ticket_for(who, controller, now=datetime.now(UTC))
        ticket["subject_request_id"] = f"cluster-{label}-{secrets.token_hex(4)}"
        raw = json.dumps(sign_ticket(ticket, control_signer(control, person)), ensure_ascii=False).encode()
        httpx.post(f"{control}/tickets", params={"name": f"web-{label}-{secrets.token_hex(3)}"}, content=raw,
                   timeout=10).raise_for_status()
        return derive_request_id(controller, ticket["subject_request_id"],
                                 self.settings["DSAR_REQUEST_ID_KEY"].encode())

    def wait_final(self, instance: dg.DagsterInstance, request_ids: list[str]) -> dict[str, str]:
        from assets.status import request_status

        deadline = time.monotonic() + WAIT_S
        while True:
            statuses = {rid: request_status(instance, rid)["status"] for rid in request_ids}
            mine = {run.run_id: run for rid in request_ids for run in self.runs_of(instance, rid)}.values()
            if all(s in FINAL for s in statuses.values()) and mine and all(run.is_finished for run in mine):
                return statuses
            assert time.monotonic() < deadline, f"not final after {WAIT_S} s: {statuses}"
            time.sleep(1)

    def runs_of(self, instance: dg.DagsterInstance, request_id: str) -> list[dg.DagsterRun]:
        """The request job's runs that carry the request: its own partition, or a batch's range holding it."""
        order = instance.get_dynamic_partitions("dsar_requests")
        return [run for run in instance.get_runs(dg.RunsFilter(job_name="dsar_request_job"))
                if run.tags.get("dagster/partition") == request_id or request_id in _batch_keys(run, order)]

    def outbox(self, channel: str) -> list[dict[str, Any]]:
        return read_outbox(Path(self.settings["SANDBOX_OUTBOX_DIR"]), channel)


def _celery_steps(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step key, Celery worker) of each step execution a worker reported, in order."""
    found = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        worker = data.metadata.get("Celery worker") if data else None
        if record.step_key and worker is not None:
            found.append((record.step_key, str(worker.value)))
    return found


def _running_on(instance: dg.DagsterInstance, cluster: Cluster, request_ids: list[str], worker: str
                ) -> tuple[str, str] | None:
    """(run id, step key) of a step that `worker` is executing now, if any."""
    runs = {run.run_id: run for rid in request_ids for run in cluster.runs_of(instance, rid)}
    for run_id in runs:
        done = {record.step_key for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}
        for step_key, name in _celery_steps(instance, run_id):
            if name.startswith(worker) and step_key not in done:
                return run_id, step_key
    return None


def _batch_keys(run: dg.DagsterRun, order: list[str]) -> list[str]:
    """The requests a batched run carries: its partition range, bounds included, in the partitions' order."""
    start, end = run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end")
    if not start or start not in order or end not in order:
        return []
    return order[order.index(start):order.index(end) + 1]


@pytest.fixture(scope="module")
def cluster(celery_services: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for name, port in (("PostgreSQL", 5432),):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError as exc:
            pytest.skip(f"{name} at 127.0.0.1:{port} unreachable ({type(exc).__name__})")
    cwd = tmp_path_factory.mktemp("cluster")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "DAGSTER_", "SANDBOX_"))},
           **celery_services}
    saved = dict(os.environ)
    up = dsar(cwd, "cluster", "up", "--workers", "2", "--slots", "2", "--size", "200", "--port", str(_free_port()),
              "--code-port", str(_free_port()), "--database", "dsar_cluster_test", env=env, timeout=600)
    try:
        assert up.returncode == 0, (up.stdout + up.stderr)[-3000:]
        assert "Dagster UI at http://127.0.0.1:" in up.stdout and "dsar demo --cluster" in up.stdout
        yield Cluster(cwd)
    finally:
        dsar(cwd, "cluster", "down", env=env, timeout=120)
        os.environ.clear()
        os.environ.update(saved)


def test_the_demo_ticket_is_delivered_through_the_cluster(cluster: Cluster) -> None:
    done = dsar(cluster.cwd, "demo", "--cluster", "--json", env={**os.environ, **cluster.settings})
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary) >= CONTRACT_KEYS and summary["status"] == "delivered", summary
    assert Path(summary["package"]).is_file() and summary["dagster_home"] == str(cluster.root / "home")
    with cluster.instance() as instance:
        (run,) = cluster.runs_of(instance, summary["request_id"])
        engine = [e.dagster_event.message or "" for e in instance.all_logs(run.run_id)
                  if e.dagster_event and e.dagster_event.event_type_value == "ENGINE_EVENT"]
    assert sum("in celery worker" in message for message in engine) >= 9, "the steps ran on the Celery workers"


def test_a_worker_killed_mid_batch_loses_no_request_and_sends_each_link_once(cluster: Cluster) -> None:
    request_ids = [cluster.file(person, f"kill-{n}") for n, person in enumerate(BATCH_PEOPLE)]
    victim = cluster.parts()["worker-1"]["pid"]
    with cluster.instance() as instance:
        deadline = time.monotonic() + WAIT_S
        while not (busy := _running_on(instance, cluster, request_ids, "dsar-worker-1@")):
            assert time.monotonic() < deadline, "no step ran on worker-1"
            time.sleep(0.2)
        os.killpg(victim, signal.SIGKILL)  # the worker and its pool processes, in the middle of `busy`'s step
        statuses = cluster.wait_final(instance, request_ids)
        run_id, step_key = busy
        again = [worker for key, worker in _celery_steps(instance, run_id) if key == step_key]
    assert any(worker.startswith("dsar-worker-2@") for worker in again), (step_key, again)
    restarted = dsar(cluster.cwd, "cluster", "restart", "worker-1", env={**os.environ, **cluster.settings})
    assert restarted.returncode == 0, restarted.stderr
    assert all(status in FINAL for status in statuses.values()), statuses
    assert "delivered" in statuses.values(), statuses
    for request_id, status in statuses.items():
        links = [m for m in cluster.outbox("mail") if request_id in m["text"]]
        assert len(links) == (1 if status == "delivered" else 0), (request_id, status, len(links))
    people = {p["name"]: p for p in httpx.get(f"{cluster.settings['SANDBOX_CONTROL_URL']}/people",
                                               timeout=10).json()["people"]}
    texts = [s for s in cluster.outbox("sms")]
    delivered_phones = [people[p]["phone"] for p, rid in zip(BATCH_PEOPLE, request_ids, strict=True)
                        if statuses[rid] == "delivered"]
    for phone in set(delivered_phones):
        assert len([s for s in texts if s["to"] == phone]) >= delivered_phones.count(phone)
    needles = {str(value).encode() for name in BATCH_PEOPLE for key, value in people[name].items()
               if key in ("personal_code", "email", "phone") and value}
    found = sorted({str(path) for path in (cluster.root / "workers").rglob("*") if path.is_file()
                    for needle in needles if needle in path.read_bytes()})
    assert not found, f"plaintext personal values on a worker's disk: {found}"


def test_the_daemon_restarted_mid_batch_loses_no_ticket_and_starts_no_run_twice(cluster: Cluster) -> None:
    first = [cluster.file(person, f"daemon-{n}") for n, person in enumerate(BATCH_PEOPLE[:3])]
    with cluster.instance() as instance:
        deadline = time.monotonic() + WAIT_S
        while not any(cluster.runs_of(instance, rid) for rid in first):
            assert time.monotonic() < deadline, "the sensor took no ticket"
            time.sleep(0.5)
        os.killpg(cluster.parts()["daemon"]["pid"], signal.SIGKILL)
        second = [cluster.file(person, f"daemon-down-{n}") for n, person in enumerate(BATCH_PEOPLE[3:])]
        restarted = dsar(cluster.cwd, "cluster", "restart", "daemon", env={**os.environ, **cluster.settings})
        assert restarted.returncode == 0, restarted.stderr
        statuses = cluster.wait_final(instance, first + second)
        runs = {rid: cluster.runs_of(instance, rid) for rid in first + second}
    assert all(status in FINAL for status in statuses.values()), statuses
    assert all(len(found) == 1 for found in runs.values()), {rid: len(found) for rid, found in runs.items()}


def test_cluster_down_stops_exactly_what_it_started(cluster: Cluster) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        groups = [part["pid"] for part in cluster.parts().values()]
        down = dsar(cluster.cwd, "cluster", "down", env={**os.environ, **cluster.settings}, timeout=120)
        assert down.returncode == 0 and f"{len(groups)} process groups stopped" in down.stdout, down.stdout
        for pid in groups:
            with pytest.raises(ProcessLookupError):
                os.killpg(pid, 0)
        assert bystander.poll() is None, "a process the cluster did not start was stopped"
        assert "nothing was running" in dsar(cluster.cwd, "cluster", "down", timeout=60).stdout
    finally:
        bystander.kill()
