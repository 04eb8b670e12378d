"""Whole requests through Dagster: one request end to end, the fan-out of the collection, a batch of 100.

Every measurement runs in a fresh process (see `bench._pipeline`) with its own sandbox, started as
`python -m sandbox up` in yet another process (`SandboxProcess`), and a project-like Dagster home in
a temp dir (`prepare_home`: SQLite storage, the embedded resources). Runs go through the same sensor
and job the UI uses, without the daemon (`runner.tick`, `runner.execute`: the multiprocess executor
on a forkserver, as `dsar demo`). Progress lines show where the time went (steps, gaps between them);
the machine's load average is printed before and after each.

`e2e_household_seconds` — ticket to delivered package for the demo person: a signed ticket (a new
subject_request_id each time; signing, the person's own act, is not timed) is dropped into the inbox,
then the clock runs over one sensor tick, the run, the request's status (must be `delivered`) and the
download of the package through the link in the mail outbox (as `demo._fetch_package`, into the temp
dir). Median of 3 (quick: 1), one Dagster home and instance for the three; the step forkserver
is started (`runner.start_step_server`) once the pipeline's environment is set, before the first
ticket, as `dsar demo` does — it preloads the pipeline, ~4 s, which a waiting worker has behind it.
Sandbox: default options, 1000 people (quick: 100).

`fanout_ratio` — every system answers every call 0.5 s late (quick: 0.1 s, to keep the smoke run
short): `--faults billing=latency:..,volt=..,recordings=..,portal=..,avp=..`. Billing on SQLite
cannot take latency (`sandbox/billing/sqlite_faults.py`: no wire), so the sandbox runs billing on
PostgreSQL (`--billing-url`, default postgresql+psycopg://postgres@127.0.0.1:5432/test, schema
`billing`, or $BENCH_BILLING_URL), behind the sandbox's fault proxy; without a reachable PostgreSQL
the metric is skipped with a message. `recordings` latency slows the call centre's S3 alone: the
controller's own S3 and KMS (inbox, work store, envelope keys of the IO manager) are another endpoint. One
real Dagster run of the demo person's request per repetition, its selection cut after the
collection (intake, identity, collection groups: review, package and delivery wait for every
system, so they cannot overlap the phase). From the run's event log: the collection phase runs from
the first STEP_START of a `*_records` step to the last STEP_SUCCESS of one; each system's own time
is its step's STEP_START -> STEP_SUCCESS (both therefore include the steps' input loading and
output storing; the connectors' `seconds` metadata, collection alone, is printed too). Ratio =
phase / longest system's own time; 1.0 is complete overlap. Median of 3 runs (quick: 1; sandbox of
1000 people, quick: 100).

`batch_requests_per_second` — N tickets of N different sandbox people (100, sandbox of 1000; quick:
10 of 100) dropped at once, all systems at full speed (`--avp-min-interval 0 --volt-rate 0`, no
faults): one sensor tick (batched run requests: as many batches as runs go at once, each of at most
`DSAR_BATCH_SIZE`, default 50), then the run
requests executed BATCH_CONCURRENCY at a time (`BENCH_BATCH_CONCURRENCY`, default 2: the production
`deploy/dagster.yaml` lets two batched runs (`dsar/batch_size` tag) run at once, and the batch's stages
are single-threaded Python on a 2-core machine, so a second run fills the other core; 2: each run in a
worker process of its own, as the run launcher starts them — `runner.execute` from two threads of one
process deadlocked; 1, or a single run: in this process, one after the other). The clock runs from the
first ticket dropped to the end of the last run, when every request has its final status. The
people are the population's first N ordinary people (not the named cases), from
`sandbox.population.generate` with the sandbox's seed and size. The control API signs for named
cases only, so the tickets are signed here with the sandbox's own eID CA (`SandboxEid` on the
sandbox's state dir: the CA the sandbox hands the pipeline as DSAR_TRUST_ANCHORS_DIR): the same
ASiC-E containers `/eid/sign` makes, so each request is verified as a signed web-form request is;
some still end `awaiting_review` for weak matches (the reasons are printed). The value counts the
requests that reached a final status (delivered | awaiting_review | incomplete) per second;
`batch_final_requests` and `batch_delivered_requests` record that nothing broke. The full form
also measures the other concurrency (1 or 2 runs at a time) on the next N people and prints it
(not recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._pipeline import (
    FINAL,
    ROOT,
    Stopwatch,
    drop,
    enter_pipeline_env,
    fetch_package,
    load,
    named_people,
    run_child,
    say,
    sign_locally,
    step_windows,
)
from bench.results import Metric

SYSTEMS = ("billing", "volt", "recordings", "portal", "avp")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RETURNED: dict[str, float] = {}
"""When each run's process returned (run id -> Unix time), for the batch's printout."""
BATCH_CONCURRENCY = int(os.environ.get("BENCH_BATCH_CONCURRENCY", "2"))  # runs at once (full: the other too)
CHILD_TIMEOUT_S = 3600


def run(quick: bool) -> dict[str, Metric]:
    """All three (each also runs on its own: `python -m bench --only e2e|fanout|batch`)."""
    return {**run_e2e(quick), **run_fanout(quick), **run_batch(quick)}


def run_e2e(quick: bool) -> dict[str, Metric]:
    print(f"  {load()}", flush=True)
    result = run_child("bench.pipeline_bench", ["e2e", *(["--quick"] if quick else [])], CHILD_TIMEOUT_S)
    times = result["seconds"]
    print(f"ticket -> delivered package, each   {', '.join(f'{t:.1f}' for t in times)} s "
          f"(package {result['package_bytes'] / 1e6:.1f} MB)", flush=True)
    print(f"  {load()}", flush=True)
    return {"e2e_household_seconds": {
        "value": round(statistics.median(times), 2), "unit": "s",
        "target": f"<= 60, then <= 20 (median of {len(times)}, demo person, sandbox of {result['size']})"}}


def run_fanout(quick: bool) -> dict[str, Metric]:
    print(f"  {load()}", flush=True)
    result = run_child("bench.pipeline_bench", ["fanout", *(["--quick"] if quick else [])], CHILD_TIMEOUT_S)
    if result.get("skipped"):
        print(f"fanout: skipped, {result['skipped']}; no metric recorded", flush=True)
        return {}
    for number, rep in enumerate(result["runs"], 1):
        own = ", ".join(f"{name} +{rep['starts'][name]:.1f}..{rep['starts'][name] + seconds:.1f}"
                        for name, seconds in sorted(rep["own"].items(), key=lambda item: rep["starts"][item[0]]))
        collected = ", ".join(f"{name} {seconds:.1f}" for name, seconds in rep["collect_seconds"].items())
        print(f"run {number}: phase {rep['phase']:.1f} s / longest {rep['longest']} {max(rep['own'].values()):.1f} s"
              f" = {rep['ratio']:.3f}; steps (s from the first start) {own}; connectors alone {collected}", flush=True)
    print(f"  {load()}", flush=True)
    ratios = [rep["ratio"] for rep in result["runs"]]
    return {"fanout_ratio": {
        "value": round(statistics.median(ratios), 3), "unit": "x",
        "target": f"<= 1.3 (median of {len(ratios)}; {result['latency']:g} s latency per call on every system)"}}


def run_batch(quick: bool) -> dict[str, Metric]:
    print(f"  {load()}", flush=True)
    result = run_child("bench.pipeline_bench", ["batch", *(["--quick"] if quick else [])], CHILD_TIMEOUT_S)
    chosen = result["batches"][0]
    for batch in result["batches"]:
        print(f"{batch['count']} requests, {batch['runs']} runs, {batch['concurrency']} at a time: "
              f"{batch['seconds']:.1f} s = {batch['final'] / batch['seconds']:.2f} requests/s "
              f"(tick {batch['tick_seconds']:.1f} s; statuses {batch['statuses']})", flush=True)
    print(f"  {load()}", flush=True)
    count = chosen["count"]
    return {
        "batch_requests_per_second": {
            "value": round(chosen["final"] / chosen["seconds"], 3), "unit": "req/s",
            "target": f">= 1 ({count} signed tickets of {count} people at once, {chosen['concurrency']} run(s) "
                      f"at a time, systems at full speed)"},
        "batch_final_requests": {
            "value": chosen["final"], "unit": "requests",
            "target": f"= {count} (delivered | awaiting_review | incomplete)"},
        "batch_delivered_requests": {
            "value": chosen["statuses"].get("delivered", 0), "unit": "requests",
            "target": f"report (of {count}; the others: {chosen['statuses']})"},
    }


# -- in the child process ------------------------------------------------------------------------------


def _start(tmp: Path, size: int, faults: str = "", extra: tuple[str, ...] = (), *, step_server: bool = True) -> Any:
    """The sandbox, the pipeline's environment and (`step_server`) the step forkserver, which only
    multiprocess runs use: a deployment whose runs all run in process never starts it."""
    from harness.sandbox_process import SandboxProcess

    watch = Stopwatch()
    sandbox = SandboxProcess(tmp / "sandbox", size=size, faults=faults, extra_args=extra, ready_timeout_s=300)
    sandbox.start()
    say(f"sandbox of {size} people ready in {watch():.1f} s")
    try:
        enter_pipeline_env(sandbox.settings, tmp / "dagster_home")
        from harness import runner

        if step_server:
            runner.start_step_server()  # as `dsar demo` does before it files its ticket
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def _ticket(person: dict[str, Any], label: str) -> dict[str, Any]:
    from harness.demo import CONTROLLER_OF_COUNTRY
    from harness.ticket_example import ticket_for

    ticket = ticket_for(person, CONTROLLER_OF_COUNTRY[str(person["country"])], now=datetime.now(UTC))
    ticket["subject_request_id"] = f"bench-{label}-{secrets.token_hex(6)}"
    return ticket


def _execute_up_to_collection(instance: Any, run_request: Any) -> Any:
    """`runner.execute`, with the run's asset selection cut after the collection (intake, identity,
    collection groups): review, package and delivery wait for every system, so they cannot overlap
    the collection phase; leaving them out only saves the benchmark their time."""
    import dagster as dg
    from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

    from assets.definitions import defs, request_job
    from harness.runner import SENSOR

    tags = {**(run_request.tags or {}), SENSOR_NAME_TAG: SENSOR}
    if run_request.run_key:
        tags[RUN_KEY_TAG] = run_request.run_key
    if run_request.partition_key:
        tags["dagster/partition"] = run_request.partition_key
    groups = dg.AssetSelection.groups("intake", "identity", "collection")
    keys = list(groups.resolve(defs.resolve_asset_graph()))
    return dg.execute_job(dg.reconstructable(request_job), instance=instance, tags=tags, asset_selection=keys)


def _one_request(instance: Any, control: str, person: str, label: str, *, whole_job: bool = True
                 ) -> tuple[str, Any, Stopwatch, dict[str, float]]:
    """File a signed ticket for a named person, tick once, run it: (request id, result, stopwatch started at the
    drop, marks: seconds on that stopwatch when the tick ended, the run was launched and it returned)."""
    import time

    from harness import runner
    from harness.demo import control_signer
    from harness.ticket_example import sign_ticket

    signed = sign_ticket(_ticket(named_people(control)[person], label), control_signer(control, person))
    clock = Stopwatch()
    drop(control, signed, f"bench-{label}")
    tick = runner.tick(instance)
    if len(tick.new_requests) != 1 or len(tick.runs) != 1:
        raise RuntimeError(f"expected one new request and run, got {tick.new_requests} ({tick.skip_reason})")
    marks = {"tick": clock()}
    launched = time.time()
    execute = runner.execute if whole_job else _execute_up_to_collection
    result = execute(instance, tick.runs[0])
    returned = time.time()
    marks["run"] = clock()
    if not result.success:
        raise RuntimeError("the request run failed")
    steps = step_windows(instance, result.run_id, suffix="")
    if steps:
        marks["first_step_after"] = min(start for start, _ in steps.values()) - launched
        marks["no_step_running"] = returned - launched - _union(list(steps.values()))
        marks["after_last_step"] = returned - max(end for _, end in steps.values())
    return tick.new_requests[0], result, clock, marks


def _union(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of `spans`."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def _e2e(quick: bool) -> dict[str, Any]:
    import dagster as dg

    from assets.status import request_status

    size, repetitions = (100, 1) if quick else (1000, 3)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        sandbox = _start(Path(tmp), size)
        try:
            instance = dg.DagsterInstance.get()
            control, outbox = sandbox.settings["SANDBOX_CONTROL_URL"], Path(sandbox.settings["SANDBOX_OUTBOX_DIR"])
            times, package_bytes = [], 0
            for repetition in range(repetitions):
                request_id, result, clock, marks = _one_request(instance, control, "demo", f"e2e-{repetition}")
                status = request_status(instance, request_id)
                if status["status"] != "delivered":
                    raise RuntimeError(f"the demo request ended {status['status']}, not delivered")
                package_bytes = fetch_package(outbox, request_id, Path(tmp) / "package.zip")
                times.append(clock())
                steps = step_windows(instance, result.run_id, suffix="")
                say(f"repetition {repetition + 1}: {times[-1]:.1f} s (tick {marks['tick']:.1f} s, run returned at "
                    f"{marks['run']:.1f} s; first step {marks.get('first_step_after', 0):.1f} s after the launch, "
                    f"run returned {marks.get('after_last_step', 0):.1f} s after the last step, no step running "
                    f"for {marks.get('no_step_running', 0):.1f} s of the run); steps " + ", ".join(
                    f"{key} {end - start:.1f}" for key, (start, end) in sorted(steps.items(), key=lambda s: s[1][0])))
        finally:
            sandbox.stop()
    return {"seconds": times, "package_bytes": package_bytes, "size": size}


def postgres_unreachable(url: str) -> str | None:
    """Why PostgreSQL at `url` cannot be reached (None when it answers a TCP connect)."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), timeout=2):
            return None
    except OSError as exc:
        return f"PostgreSQL at {parsed.host}:{parsed.port} unreachable ({type(exc).__name__})"


def _fanout(quick: bool) -> dict[str, Any]:
    import dagster as dg

    from assets.status import request_status

    latency, size, repetitions = (0.1, 100, 1) if quick else (0.5, 1000, 3)
    billing_url = os.environ.get("BENCH_BILLING_URL", PG_URL)
    unreachable = postgres_unreachable(billing_url)
    if unreachable:
        return {"skipped": f"{unreachable}: billing on SQLite cannot take latency"}
    faults = ",".join(f"{system}=latency:{latency:g}" for system in SYSTEMS)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        sandbox = _start(Path(tmp), size, faults, ("--billing-url", billing_url))
        try:
            instance = dg.DagsterInstance.get()
            control = sandbox.settings["SANDBOX_CONTROL_URL"]
            for repetition in range(repetitions):
                request_id, result, clock, _ = _one_request(instance, control, "demo", f"fanout-{repetition}",
                                                            whole_job=False)
                status = request_status(instance, request_id)
                failed = [name for name, s in status["systems"].items() if s["status"] != "complete"]
                if failed:
                    raise RuntimeError(f"systems not complete: {failed}")
                windows = step_windows(instance, result.run_id)
                if len(windows) != len(SYSTEMS):
                    raise RuntimeError(f"expected {len(SYSTEMS)} system steps, found {sorted(windows)}")
                own = {key.removesuffix("_records"): end - start for key, (start, end) in windows.items()}
                phase = max(end for _, end in windows.values()) - min(start for start, _ in windows.values())
                longest = max(own, key=own.__getitem__)
                first = min(start for start, _ in windows.values())
                starts = {key.removesuffix("_records"): start - first for key, (start, _) in windows.items()}
                runs.append({"phase": phase, "own": own, "longest": longest, "ratio": phase / own[longest],
                             "starts": starts,
                             "collect_seconds": {n: s["seconds"] for n, s in status["systems"].items()},
                             "run_seconds": clock()})
                say(f"repetition {repetition + 1}: run {clock():.1f} s, collection phase {phase:.1f} s, "
                    f"ratio {phase / own[longest]:.3f}")
        finally:
            sandbox.stop()
    return {"runs": runs, "latency": latency}


def _execute_all(instance: Any, runs: list[Any], concurrency: int) -> list[Any]:
    """Execute the run requests: in this process one after the other, or `concurrency` at a time each in a
    process of its own (`runner.execute` from two threads of one process deadlocked here), which then pays
    its own Dagster import and step forkserver. Returns the runs' records."""
    import subprocess

    import dagster as dg
    from dagster._serdes import serialize_value

    from harness import runner

    if concurrency == 1 or len(runs) == 1:
        run_ids = [runner.execute(instance, run_request).run_id for run_request in runs]
    else:
        def in_process(run_request: Any) -> str:
            done = subprocess.run([sys.executable, "-m", "bench.pipeline_bench", "execute"], cwd=ROOT,
                                  input=serialize_value(run_request), stdout=subprocess.PIPE, text=True, check=True)
            run_id = str(json.loads(done.stdout.strip().splitlines()[-1])["run_id"])
            RETURNED[run_id] = time.time()
            return run_id

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            run_ids = list(pool.map(in_process, runs))
    records = [instance.get_run_record_by_id(run_id) for run_id in run_ids]
    failed = sum(1 for record in records if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS)
    if failed:
        say(f"{failed} of {len(records)} runs did not succeed")
    return records


def _execute_one() -> dict[str, Any]:
    """In a worker process (the batch benchmark's concurrency > 1): execute the run request given on stdin."""
    import dagster as dg
    from dagster._serdes import deserialize_value

    from harness import runner

    run_request = deserialize_value(sys.stdin.read(), dg.RunRequest)
    with dg.DagsterInstance.get() as instance:
        result = runner.execute(instance, run_request)
    return {"run_id": result.run_id, "success": result.success}


def _batch_once(instance: Any, tickets: list[dict[str, Any]], control: str, concurrency: int) -> dict[str, Any]:
    from assets.status import latest_metadata, request_status
    from harness import runner

    clock = Stopwatch()
    with ThreadPoolExecutor(max_workers=8) as pool:  # at once, as a helpdesk's many agents file them
        list(pool.map(lambda item: drop(control, item[1], f"bench-batch-{item[0]:03d}-{secrets.token_hex(3)}"),
                      enumerate(tickets)))
    dropped = clock()
    os.environ["DSAR_BATCH_RUNS"] = str(concurrency)  # the sensor fills the run slots the deployment has
    tick = runner.tick(instance)
    tick_seconds = clock()
    if len(tick.new_requests) != len(tickets):
        say(f"the sensor accepted {len(tick.new_requests)} of {len(tickets)} tickets ({tick.skip_reason})")
    concurrency = max(1, min(concurrency, len(tick.runs)))
    launched = time.time()
    results = _execute_all(instance, tick.runs, concurrency)
    seconds = clock()
    statuses = Counter(request_status(instance, rid)["status"] for rid in tick.new_requests)
    final = sum(count for status, count in statuses.items() if status in FINAL)
    reasons = Counter(reason for rid in tick.new_requests
                      for reason in latest_metadata(instance, "review_findings", rid).get("reasons") or [])
    say(f"{len(tickets)} tickets dropped in {dropped:.1f} s, sensor tick done at {tick_seconds:.1f} s")
    say(f"{len(tickets)} tickets, {len(tick.runs)} runs at {concurrency} at a time: {seconds:.1f} s, {dict(statuses)}; "
        f"review reasons {dict(reasons)}")
    for number, record in enumerate(results, 1):
        steps = step_windows(instance, record.dagster_run.run_id, suffix="")
        spans = list(steps.values())
        if spans and record.start_time and record.end_time:  # where a run's time goes besides its steps
            returned = RETURNED.get(record.dagster_run.run_id)
            say(f"run {number}: after the tick, created at {record.create_timestamp.timestamp() - launched:.1f} s, "
                f"started {record.start_time - launched:.1f}, first step {min(a for a, _ in spans) - launched:.1f}, "
                f"last step ended {max(b for _, b in spans) - launched:.1f}, run ended {record.end_time - launched:.1f}"
                + (f", process returned {returned - launched:.1f}" if returned else ""))
        say(f"run {number}: steps " + ", ".join(f"{key} {end - start:.1f}" for key, (start, end)
                                              in sorted(steps.items(), key=lambda item: item[1][0])))
    return {"count": len(tickets), "runs": len(tick.runs), "concurrency": concurrency, "seconds": seconds,
            "tick_seconds": tick_seconds, "dropped_seconds": dropped, "final": final, "statuses": dict(statuses),
            "reasons": dict(reasons)}


def _batch(quick: bool) -> dict[str, Any]:
    import dagster as dg

    from sandbox.eid import SandboxEid
    from sandbox.population import generate

    count, size = (10, 100) if quick else (100, 1000)
    modes = [BATCH_CONCURRENCY] if quick else [BATCH_CONCURRENCY, 3 - BATCH_CONCURRENCY]
    ordinary = [p for p in generate(seed=42, size=size).people if p.case is None]
    batches = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        sandbox = _start(Path(tmp), size, extra=("--avp-min-interval", "0", "--volt-rate", "0"))
        try:
            instance = dg.DagsterInstance.get()
            control = sandbox.settings["SANDBOX_CONTROL_URL"]
            eid = SandboxEid(Path(tmp) / "sandbox")
            for index, concurrency in enumerate(modes):
                people = ordinary[index * count:(index + 1) * count]
                tickets = [sign_locally(eid, p, _ticket(
                    {"name": p.key, "country": p.country, "personal_code": p.personal_code, "email": p.email,
                     "phone": p.phone, "language": p.language}, f"batch-{index}")) for p in people]
                batches.append(_batch_once(instance, tickets, control, concurrency))
        finally:
            sandbox.stop()
    return {"batches": batches, "size": size}


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_bench")
    parser.add_argument("which", choices=("e2e", "fanout", "batch", "execute"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.which == "execute":
        result = _execute_one()
    else:
        result = {"e2e": _e2e, "fanout": _fanout, "batch": _batch}[args.which](args.quick)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1:])
