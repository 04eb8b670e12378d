"""Issue 15, the head-to-head with Fides: a 5-table SQL system described by a dataset file, as the one
system of a controller, through the whole pipeline.

Fides 2.78.2 was measured on a PostgreSQL billing database of 5 tables (1,000 customers, about 17 rows a
person; identity e-mail; customer -> contract -> invoice -> payment and customer -> contact): one access
request 0.62-0.76 s warm, 1.35-2.05 requests/s, and 20 requests at once all failed (connection slots
exhausted). The same shape here:

- The database: schema `bench_dataset` on PostgreSQL (`BENCH_DATASET_URL`, default the local
  `postgresql+psycopg://postgres@127.0.0.1:5432/test`; dropped and recreated per run; without a reachable
  PostgreSQL the metrics are skipped with a message). One customer per sandbox person (1,000; quick: 100)
  — the population the sandbox generates (`sandbox.population.generate`, its seed and size), personal
  code as issued, names, e-mail — with 2 contacts (e-mail, phone), 2 contracts, 3 invoices a contract and
  a payment per invoice: 17 rows a person. Filled with COPY; every identity and reference field indexed.
- The dataset file: `bench/dataset/ledger.yml` (identities `personal_code` and `email`, compared lower),
  checked with `dsar dataset check FILE --url URL` (must print `ok:`).
- The configuration, in the run's temp dir: a systems file with the one system `ledger`
  (`DSAR_SYSTEMS_FILE`) and a profile folder (`DSAR_PROFILE_DIR`) with `enefit-ee` derived from the shipped
  profile: `systems: [ledger]`; purposes and parties that name only other systems are left out (and so are
  their names in the category pairings). The tickets are of Estonian people (`CONTROLLER_OF_COUNTRY`:
  enefit-ee). Loaded with `load_profile` and `load_facts` before anything runs.
- The sandbox still runs (eID CA, inbox, work store, mail and SMS gateways), as for `batch`.

Metrics:
- `dataset_request_seconds`: one signed ticket -> delivered package, fetched through its link (as `e2e`):
  the median of 3 after a warm-up request (quick: 1).
- `dataset_requests_per_second`: 100 signed tickets (quick: 10) of 100 other people dropped at once, one
  sensor tick, the runs BATCH_CONCURRENCY at a time (as `batch`); delivered requests / seconds from the
  first ticket dropped to the end of the last run.
- `dataset_concurrent_failures`: of those requests, how many did not end `delivered` for a failure (every
  status but delivered and awaiting_review, and tickets the sensor did not accept); the statuses are printed
  and kept in the target text.
- `dataset_walk_ms`: the dataset walk alone (`DatasetConnector.collect`, in this process, no Dagster, no
  sandbox running yet), median over the batch's 100 people (quick: 10).
- `dataset_peak_rss_mb`: the summed RSS of the benchmark's process and its descendants (the runs' worker
  processes) while the 100 run, sampled every 0.1 s (`PeakRss`); the sandbox's processes are left out.

Printed beside them: Fides' figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bench._pipeline import (
    ROOT,
    PeakRss,
    Stopwatch,
    drop,
    fetch_package,
    load,
    run_child,
    say,
    sign_locally,
    step_windows,
)
from bench.pipeline_bench import BATCH_CONCURRENCY, _batch_once, _start, _ticket, _union, postgres_unreachable
from bench.results import Metric

DATASET = Path(__file__).resolve().with_name("dataset") / "ledger.yml"
SYSTEM = "ledger"
SCHEMA = "bench_dataset"
PG_URL = os.environ.get("BENCH_DATASET_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
URL = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{SCHEMA}"
CONTROLLER = "enefit-ee"
TITLES = {"en": "Ledger", "et": "Arveldusregister", "lv": "Norēķinu reģistrs", "ru": "Расчётный реестр"}
FIDES = {"request_seconds": "0.62-0.76 s warm", "requests_per_second": "1.35-2.05 req/s",
         "concurrent": "20 at once: all 20 failed (connection slots exhausted)"}
CHILD_TIMEOUT_S = 3600


def run(quick: bool) -> dict[str, Metric]:
    print(f"  {load()}", flush=True)
    result = run_child("bench.dataset_bench", ["child", *(["--quick"] if quick else [])], CHILD_TIMEOUT_S)
    if result.get("skipped"):
        print(f"dataset: skipped, {result['skipped']}; no metric recorded", flush=True)
        return {}
    size, batch, walk = result["size"], result["batch"], result["walk"]
    times = result["seconds"]
    count = batch["count"]
    per_second = batch["delivered"] / batch["seconds"]
    print(f"database: {size} customers, {result['rows']} rows ({result['rows'] / size:.1f} a person), "
          f"filled in {result['fill_seconds']:.1f} s", flush=True)
    print(f"walk alone (collect, no Dagster): {walk['people']} people, median {walk['median'] * 1000:.1f} ms, "
          f"p95 {walk['p95'] * 1000:.1f} ms a person, {walk['records'] / walk['people']:.1f} records a person "
          f"(first, cold: {walk['cold'] * 1000:.0f} ms) = {1 / walk['median']:.0f} people/s one at a time",
          flush=True)
    print(f"one request, ticket -> delivered package: {', '.join(f'{t:.2f}' for t in times)} s "
          f"(warm-up {result['warmup']:.2f} s)", flush=True)
    print(f"{count} at once: {batch['runs']} runs, {batch['concurrency']} at a time, {batch['seconds']:.1f} s "
          f"= {per_second:.2f} delivered/s (tick {batch['tick_seconds']:.1f} s); statuses {batch['statuses']}; "
          f"failures {batch['failures']}", flush=True)
    print(f"Fides 2.78.2, same shape: one request {FIDES['request_seconds']}; {FIDES['requests_per_second']}; "
          f"{FIDES['concurrent']}", flush=True)
    print(f"ours:                     one request {statistics.median(times):.2f} s; {per_second:.2f} req/s; "
          f"{count} at once: {batch['failures']} failed; peak RSS {batch['peak_rss_mb']:.0f} MB summed "
          f"(PSS {batch['peak_pss_mb']:.0f} MB)", flush=True)
    print(f"  {load()}", flush=True)
    return {
        "dataset_requests_per_second": {
            "value": round(per_second, 3), "unit": "req/s",
            "target": f">= 4 ({count} signed tickets at once -> delivered, {batch['concurrency']} run(s) at a time, "
                      f"the dataset system only, {size} customers; Fides 1.35-2.05)"},
        "dataset_request_seconds": {
            "value": round(statistics.median(times), 3), "unit": "s",
            "target": f"<= 2 (ticket -> delivered package, median of {len(times)} after a warm-up; "
                      f"Fides 0.62-0.76)"},
        "dataset_walk_ms": {
            "value": round(walk["median"] * 1000, 2), "unit": "ms",
            "target": f"<= 20 (one DatasetConnector walk in process, median of {walk['people']} different people, "
                      f"{walk['records'] / walk['people']:.0f} records a person, PostgreSQL, {size} customers)"},
        "dataset_peak_rss_mb": {
            "value": round(batch["peak_rss_mb"], 1), "unit": "MB",
            "target": f"<= 600 (summed RSS of the pipeline's processes while the {count} run, sampled every 0.1 s; "
                      f"the sandbox left out; Fides 400-1200)"},
        "dataset_concurrent_failures": {
            "value": batch["failures"], "unit": "requests",
            "target": f"= 0 (of {count} at once; statuses {batch['statuses']}; Fides: 20 of 20 failed)"},
    }


# -- in the child process ------------------------------------------------------------------------------


DDL = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.customers (id integer PRIMARY KEY, personal_code text NOT NULL, first_name text,
  last_name text, email text, language char(2), created_at timestamptz NOT NULL);
CREATE TABLE {SCHEMA}.contacts (id integer PRIMARY KEY, customer_id integer NOT NULL, kind text NOT NULL,
  value text NOT NULL, valid_from date);
CREATE TABLE {SCHEMA}.contracts (id integer PRIMARY KEY, customer_id integer NOT NULL, number text,
  product text, start_date date, end_date date, status text);
CREATE TABLE {SCHEMA}.invoices (id integer PRIMARY KEY, contract_id integer NOT NULL, number text,
  issue_date date, due_date date, total_eur numeric(10, 2), status text);
CREATE TABLE {SCHEMA}.payments (id integer PRIMARY KEY, invoice_id integer NOT NULL, paid_at timestamptz,
  amount_eur numeric(10, 2), method text)
"""
INDEXES = f"""
CREATE INDEX ON {SCHEMA}.customers (personal_code);
CREATE INDEX ON {SCHEMA}.customers (email);
CREATE INDEX ON {SCHEMA}.customers (lower(email));
CREATE INDEX ON {SCHEMA}.contacts (customer_id);
CREATE INDEX ON {SCHEMA}.contracts (customer_id);
CREATE INDEX ON {SCHEMA}.invoices (contract_id);
CREATE INDEX ON {SCHEMA}.payments (invoice_id);
ANALYZE {SCHEMA}.customers; ANALYZE {SCHEMA}.contacts; ANALYZE {SCHEMA}.contracts;
ANALYZE {SCHEMA}.invoices; ANALYZE {SCHEMA}.payments
"""
PRODUCTS = ("Fixed 12", "Exchange", "Green Fixed", "Universal")
METHODS = ("bank_transfer", "card", "direct_debit")


def _rows(people: list[Any], seed: int) -> dict[str, list[tuple[Any, ...]]]:
    """The tables' rows: per person a customer, 2 contacts, 2 contracts (one ended, one active), 3 invoices
    a contract, a payment per invoice (17 rows)."""
    rng = random.Random(seed)
    tables: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ("customers", "contacts", "contracts", "invoices",
                                                                "payments")}
    invoice_id = 0
    for number, person in enumerate(people, 1):
        joined = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 1500), seconds=rng.randrange(86400))
        tables["customers"].append((number, person.personal_code, person.first_name, person.last_name, person.email,
                                    person.language, joined))
        tables["contacts"].append((2 * number - 1, number, "email", person.email, joined.date()))
        tables["contacts"].append((2 * number, number, "phone", person.phone, joined.date()))
        first_end = joined.date() + timedelta(days=365 + rng.randrange(0, 200))
        spans = [(joined.date(), first_end, "ended"), (first_end + timedelta(days=1), None, "active")]
        for index, (start, end, status) in enumerate(spans):
            contract = 2 * number - 1 + index
            tables["contracts"].append((contract, number, f"L-{contract:07d}", rng.choice(PRODUCTS), start, end,
                                        status))
            for month in range(3):
                invoice_id += 1
                issued = start + timedelta(days=30 * (month + 1))
                total = round(rng.uniform(15, 180), 2)
                tables["invoices"].append((invoice_id, contract, f"INV-{invoice_id:08d}", issued,
                                           issued + timedelta(days=14), total, "paid"))
                paid = datetime.combine(issued + timedelta(days=rng.randrange(1, 14)), datetime.min.time(), UTC)
                tables["payments"].append((invoice_id, invoice_id, paid + timedelta(seconds=rng.randrange(86400)),
                                           total, rng.choice(METHODS)))
    return tables


def _fill(people: list[Any]) -> int:
    """Drop and recreate the schema, COPY the rows in, index; returns the number of rows."""
    import sqlalchemy as sa

    tables = _rows(people, seed=15)
    engine = sa.create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            for statement in DDL.split(";"):
                conn.exec_driver_sql(statement)
            cursor = conn.connection.driver_connection.cursor()  # psycopg: COPY
            for table, rows in tables.items():
                with cursor.copy(f"COPY {SCHEMA}.{table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for statement in INDEXES.split(";"):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    return sum(len(rows) for rows in tables.values())


def _check_dataset() -> None:
    done = subprocess.run([str(Path(sys.executable).with_name("dsar")), "dataset", "check", str(DATASET), "--url", URL],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("ok:"):
        raise RuntimeError(f"dsar dataset check failed ({done.returncode}): {done.stdout}{done.stderr}")
    say(" / ".join(lines))


def _configure(folder: Path) -> dict[str, str]:
    """The systems file with the one system and the profile folder with `enefit-ee` searching only it."""
    from dsar_pipeline.profiles import PROFILE_DIR

    systems_file = folder / "systems.yaml"
    systems_file.write_text(yaml.safe_dump({SYSTEM: {
        "factory": "connectors.dataset:DatasetConnector.from_settings", "dataset": str(DATASET),
        "title": TITLES["en"], "titles": TITLES, "kinds": ["sql"], "retries": 2,
        "settings": [f"DSAR_{SYSTEM.upper()}_DATABASE_URL"]}}, allow_unicode=True), encoding="utf-8")
    profile = yaml.safe_load((PROFILE_DIR / f"{CONTROLLER}.yaml").read_text(encoding="utf-8"))
    profile["systems"] = [SYSTEM]
    profile["systems_note"] = "Benchmark (bench/dataset_bench.py): the ledger dataset system only."
    dropped: set[str] = set()
    for section in ("purposes", "sources", "recipients"):
        for name, entry in list((profile.get(section) or {}).items()):
            if isinstance(entry, dict) and entry.get("systems"):
                kept = [s for s in entry["systems"] if s == SYSTEM]
                if kept:
                    entry["systems"] = kept
                else:
                    del profile[section][name]
                    dropped.add(name)
    for category, pairing in (profile.get("categories") or {}).items():
        if isinstance(pairing, list):
            profile["categories"][category] = [p for p in pairing if p not in dropped]
        elif isinstance(pairing, dict) and "purposes" in pairing:
            pairing["purposes"] = [p for p in pairing["purposes"] if p not in dropped]
    profiles = folder / "profiles"
    profiles.mkdir()
    (profiles / f"{CONTROLLER}.yaml").write_text(yaml.safe_dump(profile, allow_unicode=True, sort_keys=False),
                                                 encoding="utf-8")
    say(f"profile {CONTROLLER}: systems [{SYSTEM}]; left out (other systems only): {', '.join(sorted(dropped))}")
    return {"DSAR_SYSTEMS_FILE": str(systems_file), "DSAR_PROFILE_DIR": str(profiles),
            f"DSAR_{SYSTEM.upper()}_DATABASE_URL": URL}


def _identifiers(person: Any) -> list[Any]:
    from connectors.identity import Identifier

    return [Identifier.of("personal_code", person.personal_code), Identifier.of("email", person.email)]


def _walk_alone(people: list[Any]) -> dict[str, Any]:
    """The connector's `collect` for each person, one after the other: the walk without the pipeline."""
    from connectors.registry import build_connectors

    connector = build_connectors(dict(os.environ), [SYSTEM])[SYSTEM]
    try:
        watch = Stopwatch()
        list(connector.collect(_identifiers(people[0])))
        cold = watch()
        seconds, records = [], 0
        for person in people:
            watch = Stopwatch()
            found = list(connector.collect(_identifiers(person)))
            seconds.append(watch())
            records += len(found)
            if len(found) != 17:
                say(f"walk: {len(found)} records for {person.key}, not 17")
    finally:
        connector.close()
    ordered = sorted(seconds)
    return {"people": len(people), "cold": cold, "median": statistics.median(seconds),
            "p95": ordered[int(0.95 * (len(ordered) - 1))], "records": records}


def _signed(eid: Any, person: Any, label: str) -> dict[str, Any]:
    ticket = _ticket({"name": person.key, "country": person.country, "personal_code": person.personal_code,
                      "email": person.email, "phone": person.phone, "language": person.language}, label)
    if ticket["extensions"]["controller"] != CONTROLLER:
        raise RuntimeError(f"the ticket names {ticket['extensions']['controller']}, not {CONTROLLER}")
    return sign_locally(eid, person, ticket)


def _one(instance: Any, control: str, outbox: Path, ticket: dict[str, Any], dest: Path) -> tuple[float, str]:
    """Drop one signed ticket, tick, run, fetch the package: (seconds, the steps' breakdown)."""
    import time

    from assets.status import latest_metadata, request_status
    from harness import runner

    clock = Stopwatch()
    drop(control, ticket, f"bench-dataset-{secrets.token_hex(4)}")
    tick = runner.tick(instance)
    if len(tick.new_requests) != 1 or len(tick.runs) != 1:
        raise RuntimeError(f"expected one new request and run, got {tick.new_requests} ({tick.skip_reason})")
    ticked = clock()
    launched = time.time()
    result = runner.execute(instance, tick.runs[0])
    returned = time.time()
    ran = clock()
    request_id = tick.new_requests[0]
    status = request_status(instance, request_id)
    if not result.success or status["status"] != "delivered":
        reasons = latest_metadata(instance, "review_findings", request_id).get("reasons")
        raise RuntimeError(f"the request ended {status['status']} (run success {result.success}; review reasons "
                           f"{reasons}), not delivered")
    fetch_package(outbox, request_id, dest)
    seconds = clock()
    steps = step_windows(instance, result.run_id, suffix="")
    spans = list(steps.values())
    detail = (f"tick {ticked:.2f} s, run {ran - ticked:.2f} s (first step {min(s for s, _ in spans) - launched:.2f} s "
              f"after the launch, no step running {returned - launched - _union(spans):.2f} s, returned "
              f"{returned - max(e for _, e in spans):.2f} s after the last step), fetch {seconds - ran:.2f} s; steps "
              + ", ".join(f"{key} {end - start:.2f}"
                          for key, (start, end) in sorted(steps.items(), key=lambda s: s[1][0])))
    return seconds, detail


def _dataset(quick: bool) -> dict[str, Any]:
    from sandbox.population import DEFAULT_SEED, generate

    size, count, repetitions = (100, 10, 1) if quick else (1000, 100, 3)
    unreachable = postgres_unreachable(PG_URL)
    if unreachable:
        return {"skipped": unreachable}
    population = generate(seed=DEFAULT_SEED, size=size)
    watch = Stopwatch()
    rows = _fill(population.people)
    fill_seconds = watch()
    say(f"{SCHEMA}: {size} customers, {rows} rows in {fill_seconds:.1f} s")
    _check_dataset()
    estonian = [p for p in population.people if p.case is None and p.country == "EE"]
    single, batch_people = estonian[:repetitions + 1], estonian[repetitions + 1:repetitions + 1 + count]
    if len(batch_people) != count:
        raise RuntimeError(f"only {len(estonian)} ordinary Estonian people in a population of {size}")
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        os.environ.update(_configure(Path(tmp)))  # before anything reads the systems file or a profile
        from dsar_pipeline.letter.facts import load_facts
        from dsar_pipeline.profiles import load_profile

        if tuple(load_profile(CONTROLLER).systems) != (SYSTEM,):
            raise RuntimeError(f"the profile searches {load_profile(CONTROLLER).systems}")
        load_facts(CONTROLLER)
        walk = _walk_alone(batch_people)
        say(f"walk alone: median {walk['median'] * 1000:.1f} ms a person ({walk['people']} people)")
        result = _pipeline(Path(tmp), size, single, batch_people)
    return {**result, "size": size, "rows": rows, "fill_seconds": fill_seconds, "walk": walk}


def _pipeline(tmp: Path, size: int, single: list[Any], batch_people: list[Any]) -> dict[str, Any]:
    import dagster as dg

    from sandbox.eid import SandboxEid

    sandbox = _start(tmp, size, step_server=False)  # every run of this deployment runs in process
    try:
        instance = dg.DagsterInstance.get()
        control, outbox = sandbox.settings["SANDBOX_CONTROL_URL"], Path(sandbox.settings["SANDBOX_OUTBOX_DIR"])
        eid = SandboxEid(tmp / "sandbox")
        times = []
        for number, person in enumerate(single):
            seconds, detail = _one(instance, control, outbox, _signed(eid, person, f"one-{number}"),
                                   tmp / "package.zip")
            times.append(seconds)
            say(f"{'warm-up' if number == 0 else f'repetition {number}'}: {seconds:.2f} s ({detail})")
        tickets = [_signed(eid, p, "batch") for p in batch_people]
        with PeakRss(excluded=(sandbox.process.pid,)) as rss:
            batch = _batch_once(instance, tickets, control, BATCH_CONCURRENCY)
        batch["peak_rss_mb"], batch["peak_pss_mb"] = rss.peak_mb, rss.peak_pss_mb
        for label, megabytes in sorted(rss.per_process.items(), key=lambda item: -item[1]):
            say(f"peak RSS {megabytes:.0f} MB: {label}")
    finally:
        sandbox.stop()
    statuses = Counter(batch["statuses"])
    batch["delivered"] = statuses.get("delivered", 0)
    batch["failures"] = len(tickets) - statuses.get("delivered", 0) - statuses.get("awaiting_review", 0)
    return {"warmup": times[0], "seconds": times[1:], "batch": batch}


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset_bench")
    parser.add_argument("which", choices=("child",))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(_dataset(args.quick), default=str), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1:])
