"""`dsar sandbox …`: run the simulated systems, list the named people, change faults at run time.

Runnable on its own as `python -m sandbox`, so the demo and the tests can start the sandbox in a
separate process (its memory then never counts as the pipeline's).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sandbox.faults import KINDS, SYSTEMS

DESCRIPTION = """Simulated versions of the five source systems (billing, volt, recordings, portal,
avp) plus mail/SMS/helpdesk gateways, as real local services with a seeded population."""

FAULT_HELP = ("faults as SYSTEM=KIND[:VALUE][,...]; SYSTEM: " + ", ".join(SYSTEMS) + "; KIND: "
              + "; ".join(f"{k} ({v[1]})" for k, v in KINDS.items()))


def register(subparsers: Any) -> None:
    """Add the `sandbox` command group to a parent argparse parser."""
    parser = subparsers.add_parser("sandbox", help="run the simulated source systems", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)

    up = sub.add_parser("up", help="start every system, write the settings, serve until interrupted",
                        description="Start every simulated system, wait until each answers, write the connection "
                                    "settings (the DSAR_* variables the pipeline reads) to --env-file, and serve "
                                    "until interrupted (Ctrl-C).")
    up.add_argument("--seed", type=int, default=42, help="population seed (default 42); same seed, same data")
    up.add_argument("--size", type=_positive, default=1000, help="number of people (default 1000)")
    up.add_argument("--env-file", type=Path, default=Path(".sandbox/sandbox.env"),
                    help="where to write KEY=VALUE settings (default .sandbox/sandbox.env)")
    up.add_argument("--faults", default="", help=FAULT_HELP)
    up.add_argument("--port-base", type=int, default=18700,
                    help="first of 8 consecutive ports (default 18700); 0 picks free ports")
    up.add_argument("--state-dir", type=Path, default=Path(".sandbox"),
                    help="folder for the SQLite billing database and the gateway outboxes (default .sandbox)")
    up.add_argument("--billing-url", default=None,
                    help="PostgreSQL URL for billing (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test); "
                         "default: a SQLite file in --state-dir")
    up.add_argument("--avp-max-period-days", type=_positive, default=31, help="hub: longest period per call")
    up.add_argument("--avp-min-interval", type=float, default=0.05,
                    help="hub: minimum seconds between calls per client (default 0.05; 0 = no limit)")
    up.add_argument("--volt-rate", type=float, default=20.0,
                    help="Volt: requests per second per client (default 20; 0 = no limit)")

    people = sub.add_parser("people", help="list the named edge-case people and their identifiers")
    people.add_argument("--seed", type=int, default=42, help="population seed (default 42)")
    people.add_argument("--json", action="store_true", help="print one JSON array")

    faults = sub.add_parser("faults", help="show or change the faults of a running sandbox",
                            description="Show (no SPEC) or replace (SPEC, or 'none') the faults of a running sandbox.")
    faults.add_argument("spec", nargs="?", default=None, help=FAULT_HELP)
    faults.add_argument("--env-file", type=Path, default=Path(".sandbox/sandbox.env"),
                        help="settings written by `sandbox up` (to find the control API)")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def run(args: argparse.Namespace) -> int:
    command = {"up": _up, "people": _people, "faults": _faults}[args.sandbox_command]
    return command(args)


def _up(args: argparse.Namespace) -> int:
    from sandbox.faults import FaultSpecError
    from sandbox.federation import Federation, SandboxError, SandboxOptions, write_env_file
    from sandbox.hosting import PortInUseError

    options = SandboxOptions(seed=args.seed, size=args.size, port_base=args.port_base, state_dir=args.state_dir,
                             billing_url=args.billing_url, faults=args.faults,
                             avp_max_period_days=args.avp_max_period_days,
                             avp_min_call_interval_s=args.avp_min_interval, volt_rate_per_second=args.volt_rate)
    federation = Federation(options)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"sandbox: starting {args.size} people, seed {args.seed} ...", flush=True)
    try:
        settings = federation.start()
        write_env_file(settings, args.env_file)
    except (FaultSpecError, PortInUseError, SandboxError, ValueError, OSError) as exc:
        federation.stop()
        print(f"dsar sandbox up: error: {exc}", file=sys.stderr)
        return 2
    t = federation.timings
    print(f"sandbox: population {t['population']:.1f} s, recordings {t['recordings']:.1f} s, "
          f"billing {t['billing']:.1f} s; ready in {t['total']:.1f} s", flush=True)
    for name, host in federation.hosts.items():
        print(f"sandbox: {name:<10} {host.url}", flush=True)
    print(f"sandbox: billing    {_safe_url(settings['DSAR_BILLING_DATABASE_URL'])}", flush=True)
    if federation.board.describe():
        print(f"sandbox: faults     {', '.join(federation.board.describe())}", flush=True)
    print(f"sandbox: settings written to {args.env_file}; serving until interrupted (Ctrl-C)", flush=True)
    stop.wait()
    federation.stop()
    print("sandbox: stopped", flush=True)
    return 0


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _people(args: argparse.Namespace) -> int:
    from sandbox.people import named_people

    people = named_people(seed=args.seed)
    if args.json:
        print(json.dumps(people, ensure_ascii=False, indent=2))
        return 0
    for p in people:
        print(f"{p['name']:<14} {p['personal_code']:<13} {p['first_name']} {p['last_name']} "
              f"<{p['email'] or '-'}> {p['phone'] or '-'} customer={p['customer_id'] or '-'}")
        print(f"{'':<14} {p['description']}")
    return 0


def _faults(args: argparse.Namespace) -> int:
    import httpx

    from sandbox.faults import FaultSpecError, parse_spec

    try:
        control = read_env_file(args.env_file)["SANDBOX_CONTROL_URL"]
    except (OSError, KeyError):
        print(f"dsar sandbox faults: error: no running sandbox settings in {args.env_file} "
              "(start one with `dsar sandbox up`)", file=sys.stderr)
        return 2
    try:
        if args.spec is None:
            response = httpx.get(f"{control}/faults", timeout=5)
        else:
            parse_spec(args.spec)
            response = httpx.put(f"{control}/faults", json={"spec": args.spec}, timeout=5)
    except FaultSpecError as exc:
        print(f"dsar sandbox faults: error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"dsar sandbox faults: error: sandbox control API at {control} unreachable ({type(exc).__name__})",
              file=sys.stderr)
        return 2
    body = response.json()
    if response.status_code != 200:
        print(f"dsar sandbox faults: error: {body.get('error')}", file=sys.stderr)
        return 2
    print(", ".join(body["faults"]) or "no faults")
    return 0


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {key.strip(): value for key, value in pairs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dsar sandbox", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
