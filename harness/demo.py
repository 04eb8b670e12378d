"""`dsar demo`: one request end to end on the embedded default, through Dagster.

Starts the sandbox in its own process, prepares a project-local Dagster home (SQLite storage, no
compute logs), files a ticket for a named sandbox person (signed with the sandbox's eID, dropped
into the inbox), then runs the same sensor and job the UI uses, and finally fetches the delivered
package through the link the mail gateway received. Nothing personal is printed: the person is
shown by their edge-case name, systems by counts.

The terminal shows the demo's own progress only. Everything else this process and the processes
it starts print — Dagster's event lines (the run's console logger, at DEBUG), library warnings,
the step processes forked from the executor's forkserver — goes to the log file `out/demo.log`,
whose path the demo names: file descriptors 1 and 2 point at it while the demo runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from harness.ticket_example import DEMO_STATE as EXAMPLE_STATE
from harness.ticket_example import Signer, sign_ticket, ticket_for

DEMO_STATE = EXAMPLE_STATE  # `dsar ticket example` signs with this state's eID: its tickets verify here
DAGSTER_HOME = Path(".dagster_home")
OUT = Path("out")
LOG_FILE = OUT / "demo.log"
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
    parser.add_argument("--billing-url", metavar="URL",
                        help="run the sandbox's billing on this PostgreSQL database (schema `billing`) instead of "
                             "SQLite, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test: billing's wire-level "
                             "faults (latency, timeout, truncate, down) need it")
    parser.add_argument("--ticket", metavar="FILE", type=Path,
                        help="file this ticket (e.g. from `dsar ticket example`) instead of a generated one")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.add_argument("--cluster", action="store_true",
                        help="file the ticket into the running cluster (`make cluster`) and wait for its daemon's "
                             "sensor and Celery workers to finish it, instead of starting a sandbox here")
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
    started = time.monotonic()
    try:
        raw_ticket = _read_ticket_file(args.ticket) if args.ticket else None
    except DemoError as exc:
        print(f"dsar demo: error: {exc}", file=sys.stderr)
        return 2
    if args.cluster and (args.faults or args.billing_url or args.size != 1000):
        print("dsar demo: error: --cluster uses the running cluster's sandbox: give --faults, --size and "
              "--billing-url to `dsar cluster up` instead", file=sys.stderr)
        return 2
    with QuietConsole(LOG_FILE) as console:
        progress = console.err if args.json else console.out

        def say(message: str) -> None:
            print(f"demo: {message}", file=progress, flush=True)
            print(f"demo: {message}", file=sys.stderr, flush=True)  # the log file, for context

        def fail(message: str) -> int:
            print(f"dsar demo: error: {message}", file=console.err, flush=True)
            print(f"dsar demo: error: {message}", file=sys.stderr, flush=True)
            return 2

        if args.cluster:
            say(f"filing the ticket into the running cluster ... (full log: {_shown(LOG_FILE)})")
        else:
            say(f"starting the sandbox ({args.size} people) ... (full log: {_shown(LOG_FILE)})")
        try:
            summary = _run_in_cluster(args, say, raw_ticket) if args.cluster else _run_in_sandbox(args, say, raw_ticket)
        except DemoError as exc:
            return fail(str(exc))
        except Exception as exc:  # a bug: its traceback goes to the log file, one line to the user
            traceback.print_exc()
            return fail(f"internal error ({type(exc).__name__}); the traceback is in {_shown(LOG_FILE)}")
        summary["seconds_total"] = round(time.monotonic() - started, 3)
        summary["log_file"] = str(LOG_FILE.resolve())
        say(f"status: {summary['status']} in {summary['seconds_total']:.1f} s")
        for line in _where_it_went(summary):
            say(line)
        say(f"full log (Dagster's events, warnings, the steps' output): {_shown(LOG_FILE)}")
        if args.json:
            print(json.dumps(summary), file=console.out, flush=True)
    return 0 if summary["status"] in ("delivered", "awaiting_review", "incomplete") else 1


def _run_in_sandbox(args: argparse.Namespace, say: Any, raw_ticket: bytes | None) -> dict[str, Any]:
    from harness.sandbox_process import SandboxProcess, SandboxStartError

    extra = ("--billing-url", args.billing_url) if args.billing_url else ()
    sandbox = SandboxProcess(DEMO_STATE, size=args.size, faults=args.faults, extra_args=extra)
    try:
        settings = sandbox.start()
    except SandboxStartError as exc:
        raise DemoError(str(exc)) from None
    try:
        return _run_request(args, settings, say, raw_ticket)
    finally:
        sandbox.stop()


def _shown(path: Path | str) -> str:
    """A path as the user types it: relative to the working directory when under it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def _where_it_went(summary: dict[str, Any]) -> list[str]:
    """Where the link mail and the passphrase SMS went and how to open the package: paths and a
    command, never the passphrase or any other personal value."""
    if summary["status"] == "rejected":
        return ["nothing was collected and nothing was sent (the identity evidence was rejected at intake)"]
    if not summary.get("package"):
        return [f"nothing was sent: the request is {summary['status']} and waits for the DPO"]
    lines = [f"link mail:      {_shown(summary['link_outbox'])}"]
    package = shlex.quote(_shown(summary["package"]))
    into = shlex.quote("-o" + _shown(Path(summary["package"]).with_suffix("")))  # not into the working directory
    sms = summary.get("passphrase_outbox")
    if not sms:
        return [*lines, "passphrase SMS: not found in the outbox",
                f"open the package (AES-256 ZIP) with 7-Zip: 7zz x {into} {package}"]
    lines.append(f"passphrase SMS: {_shown(sms)} (the passphrase is the last word of its text)")
    if shutil.which("jq"):
        lines.append(f"open the package (AES-256 ZIP): 7zz x {into} -p\"$(jq -r .text {shlex.quote(_shown(sms))} | "
                     f"awk '{{print $NF}}')\" {package}")
    else:
        lines.append(f"open the package (AES-256 ZIP): 7zz x {into} {package}   (7-Zip asks for the passphrase)")
    return lines


class QuietConsole:
    """While open, file descriptors 1 and 2 of this process point at the log file, and so do those of
    every process it starts meanwhile (the executor's forkserver and each step forked from it
    inherit them): Dagster's console loggers, warnings and whatever a library prints land there.
    `out` and `err` write to the terminal's original stdout and stderr.
    """

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._saved: tuple[int, int] | None = None
        self.out: IO[str] = sys.stdout
        self.err: IO[str] = sys.stderr

    def __enter__(self) -> QuietConsole:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(log_fd, 0o600)  # it names request ids and outbox paths: the owner's only
        self._saved = (os.dup(1), os.dup(2))
        self.out = open(self._saved[0], "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        self.err = open(self._saved[1], "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._saved is None:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for stream in (self.out, self.err):
            with contextlib.suppress(OSError, ValueError):
                stream.close()  # the wrapper only: closefd=False
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._saved = None
        self.out, self.err = sys.stdout, sys.stderr


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


def _file_ticket(args: argparse.Namespace, control: str, say: Any,
                 raw_ticket: bytes | None) -> tuple[bytes, str | None]:
    """Sign a ticket for `--person` (or take `--ticket`'s) and drop it into the inbox: its bytes and person."""
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
    return raw, person


def _run_request(args: argparse.Namespace, settings: dict[str, str], say: Any,
                 raw_ticket: bytes | None) -> dict[str, Any]:
    from harness.embedded import prepare_home

    os.environ.update(settings)
    os.environ.update(prepare_home(DAGSTER_HOME))
    import dagster as dg

    from assets.status import request_status
    from harness import runner

    runner.start_step_server()  # preloads the pipeline while the ticket is signed and filed
    _, person = _file_ticket(args, settings["SANDBOX_CONTROL_URL"], say, raw_ticket)
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
    return _summary(request_status(instance, request_id), person, settings, DAGSTER_HOME, say)


def _summary(status: dict[str, Any], person: str | None, settings: dict[str, str], home: Path,
             say: Any) -> dict[str, Any]:
    """The demo's JSON contract for a request that reached its status; the package fetched through its link."""
    request_id = status["request_id"]
    for system, state in status["systems"].items():
        say(f"  {system:<11} {state['status']}: {state['records']} records ({state['seconds']:.1f} s)")
    outbox = Path(settings["SANDBOX_OUTBOX_DIR"])
    link_file, passphrase_file, package = _fetch_package(outbox, request_id) if status["status"] == "delivered" \
        else (None, None, None)
    if package:
        say(f"package fetched through its link: {_shown(package)}")
    return {"request_id": request_id, "person": person, "dagster_home": str(home.resolve()),
            "status": status["status"], "package": str(package) if package else None,
            "link_outbox": str(link_file) if link_file else None,
            "passphrase_outbox": str(passphrase_file) if passphrase_file else None,
            "systems": status["systems"]}


CLUSTER_ENV = Path(".cluster/cluster.env")
CLUSTER_WAIT_S = 900


def _run_in_cluster(args: argparse.Namespace, say: Any, raw_ticket: bytes | None) -> dict[str, Any]:
    """File the ticket into the running cluster's inbox, then wait for its daemon's sensor to take it and its
    run (steps on the Celery workers) to end: nothing runs in this process but the waiting."""
    if not CLUSTER_ENV.is_file():
        raise DemoError(f"no running cluster ({CLUSTER_ENV} is missing): start one with `make cluster`")
    from dsar_pipeline.settings import load_env_file

    settings = load_env_file(CLUSTER_ENV, environ={})
    os.environ.update(settings)
    import dagster as dg

    from assets.status import request_status
    from dsar_pipeline.intake.request_ids import derive_request_id
    from dsar_pipeline.settings import request_id_key

    try:
        raw, person = _file_ticket(args, settings["SANDBOX_CONTROL_URL"], say, raw_ticket)
    except httpx.HTTPError as exc:
        raise DemoError(f"the cluster's sandbox does not answer ({type(exc).__name__}): is the cluster up?") from None
    ticket = json.loads(raw)
    request_id = derive_request_id(str((ticket.get("extensions") or {}).get("controller", "")),
                                   str(ticket.get("subject_request_id", "")), request_id_key())
    say(f"waiting for the cluster's sensor and workers to finish request {request_id} ...")
    deadline = time.monotonic() + CLUSTER_WAIT_S
    with dg.DagsterInstance.get() as instance:
        while True:
            status = request_status(instance, request_id)
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": request_id}))
            if status["status"] == "rejected" or (runs and all(run.is_finished for run in runs)):
                break
            if time.monotonic() > deadline:
                raise DemoError(f"request {request_id} not finished after {CLUSTER_WAIT_S} s "
                                "(see the runs in the cluster's UI and .cluster/logs)")
            time.sleep(0.5)
    return _summary(status, person, settings, Path(settings["DAGSTER_HOME"]), say)


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
