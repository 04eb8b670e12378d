"""`avp_floor_ratio`: how close the AVP connector comes to the hub's rate-limit floor.

The sandbox runs in its own process with `--avp-min-interval 0.2` (the hub accepts one call per
0.2 s per client; the real hub about one per 5 s). The connector is built from the sandbox's
settings (`AvpConnector.from_settings`, so it paces itself by DSAR_AVP_MIN_CALL_INTERVAL_SECONDS)
and collects everything the hub holds on the `sole-trader` named case, found by the personal code
only: 10 metering points, each over the person's whole window (supply since ~3.5 years before the
sandbox's today, up to now; the hub holds data up to its today, the last periods answer 404 and
still cost a call each).

Wall time: `list(connector.collect(...))`, from the first call to the last record (the token fetch,
not rate-limited, included).

Floor: every call the hub counts against the limit, times the interval. The hub limits all /api
calls of a client alike (`sandbox/avp/app.py`, "Limits"), and the connector makes its look-ups
through the same pacer, so the floor is

    (look-up calls + floor_calls(windows)) x 0.2 s

- look-up calls: the fewest the hub's flow allows for a personal code: customer search (1) +
  metering points of the customer EIC found (1) + agreements of its meters in batches of 50
  (10 meters: 1) = 3 (the connector's actual count is printed beside it);
- `floor_calls(windows)`: the fewest meter-data calls the period limit (31 local days per call) and
  the page limit allow, computed by the connector's planner from windows built here from the
  sandbox population's ground truth (the contract's first supply day, local midnight, up to the
  same `now` the connector is given), and checked against the plan the connector made
  (`last_plan`).

N calls need only N - 1 waits, but the last call's own service time is not in the floor either; the
floor counts N intervals. The connector's pacer adds a margin of 2 % + 5 ms per call
(`connectors.avp.connector.paced_interval`) against scheduling jitter, so its own best at 0.2 s is
(N - 1) x 0.209 s + one call's service time: about 1.045 x the floor for many calls, less for few.

A call the hub refuses (429) and the connector repeats costs an interval more than the floor. To
show where the time beyond the floor went, the connector's HTTP client is observed (httpx event
hooks) and the bench prints the answer times and how much later than the pacer the sends went,
after a 429 or otherwise, with the machine's load average.

Sandbox of 1000 people (quick: 200; the named case is the same at any size). Quick: the same
interval and 10 meters, but the connector's clock is set to 92 days after the supply start, so each
meter's window is 3 periods (33 calls, ~7 s) instead of ~42.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.results import Metric

INTERVAL_S = 0.2
PERSON = "sole-trader"
AGREEMENT_BATCH = 50


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min) on {os.cpu_count()} CPUs"


def watch_calls(client: httpx.Client) -> list[dict[str, float]]:
    """Send and answer times of every /api call of `client` (httpx event hooks: observes, changes nothing)."""
    seen: list[dict[str, float]] = []
    by_request: dict[int, dict[str, float]] = {}

    def on_request(request: httpx.Request) -> None:
        if request.url.path.startswith("/api/"):
            by_request[id(request)] = entry = {"sent": time.perf_counter()}
            seen.append(entry)

    def on_response(response: httpx.Response) -> None:
        entry = by_request.pop(id(response.request), None)
        if entry is not None:
            entry["answered"], entry["status"] = time.perf_counter(), response.status_code

    client.event_hooks = {"request": [on_request], "response": [on_response]}
    return seen


def describe_calls(seen: list[dict[str, float]], paced_s: float) -> str:
    """Where the time beyond the pacer went: sends later than the pacer asks, after a 429 or not."""
    if len(seen) < 2:
        return "calls: too few to describe"
    answers = sorted(entry["answered"] - entry["sent"] for entry in seen if "answered" in entry)
    late_after_429 = late_other = 0.0
    for before, after in itertools.pairwise(seen):
        excess = after["sent"] - before["sent"] - paced_s
        if excess > 0.001:
            if before.get("status") == 429:
                late_after_429 += excess
            else:
                late_other += excess
    return (f"answer time (send -> headers)       median {answers[len(answers) // 2] * 1000:.0f} ms, p90 "
            f"{answers[int(len(answers) * 0.9)] * 1000:.0f} ms, max {answers[-1] * 1000:.0f} ms; "
            f"sends later than the pacer: {late_after_429:.1f} s after 429s, {late_other:.1f} s otherwise")


def run(quick: bool) -> dict[str, Metric]:
    print(f"  {load()}", flush=True)
    from connectors.avp import AvpConnector, MeterWindow
    from connectors.avp.connector import paced_interval
    from connectors.avp.planning import history_start, local_midnight
    from connectors.identity import Identifier, IdentityType
    from harness.sandbox_process import SandboxProcess
    from sandbox.population import generate

    size = 200 if quick else 1000
    population = generate(seed=42, size=size)
    person = population.case(PERSON)
    meters = [(meter.eic, population.contract_of_meter(meter).start_date)
              for customer in population.customer_of(person.key) for meter in population.meters_of(customer.id)
              if meter.country == "EE"]
    first_day = min(start for _, start in meters)
    now = (datetime.combine(first_day, datetime.min.time(), UTC) + timedelta(days=92) if quick
           else datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="bench-avp-") as tmp, SandboxProcess(
            Path(tmp), size=size, extra_args=("--avp-min-interval", f"{INTERVAL_S:g}")) as sandbox:
        settings = sandbox.settings
        if float(settings["DSAR_AVP_MIN_CALL_INTERVAL_SECONDS"]) != INTERVAL_S:
            raise RuntimeError("the sandbox did not take the interval")
        code = next(p["personal_code"] for p in httpx.get(f"{settings['SANDBOX_CONTROL_URL']}/people",
                                                          timeout=10).json()["people"] if p["name"] == PERSON)
        connector = AvpConnector.from_settings(settings, clock=lambda: now)
        calls_seen = watch_calls(connector.hub.client)
        try:
            started = time.perf_counter()
            records = list(connector.collect([Identifier.of(IdentityType.PERSONAL_CODE, code)]))
            wall = time.perf_counter() - started
            oldest = history_start(now)
            windows = [MeterWindow(eic, max(local_midnight(start), oldest), now) for eic, start in meters]
            meter_floor = connector.floor_calls(windows)
            planned = sum(call.pages for call in connector.last_plan)
            calls, data_calls, refused = connector.calls_made, connector.meter_data_calls, connector.refused_calls
        finally:
            connector.close()
    lookups = 2 + -(-len(meters) // AGREEMENT_BATCH)  # customer search, meters of the one customer EIC, agreements
    floor_calls = lookups + meter_floor
    floor = floor_calls * INTERVAL_S
    pages = sum(1 for r in records if r.source == "meter_data")
    rows = sum(len(r.fields["intervals"]) for r in records if r.source == "meter_data")
    if planned != meter_floor:
        print(f"warning: the connector planned {planned} meter-data calls, the floor from the population is "
              f"{meter_floor}", flush=True)
    print(f"meters / window                      {len(meters)} / {min(start for _, start in meters)} .. "
          f"{now:%Y-%m-%d %H:%M} UTC", flush=True)
    print(f"calls made (of which meter-data)     {calls} ({data_calls}); look-ups {calls - data_calls} "
          f"(floor {lookups}); 429s {refused}", flush=True)
    print(f"floor                                ({lookups} + {meter_floor}) x {INTERVAL_S:g} s = {floor:.1f} s",
          flush=True)
    print(f"collect wall time                    {wall:.1f} s; {pages} pages, {rows} rows, {len(records)} records",
          flush=True)
    print(f"the pacer alone, for the calls made  ({calls} - 1) x {paced_interval(INTERVAL_S):.3f} s = "
          f"{(calls - 1) * paced_interval(INTERVAL_S):.1f} s; {load()}", flush=True)
    print(describe_calls(calls_seen, paced_interval(INTERVAL_S)), flush=True)
    return {
        "avp_floor_ratio": {
            "value": round(wall / floor, 3), "unit": "x",
            "target": f"<= 1.1 ({PERSON}: {len(meters)} meters, {floor_calls} calls x {INTERVAL_S:g} s = "
                      f"{floor:.1f} s floor{'; quick: 92-day window' if quick else ''})"},
    }
