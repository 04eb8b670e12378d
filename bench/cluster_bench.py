"""Issue 16: the production topology (`dsar cluster up`, as `make cluster`) measured over its real processes.

Each cluster runs in a temp dir of its own (its own PostgreSQL database `dsar_cluster_bench`, free ports,
and a RabbitMQ vhost of its own when `rabbitmqctl` can make one, so a running `make cluster` takes none
of its steps). Tickets are of the population's ordinary people, signed in this process with the cluster
sandbox's own eID CA (as the batch benchmark does), and dropped into the inbox together; the clock runs from
the first drop to the end of the last run that carries them (the runs' end times in the instance), when every
request has its final status. Without PostgreSQL, RabbitMQ or Redis the metrics are skipped with a message.

- `cluster_e2e_seconds`: `dsar demo --cluster --json`'s `seconds_total` (ticket filed -> delivered package
  fetched through its link), on a cluster started as `make cluster` starts it (2 workers, 4 slots each,
  default sandbox); median of 3 after a warm-up (quick: 1, no warm-up).
- `cluster_requests_per_second`: 100 tickets (quick: 10) at once, 2 workers, systems at full speed
  (`--avp-min-interval 0 --volt-rate 0`): final requests / seconds. Printed beside the multiprocess
  executor's `batch_requests_per_second` from `bench/results.json`, when that file holds one.
- `scaleout_ratio`: 40 tickets (quick: 6) with every system answering each call 0.2 s late (set at run time
  with `dsar sandbox faults`; billing runs on PostgreSQL, `--billing-url`, for its latency), once with
  worker-2 stopped and once with both, the same 4 slots per worker: requests/s with 2 workers / with 1.

One cluster serves the last two (billing on PostgreSQL, systems at full speed until the latency is set);
the full form measures `cluster_e2e_seconds` on a cluster of its own, started as `make cluster` starts it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._pipeline import load, run_child, say
from bench.results import RESULTS, Metric

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE = "dsar_cluster_bench"
FINAL = ("delivered", "awaiting_review", "incomplete")
LATENCY_S = 0.2
CHILD_TIMEOUT_S = 3600
WAIT_S = 1200


def run(quick: bool) -> dict[str, Metric]:
    print(f"  {load()}", flush=True)
    result = run_child("bench.cluster_bench", ["child", *(["--quick"] if quick else [])], CHILD_TIMEOUT_S)
    if result.get("skipped"):
        print(f"cluster: skipped, {result['skipped']}; no metric recorded", flush=True)
        return {}
    e2e, batch, one, two = result["e2e"], result["batch"], result["scale"]["1"], result["scale"]["2"]
    ratio = two["per_second"] / one["per_second"]
    baseline = _multiprocess_figure()
    print(f"dsar demo --cluster: {', '.join(f'{t:.1f}' for t in e2e['seconds'])} s", flush=True)
    print(f"{batch['count']} at once, 2 workers: {batch['seconds']:.1f} s = {batch['per_second']:.2f} req/s "
          f"({batch['runs']} runs; {batch['statuses']}); multiprocess executor (batch_requests_per_second in "
          f"{RESULTS.name}): {baseline if baseline is not None else 'not measured'}", flush=True)
    for workers, figures in (("1", one), ("2", two)):
        print(f"{figures['count']} at once, {LATENCY_S:g} s latency, {workers} worker(s): {figures['seconds']:.1f} s "
              f"= {figures['per_second']:.3f} req/s ({figures['statuses']})", flush=True)
    print(f"scale-out 2 workers / 1: {ratio:.2f}", flush=True)
    print(f"  {load()}", flush=True)
    return {
        "cluster_e2e_seconds": {
            "value": round(statistics.median(e2e["seconds"]), 2), "unit": "s",
            "target": f"<= 20 (dsar demo --cluster, ticket -> delivered, median of {len(e2e['seconds'])}, "
                      "2 workers x 4 slots, default sandbox)"},
        "cluster_requests_per_second": {
            "value": round(batch["per_second"], 3), "unit": "req/s",
            "target": f"report; >= the multiprocess figure ({batch['count']} tickets at once, 2 workers x 4 slots, "
                      f"systems at full speed; batch_requests_per_second then: {baseline})"},
        "scaleout_ratio": {
            "value": round(ratio, 3), "unit": "x",
            "target": f">= 1.7 (req/s with 2 workers / 1, 4 slots each, {one['count']} tickets, every system "
                      f"{LATENCY_S:g} s late per call)"},
    }


def _multiprocess_figure() -> float | None:
    try:
        return float(json.loads(RESULTS.read_text(encoding="utf-8"))["batch_requests_per_second"]["value"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


# -- in the child process ------------------------------------------------------------------------------


def _unreachable() -> str | None:
    for name, port in (("PostgreSQL", 5432), ("RabbitMQ", 5672), ("Redis", 6379)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError as exc:
            return f"{name} at 127.0.0.1:{port} unreachable ({type(exc).__name__})"
    return None


@contextmanager
def _vhost() -> Iterator[str]:
    """The broker URL: a RabbitMQ vhost of this benchmark's own when rabbitmqctl can make one, else `/`."""
    name = f"dsar-bench-{secrets.token_hex(4)}"
    made = shutil.which("rabbitmqctl") and subprocess.run(
        ["rabbitmqctl", "-q", "add_vhost", name], capture_output=True, timeout=60, check=False).returncode == 0
    if made:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                       capture_output=True, timeout=60, check=True)
    try:
        yield f"pyamqp://guest:guest@127.0.0.1:5672/{name if made else ''}"
    finally:
        if made:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60, check=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BenchCluster:
    def __init__(self, cwd: Path, broker: str) -> None:
        self.cwd, self.broker = cwd, broker
        self.dsar = str(Path(sys.executable).with_name("dsar"))
        self.settings: dict[str, str] = {}

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "DAGSTER_", "SANDBOX_"))}
        return {**base, "DSAR_CELERY_BROKER": self.broker, "DSAR_CELERY_BACKEND": "redis://127.0.0.1:6379/0",
                **extra}

    def up(self, *, workers: int, size: int, sandbox_args: tuple[str, ...] = ()) -> None:
        from dsar_pipeline.settings import load_env_file

        watch = time.monotonic()
        command = [self.dsar, "cluster", "up", "--workers", str(workers), "--slots", "4", "--size", str(size),
                   "--port", str(_free_port()), "--code-port", str(_free_port()),
                   "--database", DATABASE, *(f"--sandbox-arg={arg}" for arg in sandbox_args)]
        done = subprocess.run(command, cwd=self.cwd, env=self.env(), capture_output=True,
                              text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"dsar cluster up failed: {(done.stdout + done.stderr).strip()[-500:]}")
        self.settings = load_env_file(self.cwd / ".cluster" / "cluster.env", environ={})
        say(f"cluster up ({workers} worker(s), sandbox of {size}) in "
            f"{time.monotonic() - watch:.1f} s")

    def faults(self, spec: str) -> None:
        done = subprocess.run([self.dsar, "sandbox", "faults", spec, "--env-file",
                               str(self.cwd / ".cluster" / "sandbox" / "sandbox.env")], cwd=self.cwd, env=self.env(),
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"dsar sandbox faults failed: {done.stderr.strip()[-300:]}")

    def worker(self, action: str, name: str = "worker-2") -> None:
        """Stop a worker (its process group) or start it again as `up` did."""
        import signal

        if action == "stop":
            parts = json.loads((self.cwd / ".cluster" / "processes.json").read_text(encoding="utf-8"))
            os.killpg(parts[name]["pid"], signal.SIGTERM)
            time.sleep(5)
            return
        subprocess.run([self.dsar, "cluster", "restart", name], cwd=self.cwd, env={**self.env(), **self.settings},
                       capture_output=True, timeout=120, check=True)
        time.sleep(5)

    def down(self) -> None:
        subprocess.run([self.dsar, "cluster", "down"], cwd=self.cwd, env=self.env(), capture_output=True,
                       timeout=300, check=False)

    def demo_seconds(self) -> float:
        done = subprocess.run([self.dsar, "demo", "--cluster", "--json"], cwd=self.cwd,
                              env={**self.env(), **self.settings}, capture_output=True, text=True, timeout=900,
                              check=False)
        summary = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
        if summary.get("status") != "delivered":
            raise RuntimeError(f"dsar demo --cluster did not deliver: {(done.stdout + done.stderr).strip()[-500:]}")
        return float(summary["seconds_total"])

    def batch(self, count: int, size: int, label: str) -> dict[str, Any]:
        """`count` tickets of ordinary people at once; seconds from the first drop to the last run's end."""
        import dagster as dg

        from assets.status import request_status
        from bench._pipeline import drop, sign_locally
        from dsar_pipeline.intake.request_ids import derive_request_id
        from harness.demo import CONTROLLER_OF_COUNTRY
        from harness.ticket_example import ticket_for
        from sandbox.eid import SandboxEid
        from sandbox.population import generate

        eid = SandboxEid(self.cwd / ".cluster" / "sandbox")
        people = [p for p in generate(seed=42, size=size).people if p.case is None][:count]
        tickets, request_ids = [], []
        for person in people:
            controller = CONTROLLER_OF_COUNTRY[person.country]
            ticket = ticket_for({"name": person.key, "country": person.country, "personal_code": person.personal_code,
                                 "email": person.email, "phone": person.phone, "language": person.language},
                                controller, now=datetime.now(UTC))
            ticket["subject_request_id"] = f"bench-{label}-{secrets.token_hex(6)}"
            tickets.append(sign_locally(eid, person, ticket))
            request_ids.append(derive_request_id(controller, ticket["subject_request_id"],
                                                 self.settings["DSAR_REQUEST_ID_KEY"].encode()))
        os.environ.update(self.settings)
        control = self.settings["SANDBOX_CONTROL_URL"]
        started = time.time()
        for number, ticket in enumerate(tickets):
            drop(control, ticket, f"bench-{label}-{number:03d}")
        with dg.DagsterInstance.get() as instance:
            deadline = time.monotonic() + WAIT_S
            while True:
                known = set(instance.get_dynamic_partitions("dsar_requests"))
                records = instance.get_run_records(dg.RunsFilter(job_name="dsar_request_job",
                                                                 created_after=datetime.fromtimestamp(started, UTC)))
                if set(request_ids) <= known and records and all(r.dagster_run.is_finished for r in records):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: not finished after {WAIT_S} s")
                time.sleep(1)
            seconds = max(r.end_time for r in records if r.end_time) - started
            statuses = Counter(request_status(instance, rid)["status"] for rid in request_ids)
        final = sum(n for status, n in statuses.items() if status in FINAL)
        say(f"{label}: {count} tickets, {len(records)} runs, {seconds:.1f} s, {dict(statuses)}")
        return {"count": count, "seconds": seconds, "per_second": final / seconds, "runs": len(records),
                "statuses": dict(statuses)}


def _child(quick: bool) -> dict[str, Any]:
    if reason := _unreachable():
        return {"skipped": reason}
    size, repetitions, count, scale_count = (100, 1, 10, 6) if quick else (1000, 3, 100, 40)
    full_speed = ("--avp-min-interval", "0", "--volt-rate", "0")
    latency = ",".join(f"{name}=latency:{LATENCY_S:g}" for name in ("billing", "volt", "recordings", "portal", "avp"))
    result: dict[str, Any] = {"scale": {}}
    with _vhost() as broker, tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        cluster = BenchCluster(Path(tmp), broker)
        try:
            if not quick:  # as `make cluster` starts it; the quick form measures it on the next cluster instead
                cluster.up(workers=2, size=size)
                cluster.demo_seconds()  # warm-up: the workers' first steps
                result["e2e"] = {"seconds": [cluster.demo_seconds() for _ in range(repetitions)]}
            cluster.up(workers=2, size=size, sandbox_args=(*full_speed, "--billing-url", PG_URL))
            if quick:
                result["e2e"] = {"seconds": [cluster.demo_seconds()]}
            result["batch"] = cluster.batch(count, size, "rps")
            cluster.faults(latency)
            cluster.worker("stop")
            result["scale"]["1"] = cluster.batch(scale_count, size, "scale-1")
            cluster.worker("start")
            result["scale"]["2"] = cluster.batch(scale_count, size, "scale-2")
        finally:
            cluster.down()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_bench")
    parser.add_argument("which", choices=("child",))
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(_child(parser.parse_args().quick)), flush=True)
    sys.exit(0)
