"""Many requests at once against one hub client, no faults (issue 13): every one completes.

The sandbox hub admits one call per `min_call_interval_s` per client (the token subject), answers
sooner calls 429 with Retry-After, and does not count refused calls. Our side: every connector of a
process paces by one pacer per hub client (base URL + client id), shared by its threads and
connector instances, and, on one machine, by its processes too (a batch of tickets is cut into
`DSAR_BATCH_RUNS` runs side by side, each step of each run in its own process: issue 13's four
tickets were two runs of two); a 429 is waited out (Retry-After, or the hub's interval) within the
operation's time budget, never given up after a handful of quick attempts.

The connectors are built as the pipeline builds them (`systems()["avp"].build(settings)`, one per
thread, real clock) and collected with `collect_system`, as the `avp_records` step does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.identity import Identifier, IdentityType
from connectors.registry import systems
from connectors.resolution import IdentityGraph
from dsar_pipeline.collection.collect import SystemStatus, collect_system
from sandbox.avp.app import AvpConfig
from sandbox.population import Population

REPO = Path(__file__).resolve().parents[2]
HUB_INTERVAL_S = AvpConfig.min_call_interval_s  # the sandbox's own default (`sandbox up --avp-min-interval`)
REQUESTS = 10
PROCESSES = 2


HUB = """
import json, sys
from datetime import date
from sandbox.avp.app import AvpConfig, create_app
from sandbox.hosting import ServiceHost
from sandbox.population import generate
job = json.loads(sys.stdin.readline())
population = generate(job["seed"], job["size"], date.fromisoformat(job["as_of"]))
host = ServiceHost("avp", create_app(population, AvpConfig(**job["config"])), 0)
host.start()
print(host.url, flush=True)
sys.stdin.read()  # serve until the test closes our stdin
host.stop()
"""


def python(code: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """`code` run by this interpreter in a process of its own, from the repository root."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    options: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env={**os.environ, "PYTHONPATH": path},
                            text=True, **options)


@pytest.fixture(scope="module")
def hub(federation: Any) -> Iterator[dict[str, str]]:
    """The sandbox hub in a process of its own (as `sandbox up` runs it) over the session's population,
    rate-limited as the sandbox runs it, no faults; the pipeline's AVP settings pointing at it (a client
    id of its own: nothing else shares its pace)."""
    settings, options = federation.settings, federation.options
    config = AvpConfig(client_id=f"dsar-pipeline-{secrets.token_hex(4)}", client_secret=secrets.token_urlsafe(16),
                       jwt_secret=secrets.token_urlsafe(32), supplier_eic=settings["DSAR_AVP_MARKET_PARTICIPANT_EIC"],
                       max_period_days=int(settings["DSAR_AVP_MAX_PERIOD_DAYS"]),
                       max_page_size=int(settings["DSAR_AVP_MAX_PAGE_SIZE"]), min_call_interval_s=HUB_INTERVAL_S)
    server = python(HUB)
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(json.dumps({"seed": options.seed, "size": options.size, "as_of": options.as_of.isoformat(),
                                   "config": dataclasses.asdict(config)}) + "\n")
    server.stdin.flush()
    url = server.stdout.readline().strip()
    assert url.startswith("http://"), "the hub process did not start"
    try:
        yield {name: value for name, value in settings.items() if name.startswith("DSAR_AVP_")} | {
            "DSAR_AVP_BASE_URL": url, "DSAR_AVP_TOKEN_URL": f"{url}/oauth/token",
            "DSAR_AVP_CLIENT_ID": config.client_id, "DSAR_AVP_CLIENT_SECRET": config.client_secret,
            "DSAR_AVP_MIN_CALL_INTERVAL_SECONDS": f"{HUB_INTERVAL_S:g}"}
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def people_with_metering_points(pop: Population, count: int) -> list[str]:
    """Personal codes of `count` different people the hub holds metering points of: those with the
    shortest supply so far, so that the test stays short (about a dozen hub calls each)."""
    today = date.today()
    spans = []
    for hub_customer in pop.hub_customers:
        meters = [m for c in pop.customer_of(hub_customer.person_key) for m in pop.meters_of(c.id) if m.country == "EE"]
        if meters:
            days = sum(((contract.end_date or today) - contract.start_date).days
                       for contract in map(pop.contract_of_meter, meters))
            spans.append((days, hub_customer.personal_code))
    codes = [code for _, code in sorted(spans)[:count]]
    assert len(set(codes)) == count, "the sandbox population holds too few people with metering points"
    return codes


def collect(settings: dict[str, str], personal_code: str, start: threading.Barrier | float) -> dict[str, Any]:
    """One request's hub step as the pipeline runs it: its own connector, built from the settings."""
    connector = systems()["avp"].build(settings)
    graph = IdentityGraph()
    graph.add(Identifier.of(IdentityType.PERSONAL_CODE, personal_code))
    try:
        if isinstance(start, threading.Barrier):
            start.wait()
        else:
            time.sleep(max(0.0, start - time.time()))
        result = collect_system(connector, graph)
        return {"status": result.status.value, "records": len(result.records), "calls": result.calls,
                "refused": connector.refused_calls, "seconds": result.seconds, "error": result.error}
    finally:
        connector.close()


def check(outcomes: list[dict[str, Any]]) -> None:
    failed = [o["error"] for o in outcomes if o["status"] != SystemStatus.COMPLETE.value]
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed: {failed}"
    assert all(o["records"] > 0 and o["error"] is None for o in outcomes)


def test_ten_requests_at_once_in_one_process_all_complete(federation: Any, hub: dict[str, str],
                                                          record_property: Any) -> None:
    codes = people_with_metering_points(federation.population, REQUESTS)
    start = threading.Barrier(REQUESTS)
    began = time.monotonic()
    with ThreadPoolExecutor(REQUESTS, thread_name_prefix="request") as pool:
        outcomes = list(pool.map(lambda code: collect(hub, code, start), codes))
    elapsed = time.monotonic() - began
    calls, refused = sum(o["calls"] for o in outcomes), sum(o["refused"] for o in outcomes)
    record_property("hub_calls", calls)
    record_property("hub_429", refused)
    print(f"\n{REQUESTS} requests in one process: {calls} hub calls, {refused} answered 429, {elapsed:.1f} s")
    check(outcomes)
    # one pace for all ten: the hub refused hardly any call
    assert refused <= max(3, calls // 10), f"{refused} of {calls} calls refused: the requests paced alone"


WORKER = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from tests.connectors.test_hub_concurrency import collect
job = json.loads(sys.argv[1])
print("ready", flush=True)
start = float(sys.stdin.readline())
with ThreadPoolExecutor(len(job["codes"])) as pool:
    outcomes = list(pool.map(lambda code: collect(job["settings"], code, start), job["codes"]))
print(json.dumps(outcomes), flush=True)
"""


def test_ten_requests_in_two_processes_share_the_hub_clients_pace(federation: Any, hub: dict[str, str],
                                                                  tmp_path: Path, record_property: Any) -> None:
    """Two batch runs side by side, five requests each on threads: two step processes, one hub client."""
    codes = people_with_metering_points(federation.population, REQUESTS)
    logs = [(tmp_path / f"worker-{number}.log").open("w") for number in range(PROCESSES)]
    workers = [python(WORKER, json.dumps({"settings": hub, "codes": codes[number::PROCESSES]}), stderr=logs[number])
               for number in range(PROCESSES)]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        start = time.time() + 0.2  # all at once, once every process has loaded the pipeline
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{start}\n")
            worker.stdin.close()
        outcomes: list[dict[str, Any]] = []
        for number, worker in enumerate(workers):
            assert worker.stdout is not None
            out = worker.stdout.read()
            assert worker.wait(timeout=120) == 0, (tmp_path / f"worker-{number}.log").read_text()[-2000:]
            outcomes.extend(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for log in logs:
            log.close()
    elapsed = time.time() - start
    calls, refused = sum(o["calls"] for o in outcomes), sum(o["refused"] for o in outcomes)
    record_property("hub_calls", calls)
    record_property("hub_429", refused)
    print(f"\n{REQUESTS} requests in {PROCESSES} processes: {calls} hub calls, {refused} answered 429, {elapsed:.1f} s")
    check(outcomes)
    # the processes kept one pace between them: the hub refused hardly any call
    assert refused <= max(3, calls // 10), f"{refused} of {calls} calls refused: the processes paced alone"
