"""`dsar demo`: one request end to end on the embedded default, through Dagster.

Starts the sandbox in its own process, prepares a project-local Dagster home (SQLite storage, no
compute logs), files a ticket for a named sandbox person (signed with the sandbox's eID, dropped
into the inbox), then runs the same sensor and job the UI uses, and finally fetches the delivered
package through the link the mail gateway received. Nothing personal is printed: the person is
shown by their edge-case name, systems by counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.ticket_example import DEMO_STATE as EXAMPLE_STATE
from harness.ticket_example import Signer, sign_ticket, ticket_for

DEMO_STATE = EXAMPLE_STATE  # `dsar ticket example` signs with this state's eID: its tickets verify here
DAGSTER_HOME = Path(".dagster_home")
OUT = Path("out")
CONTROLLER_OF_COUNTRY = {"EE": "enefit-ee", "LV": "enefit-lv"}
MAX_TICKET_FILE_BYTES = 8 * 1024 * 1024


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run one request end to end on the embedded default",
        description="Start the sandbox, file a signed request ticket for a sandbox person, run the inbox sensor "
                    "and the request job on a project-local Dagster home, and fetch the delivered package.")
    parser.add_argument("--person", default="demo", help="named sandbox person (see `dsar sandbox people`)")
    parser.add_argument("--faults", default="", help="sandbox faults, e.g. volt=down (see `dsar sandbox up --help`)")
    parser.add_argument("--size", type=int, default=1000, help="sandbox population size (default 1000)")
    parser.add_argument("--ticket", metavar="FILE", type=Path,
                        help="file this ticket (e.g. from `dsar ticket example`) instead of a generated one")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(func=run)


def control_signer(control_url: str, person_name: str) -> Signer:
    """Sign as a named person with the running sandbox's eID, over its control API."""
    def sign(file_name: str, data: bytes) -> bytes:
        response = httpx.post(f"{control_url}/eid/sign", params={"person": person_name, "file_name": file_name},
                              content=data, timeout=30)
        response.raise_for_status()
        return response.content

    return sign


def run(args: argparse.Namespace) -> int:
    from harness.sandbox_process import SandboxProcess, SandboxStartError

    def say(message: str) -> None:
        print(f"demo: {message}", file=sys.stderr if args.json else sys.stdout, flush=True)

    started = time.monotonic()
    try:
        raw_ticket = _read_ticket_file(args.ticket) if args.ticket else None
    except DemoError as exc:
        print(f"dsar demo: error: {exc}", file=sys.stderr)
        return 2
    say(f"starting the sandbox ({args.size} people) ...")
    sandbox = SandboxProcess(DEMO_STATE, size=args.size, faults=args.faults)
    try:
        settings = sandbox.start()
    except SandboxStartError as exc:
        print(f"dsar demo: error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = _run_request(args, settings, say, raw_ticket)
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


def _read_ticket_file(path: Path) -> bytes:
    """The ticket file's bytes (it is checked by the inbox sensor, as any ticket)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TICKET_FILE_BYTES + 1)
    except OSError as exc:
        raise DemoError(f"cannot read the ticket file: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_TICKET_FILE_BYTES:
        raise DemoError("the ticket file is larger than 8 MiB")
    return raw


def _person_of(raw: bytes, people: dict[str, dict[str, Any]]) -> str | None:
    """The named sandbox person whose personal code the ticket names (None when none does)."""
    try:
        identities = json.loads(raw).get("subject_identities") or []
        codes = {str(i.get("identity_value")) for i in identities if i.get("identity_type") == "personal_code"}
    except (ValueError, AttributeError, TypeError):
        return None
    return next((name for name, p in people.items() if str(p["personal_code"]) in codes), None)


def _run_request(args: argparse.Namespace, settings: dict[str, str], say: Any,
                 raw_ticket: bytes | None) -> dict[str, Any]:
    from harness.embedded import prepare_home

    os.environ.update(settings)
    os.environ.update(prepare_home(DAGSTER_HOME))
    import dagster as dg

    from assets.status import request_status
    from harness import runner

    runner.start_step_server()  # preloads the pipeline while the ticket is signed and filed
    control = settings["SANDBOX_CONTROL_URL"]
    people = {p["name"]: p for p in httpx.get(f"{control}/people", timeout=10).json()["people"]}
    if raw_ticket is not None:
        raw, person = raw_ticket, _person_of(raw_ticket, people)
    else:
        if args.person not in people:
            raise DemoError(f"no sandbox person named {args.person!r}; known: {', '.join(people)}")
        person = args.person
        who = people[person]
        ticket = ticket_for(who, CONTROLLER_OF_COUNTRY[str(who["country"])], now=datetime.now(UTC))
        raw = json.dumps(sign_ticket(ticket, control_signer(control, person)), ensure_ascii=False).encode()
    name = f"web-{int(time.time() * 1000)}"
    httpx.post(f"{control}/tickets", params={"name": name}, content=raw, timeout=10).raise_for_status()
    say(f"ticket {'from ' + str(args.ticket) if raw_ticket is not None else 'for ' + repr(person)} dropped "
        "into the inbox")
    instance = dg.DagsterInstance.get()
    tick = runner.tick(instance)
    if not tick.new_requests:
        raise DemoError(f"the inbox sensor took no request ({tick.skip_reason or 'ticket rejected'})")
    request_id = tick.new_requests[0]
    if not tick.runs:
        status = request_status(instance, request_id)
        say(f"request {request_id} stopped at intake: identity evidence rejected ({status.get('reason_code')})")
        return {"request_id": request_id, "person": person, "dagster_home": str(DAGSTER_HOME.resolve()),
                "status": status["status"], "package": None, "link_outbox": None, "passphrase_outbox": None,
                "systems": status["systems"]}
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
    return {"request_id": request_id, "person": person, "dagster_home": str(DAGSTER_HOME.resolve()),
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
