"""`dsar demo`: one request end to end on the embedded default, through Dagster.

Starts the sandbox in its own process, prepares a project-local Dagster home (SQLite storage, no
compute logs), files a ticket for a named sandbox person (signed with the sandbox's eID, dropped
into the inbox), then runs the same sensor and job the UI uses, and finally fetches the delivered
package through the link the mail gateway received. Nothing personal is printed: the person is
shown by their edge-case name, systems by counts.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

DEMO_STATE = Path(".sandbox/demo")
DAGSTER_HOME = Path(".dagster_home")
OUT = Path("out")
CONTROLLER_OF_COUNTRY = {"EE": "enefit-ee", "LV": "enefit-lv"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run one request end to end on the embedded default",
        description="Start the sandbox, file a signed request ticket for a sandbox person, run the inbox sensor "
                    "and the request job on a project-local Dagster home, and fetch the delivered package.")
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


def sign_ticket(control_url: str, person_name: str, ticket: dict[str, Any]) -> dict[str, Any]:
    """Have the person sign the request with their (sandbox) eID: an ASiC-E container as evidence."""
    document = json.dumps(ticket, ensure_ascii=False, sort_keys=True).encode()
    response = httpx.post(f"{control_url}/eid/sign", params={"person": person_name, "file_name": "request.json"},
                          content=document, timeout=30)
    response.raise_for_status()
    signed = dict(ticket)
    signed["extensions"] = {**ticket["extensions"], "verification_evidence": {
        "type": "signed_container", "container": base64.b64encode(response.content).decode(),
        "file_name": "request.asice"}}
    return signed


def run(args: argparse.Namespace) -> int:
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
        summary = _run_request(args, settings, say)
    except DemoError as exc:
        print(f"dsar demo: error: {exc}", file=sys.stderr)
        return 2
    finally:
        sandbox.stop()
    summary["seconds_total"] = round(time.monotonic() - started, 3)
    say(f"status: {summary['status']} in {summary['seconds_total']:.1f} s")
    if args.json:
        print(json.dumps(summary))
    return 0 if summary["status"] in ("delivered", "awaiting_review", "incomplete") else 1


class DemoError(RuntimeError):
    """A demo step that cannot go on; one line for the user."""


def _run_request(args: argparse.Namespace, settings: dict[str, str], say: Any) -> dict[str, Any]:
    from dsar_pipeline.embedded import prepare_home

    os.environ.update(settings)
    os.environ.update(prepare_home(DAGSTER_HOME))
    import dagster as dg

    from dsar_pipeline import runner
    from dsar_pipeline.status import request_status

    runner.start_step_server()  # preloads the pipeline while the ticket is signed and filed
    control = settings["SANDBOX_CONTROL_URL"]
    people = {p["name"]: p for p in httpx.get(f"{control}/people", timeout=10).json()["people"]}
    if args.person not in people:
        raise DemoError(f"no sandbox person named {args.person!r}; known: {', '.join(people)}")
    now = datetime.now(UTC).replace(microsecond=0)
    ticket = sign_ticket(control, args.person, ticket_for(people[args.person], now))
    raw = json.dumps(ticket, ensure_ascii=False).encode()
    name = f"web-{int(time.time() * 1000)}"
    httpx.post(f"{control}/tickets", params={"name": name}, content=raw, timeout=10).raise_for_status()
    say(f"signed ticket for {args.person!r} dropped into the inbox")
    instance = dg.DagsterInstance.get()
    tick = runner.tick(instance)
    if not tick.runs:
        raise DemoError(f"the inbox sensor launched no run ({tick.skip_reason or 'ticket rejected'})")
    request_id = tick.new_requests[0]
    say(f"sensor added request {request_id}; running the request job (dagster home {DAGSTER_HOME}) ...")
    for run_request in tick.runs:
        runner.execute(instance, run_request)
    status = request_status(instance, request_id)
    for system, state in status["systems"].items():
        say(f"  {system:<11} {state['status']}: {state['records']} records ({state['seconds']:.1f} s)")
    outbox = Path(settings["SANDBOX_OUTBOX_DIR"])
    link_file, passphrase_file, package = _fetch_package(outbox, request_id) if status["status"] == "delivered" \
        else (None, None, None)
    if package:
        say(f"package fetched through its link: {package}")
    return {"request_id": request_id, "person": args.person, "dagster_home": str(DAGSTER_HOME.resolve()),
            "status": status["status"], "package": str(package) if package else None,
            "link_outbox": str(link_file) if link_file else None,
            "passphrase_outbox": str(passphrase_file) if passphrase_file else None,
            "systems": status["systems"]}


def _fetch_package(outbox: Path, request_id: str) -> tuple[Path | None, Path | None, Path | None]:
    """Find the link mail and the passphrase SMS of this request; download the package via the link."""
    mails = sorted((outbox / "mail").glob("*.json"))
    texts = sorted((outbox / "sms").glob("*.json"))
    link_file = next((m for m in reversed(mails) if request_id in json.loads(m.read_text())["text"]), None)
    if link_file is None:
        return None, None, None
    url = next(w for w in json.loads(link_file.read_text())["text"].split() if w.startswith("http"))
    OUT.mkdir(exist_ok=True)
    package = (OUT / f"{request_id}.zip").resolve()
    with httpx.stream("GET", url, timeout=60) as response, package.open("wb") as handle:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            handle.write(chunk)
    return link_file.resolve(), texts[-1].resolve() if texts else None, package
