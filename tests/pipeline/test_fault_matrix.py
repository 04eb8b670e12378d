"""The fault matrix: every fault kind on every system, each through `dsar demo --faults SYSTEM=KIND --json`.

A fault touches only the system it names (the controller's own S3 and KMS are another endpoint, which no
fault reaches). For every cell:
- no traceback, a one-object JSON last line, and the exit status the demo documents;
- never an incomplete package delivered: a system that did not answer completely means no package;
- a delivered package holds exactly the records of the fault-free run, system by system;
- the transient cells (`error:0.3`, `ratelimit:3`, and `latency`, which only slows) deliver.

Billing runs on PostgreSQL (`--billing-url`) for its wire-level faults, one database per parallel cell;
each cell runs in a working directory of its own (its own sandbox state, Dagster home and outbox).
Cells run CELLS_AT_ONCE at a time: a demo mostly waits (the hub's call interval, the faults themselves).

The whole matrix (30 cells and the fault-free run) took 16 minutes on 2 cores, a `timeout` cell
3-7 minutes alone (the connector's read timeout, times its attempts, in discovery and in collection).
`make test` runs five kinds once each, every system named once (`QUICK`: all but `timeout`, to keep the
suite short); the whole matrix runs with `DSAR_FAULT_MATRIX=full`.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

SYSTEMS = ("billing", "volt", "recordings", "portal", "avp")
KINDS = ("latency:1", "error:0.3", "ratelimit:3", "timeout", "truncate", "down")
MUST_DELIVER = ("latency:1", "error:0.3", "ratelimit:3")
QUICK = (("portal", "latency:1"), ("avp", "error:0.3"), ("volt", "ratelimit:3"), ("billing", "truncate"),
         ("recordings", "down"))  # a timeout cell takes 3-7 minutes: the whole matrix only
FULL = os.environ.get("DSAR_FAULT_MATRIX") == "full"
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
CELLS_AT_ONCE = 3
SIZE = "100"  # the named demo person is the same at any population size
CELL_TIMEOUT_S = 600
DSAR = str(Path(sys.executable).with_name("dsar"))


def _databases() -> list[str]:
    """One billing database per parallel cell (created if missing); skips without PostgreSQL."""
    engine = sa.create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
    names = [f"dsar_fault_matrix_{index}" for index in range(CELLS_AT_ONCE)]
    try:
        with engine.connect() as conn:
            present = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
            for name in names:
                if name not in present:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(exc).__name__}): billing's wire-level "
                    "faults need it")
    finally:
        engine.dispose()
    return [f"{SERVER}/{name}" for name in names]


def _demo(workdir: Path, database: str, faults: str) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    done = subprocess.run([DSAR, "demo", "--json", "--size", SIZE, "--billing-url", database, "--faults", faults],
                          cwd=workdir, capture_output=True, text=True, timeout=CELL_TIMEOUT_S, check=False)
    cell = f"--faults {faults or 'none'}"
    assert "Traceback" not in done.stdout + done.stderr, f"{cell}: a traceback\n{done.stderr[-2000:]}"
    assert "internal error" not in done.stderr, f"{cell}: {done.stderr.strip()}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"{cell}: no output (exit {done.returncode}): {done.stderr.strip()[-500:]}"
    summary = json.loads(lines[-1])
    expected_exit = 0 if summary["status"] in ("delivered", "awaiting_review", "incomplete") else 1
    assert done.returncode == expected_exit, f"{cell}: exit {done.returncode} for status {summary['status']}"
    return summary


def _records(summary: dict[str, Any]) -> dict[str, int]:
    return {name: found["records"] for name, found in summary["systems"].items()}


def test_every_fault_on_every_system_ends_cleanly_and_never_delivers_an_incomplete_package(tmp_path: Path) -> None:
    databases = _databases()
    baseline = _demo(tmp_path / "fault-free", databases[0], "")
    assert baseline["status"] == "delivered", baseline
    assert {name: found["status"] for name, found in baseline["systems"].items()} == dict.fromkeys(SYSTEMS, "complete")
    expected = _records(baseline)

    free: queue.Queue[str] = queue.Queue()
    for database in databases:
        free.put(database)

    def cell(system: str, kind: str) -> tuple[str, dict[str, Any]]:
        database = free.get()
        try:
            spec = f"{system}={kind}"
            return spec, _demo(tmp_path / spec.replace("=", "-").replace(":", "-"), database, spec)
        finally:
            free.put(database)

    with ThreadPoolExecutor(max_workers=CELLS_AT_ONCE) as pool:
        cells = [(s, k) for s in SYSTEMS for k in KINDS] if FULL else list(QUICK)
        outcomes = list(pool.map(lambda pair: cell(*pair), cells))

    problems = []
    for spec, summary in outcomes:
        statuses = {name: found["status"] for name, found in summary["systems"].items()}
        print(f"{spec:24} {summary['status']:15} {statuses} {summary['seconds_total']:.0f} s")
        named = spec.split("=", 1)[0]
        if any(status != "complete" for name, status in statuses.items() if name != named):
            problems.append(f"{spec}: a system it does not name did not answer completely: {statuses}")
        if any(status != "complete" for status in statuses.values()) and (
                summary["package"] is not None or summary["status"] == "delivered"):
            problems.append(f"{spec}: an incomplete answer was delivered ({summary['status']}, {statuses})")
        if summary["status"] == "delivered" and _records(summary) != expected:
            problems.append(f"{spec}: delivered {_records(summary)} records, the fault-free run {expected}")
        if spec.split("=", 1)[1] in MUST_DELIVER and summary["status"] != "delivered":
            problems.append(f"{spec}: a transient fault ended {summary['status']} ({statuses}), not delivered")
    assert not problems, "\n".join(problems)
