"""`dsar demo`: one request end to end on the embedded default.

Starts the sandbox in its own process, files a ticket for a named sandbox person (validated like
any ticket, dropped into the inbox), resolves the person's identities across the five systems and
collects from all of them, then reports per system. Nothing personal is printed: the person is
shown by their edge-case name, systems by counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

DEMO_STATE = Path(".sandbox/demo")
CONTROLLER_OF_COUNTRY = {"EE": "enefit-ee", "LV": "enefit-lv"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run one request end to end on the embedded default",
        description="Start the sandbox, file a request ticket for a sandbox person, search all five systems "
                    "and report what was found per system.")
    parser.add_argument("--person", default="demo", help="named sandbox person (see `dsar sandbox people`)")
    parser.add_argument("--faults", default="", help="sandbox faults, e.g. volt=down (see `dsar sandbox up --help`)")
    parser.add_argument("--size", type=int, default=1000, help="sandbox population size (default 1000)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(func=run)


def ticket_for(person: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An OpenDSR access ticket as the web form would file it for this person."""
    controller = CONTROLLER_OF_COUNTRY[str(person["country"])]
    identities = [{"identity_type": "personal_code", "identity_value": person["personal_code"],
                   "identity_format": "raw", "identity_country": person["country"]}]
    for kind in ("email", "phone"):
        if person.get(kind):
            identities.append({"identity_type": kind, "identity_value": person[kind], "identity_format": "raw"})
    contacts = {k: person[k] for k in ("email", "phone") if person.get(k)}
    return {
        "subject_request_id": f"demo-{person['name']}-{now:%Y%m%dT%H%M%S}",
        "subject_request_type": "access",
        "submitted_time": now.isoformat().replace("+00:00", "Z"),
        "api_version": "1.0",
        "subject_identities": identities,
        "status_callback_urls": [],
        "extensions": {"controller": controller, "language": person.get("language") or "en",
                       "delivery_contacts": contacts},
    }


def run(args: argparse.Namespace) -> int:
    from connectors.registry import build_connectors
    from dsar_pipeline.collection import SystemStatus, run_collection, subject_identifiers
    from dsar_pipeline.intake import TicketError, parse_ticket
    from dsar_pipeline.sandbox_process import SandboxProcess, SandboxStartError

    def say(message: str) -> None:
        print(f"demo: {message}", file=sys.stderr if args.json else sys.stdout, flush=True)

    started = time.monotonic()
    say(f"starting the sandbox ({args.size} people) ...")
    sandbox = SandboxProcess(DEMO_STATE, size=args.size, faults=args.faults)
    try:
        settings = sandbox.start()
    except SandboxStartError as exc:
        print(f"dsar demo: error: {exc}", file=sys.stderr)
        return 2
    try:
        control = settings["SANDBOX_CONTROL_URL"]
        people = {p["name"]: p for p in httpx.get(f"{control}/people", timeout=10).json()["people"]}
        if args.person not in people:
            print(f"dsar demo: error: no sandbox person named {args.person!r}; known: {', '.join(people)}",
                  file=sys.stderr)
            return 2
        raw = json.dumps(ticket_for(people[args.person], datetime.now(UTC).replace(microsecond=0))).encode()
        try:
            ticket = parse_ticket(raw)
        except TicketError as exc:
            print(f"dsar demo: error: ticket rejected: {exc}", file=sys.stderr)
            return 2
        httpx.post(f"{control}/tickets", params={"name": ticket.request_id}, content=raw,
                   timeout=10).raise_for_status()
        say(f"ticket {ticket.request_id} for {args.person!r} validated and dropped into the inbox")
        say("resolving identities and searching billing, volt, recordings, portal, avp ...")
        connectors = build_connectors(settings)
        try:
            subject = subject_identifiers([(i.identity_type.value, i.identity_value)
                                           for i in ticket.subject_identities])
            collection = run_collection(subject, connectors)
        finally:
            for connector in connectors.values():
                connector.close()
        from connectors.classification import Disposition

        systems = {}
        for name, result in collection.results.items():
            systems[name] = {"status": result.status.value, "records": len(result.records),
                             "seconds": round(result.seconds, 3)}
            detail = f"failed: {result.error}" if result.status is SystemStatus.FAILED else \
                f"{len(result.records)} records" if result.records else "no data held"
            say(f"  {name:<11} {detail} ({result.seconds:.1f} s, {result.calls} calls)")
        review, others = collection.count(Disposition.REVIEW), collection.count(Disposition.OTHER_PERSON)
        status = "incomplete" if not collection.complete else "awaiting_review" if review or others \
            else "collected"
        say(f"identifiers found: {len(collection.graph.identifiers)} in {collection.graph.rounds} rounds; "
            f"records for DPO review: {review}; withheld as another person's: {others}; status: {status}")
        summary = {"request_id": ticket.request_id, "person": args.person, "status": status, "systems": systems,
                   "identifiers": len(collection.graph.identifiers), "review_records": review,
                   "other_person_records": others, "seconds_total": round(time.monotonic() - started, 3)}
        if args.json:
            print(json.dumps(summary))
        return 0
    finally:
        sandbox.stop()
