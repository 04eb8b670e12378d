"""Shared pieces of the Dagster benchmarks (`pipeline_bench`): a fresh process per measurement, a
project-like Dagster home, tickets as the web form files them, the package fetched through its link,
and step timings read back from the run's event log.

Why a fresh process per measurement: `runner.execute` runs steps in a forkserver that is started once
per process and keeps the environment it was started with (the sandbox's URLs, the Dagster home), so
two sandboxes cannot be measured one after the other in one process. The child also keeps the
figures its own: the parent holds nothing of the pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FINAL = ("delivered", "awaiting_review", "incomplete")


PROGRESS = "bench: "


def run_child(module: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """`python -m module *args` in ROOT: its last stdout line is its JSON result. Of its stderr (Dagster's
    event log goes there too) only the progress lines (`say`) are shown; the tail is shown if it fails."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=out,
                                stderr=subprocess.PIPE, text=True, errors="replace")
        assert proc.stderr is not None
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        tail: deque[str] = deque(maxlen=40)
        try:
            for line in proc.stderr:
                tail.append(line)
                if line.startswith(PROGRESS):
                    print(f"  {line[len(PROGRESS):]}", end="", flush=True)
            proc.wait()
        finally:
            timer.cancel()
        if proc.returncode != 0:
            raise RuntimeError(f"{module} {' '.join(args)} exited with {proc.returncode}; its stderr ended:\n"
                               + "".join(tail))
        out.seek(0)
        return json.loads(out.read().strip().splitlines()[-1])  # type: ignore[no-any-return]


def say(message: str) -> None:
    print(f"{PROGRESS}{message}", file=sys.stderr, flush=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def enter_pipeline_env(settings: dict[str, str], home: Path) -> None:
    """The sandbox settings and a project-like Dagster home (as `dsar demo` does), in this process."""
    from harness.embedded import prepare_home

    os.environ.update(settings)
    os.environ.update(prepare_home(home))


def named_people(control_url: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in httpx.get(f"{control_url}/people", timeout=10).json()["people"]}


def drop(control_url: str, ticket: dict[str, Any], name: str) -> None:
    raw = json.dumps(ticket, ensure_ascii=False).encode()
    httpx.post(f"{control_url}/tickets", params={"name": name}, content=raw, timeout=30).raise_for_status()


def sign_locally(eid: Any, person: Any, ticket: dict[str, Any]) -> dict[str, Any]:
    """`intake.example.sign_ticket`, for a person who is not a named case: the same container, signed in this
    process with the sandbox's own eID (`sandbox.eid.SandboxEid` on the sandbox's state dir, the CA the
    pipeline trusts through DSAR_TRUST_ANCHORS_DIR). The control API's `/eid/sign` signs named cases only."""
    from harness.ticket_example import sign_ticket

    return sign_ticket(ticket, lambda name, data: eid.sign_container([(name, data)], person))


def fetch_package(outbox: Path, request_id: str, dest: Path) -> int:
    """As `demo._fetch_package`: the link mail of this request, the package downloaded through it (bytes)."""
    mails = sorted((outbox / "mail").glob("*.json"))
    link_file = next((m for m in reversed(mails) if request_id in json.loads(m.read_text())["text"]), None)
    if link_file is None:
        raise RuntimeError("no link mail for the request in the outbox")
    url = next(w for w in json.loads(link_file.read_text())["text"].split() if w.startswith("http"))
    size = 0
    with httpx.stream("GET", url, timeout=120) as response, dest.open("wb") as handle:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            handle.write(chunk)
            size += len(chunk)
    return size


def step_windows(instance: Any, run_id: str, suffix: str = "_records") -> dict[str, tuple[float, float]]:
    """Per step whose key ends with `suffix`: (first start, last end) as Unix times, from the run's events.

    A retried step counts from its first start to its final success or failure.
    """
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED, dg.DagsterEventType.STEP_SUCCESS,
             dg.DagsterEventType.STEP_FAILURE}
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        key = entry.step_key
        if not key or not key.endswith(suffix):
            continue
        kind = entry.dagster_event_type
        if kind in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED):
            starts.setdefault(key, entry.timestamp)
        else:
            ends[key] = entry.timestamp
    return {key: (starts[key], ends[key]) for key in starts if key in ends}


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.started


class PeakRss:
    """The peak of the summed RSS of this process and its descendants, sampled every `interval_s` while
    in the `with` block; the trees of `excluded` pids (the sandbox: other organisations' systems) are
    left out. A sum over processes counts pages shared after a fork once per process: an upper bound.

    Also kept, for the printout: each process's own peak RSS (`per_process`: "pid command" -> MB) and the
    peak of the summed PSS (`peak_pss_mb`: each shared page divided among the processes that map it, the
    shared libraries included), which is what the processes take of the machine's memory together."""

    def __init__(self, excluded: tuple[int, ...] = (), interval_s: float = 0.1) -> None:
        self.excluded, self.interval_s, self.peak_mb, self.peak_pss_mb = set(excluded), interval_s, 0.0, 0.0
        self.per_process: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while True:
            total = pss = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    if process.pid in self.excluded or any(p.pid in self.excluded for p in process.parents()):
                        continue
                    memory = process.memory_full_info()
                    label = f"{process.pid} {' '.join(process.cmdline()[1:4])[:60]}"
                except psutil.Error:  # ended between listing and reading
                    continue
                total += memory.rss
                pss += getattr(memory, "pss", memory.rss)
                self.per_process[label] = max(self.per_process.get(label, 0.0), memory.rss / 2**20)
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self.peak_pss_mb = max(self.peak_pss_mb, pss / 2**20)
            if self._stop.wait(self.interval_s):
                return
