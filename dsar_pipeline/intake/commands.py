"""``dsar ticket check`` and ``dsar ticket example``.

Why a CLI for tickets: the helpdesk and the DPO need to know, before anything runs, whether a
ticket will be accepted and what deadline it gets. Every failure is ONE line on stderr with exit
status 2 and never a traceback (a traceback could print parts of the ticket).

``register(subparsers)`` adds the ``ticket`` group to the ``dsar`` parser; running this module
(``python -m dsar_pipeline.intake.commands check FILE``) offers the same commands standalone.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_INVALID = 2


def _fail(message: str) -> int:
    from dsar_pipeline.intake.errors import one_line

    print(one_line(message), file=sys.stderr)
    return EXIT_INVALID


def _read_input(name: str) -> bytes:
    from dsar_pipeline.intake.strict_json import MAX_RAW_BYTES

    if name == "-":
        data = sys.stdin.buffer.read(MAX_RAW_BYTES + 1)
    else:
        path = Path(name)
        if not path.is_file():
            raise OSError("no such file" if not path.exists() else "not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_RAW_BYTES + 1)
    return data


def _ticket_view(ticket: Any) -> dict[str, Any]:
    """The normalised ticket as JSON, with the container replaced by its size and hash."""
    import hashlib

    data = ticket.model_dump(mode="json")
    evidence = data["extensions"].get("verification_evidence")
    if evidence and evidence.get("container"):
        blob = ticket.extensions.verification_evidence.container_bytes() or b""
        evidence["container"] = {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    if data["extensions"].get("id_card_certificate"):
        der = ticket.extensions.certificate_der() or b""
        data["extensions"]["id_card_certificate"] = {"bytes": len(der), "sha256": hashlib.sha256(der).hexdigest()}
    return data


def _summary(ticket: Any, verification: Any, deadline: Any, today: Any) -> dict[str, Any]:
    return {
        "request_id": ticket.request_id,
        "controller": ticket.controller_id,
        "subject_request_id": ticket.subject_request_id,
        "request_type": ticket.subject_request_type.value,
        "language": ticket.language,
        "received_date": deadline.received_date.isoformat(),
        "due_date": deadline.due_date.isoformat(),
        "due_basis": "notice_promise" if deadline.bound_by_promise else "gdpr_art_12_3",
        "days_left": deadline.days_left(today),
        "verification": {
            "status": verification.status.value,
            "reason": verification.reason,
            "reason_code": verification.reason_code,
        },
        "ticket": _ticket_view(ticket),
    }


_DUE_BASIS = {"notice_promise": "the notice's promised answer period",
              "gdpr_art_12_3": "one month, GDPR Art. 12(3)"}


def _print_human(summary: dict[str, Any], profile: Any) -> None:
    ticket = summary["ticket"]
    identities = "; ".join(
        " ".join(filter(None, [i["identity_type"], i.get("identity_country"), i["identity_value"]]))
        for i in ticket["subject_identities"]
    )
    contacts = ticket["extensions"]["delivery_contacts"]
    evidence = ticket["extensions"].get("verification_evidence")
    evidence_text = "none" if not evidence else evidence["type"]
    rows = [
        ("request id", summary["request_id"]),
        ("ticket id", summary["subject_request_id"]),
        ("controller", f"{summary['controller']} ({profile.legal_name})"),
        ("request type", summary["request_type"]),
        ("language", summary["language"]),
        ("received", f"{summary['received_date']} ({profile.time_zone})"),
        ("due", f"{summary['due_date']} ({summary['days_left']} days left; "
                f"{_DUE_BASIS[summary['due_basis']]})"),
        ("identities", identities),
        ("delivery", f"link to {contacts['email']}; passphrase SMS to {contacts.get('phone') or '-'}"),
        ("evidence", evidence_text),
        ("verification", f"{summary['verification']['status']}: {summary['verification']['reason']}"),
    ]
    print("ticket OK")
    for label, value in rows:
        print(f"  {label:<13} {value}")


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a ticket file and print the normalised request, its deadline and verification."""
    from dsar_pipeline.intake.errors import TicketError

    warnings.simplefilter("ignore")  # a library warning on stderr would break the one-line contract
    try:
        raw = _read_input(args.file)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return _fail(f"cannot read ticket file: {reason}")
    try:
        from dsar_pipeline.intake.parse import parse_ticket

        ticket = parse_ticket(raw)
        try:
            ticket.request_id  # noqa: B018 - derive it now: a bad DSAR_REQUEST_ID_KEY is a setup error
        except ValueError as exc:
            return _fail(f"configuration error: {exc}")
        from dsar_pipeline.intake.deadlines import deadline_for_ticket
        from dsar_pipeline.signatures.verification import verify_ticket

        try:
            verification = verify_ticket(ticket)
        except ValueError as exc:  # trust-anchor directory misconfigured
            return _fail(f"cannot verify the signature: {exc}")
        deadline = deadline_for_ticket(ticket.received_at, ticket.controller_id)
        today = datetime.now(UTC).astimezone(ticket.profile.zone).date()
        summary = _summary(ticket, verification, deadline, today)
    except TicketError as exc:
        return _fail(f"invalid ticket: {exc}")
    except Exception as exc:  # never a traceback: it could echo ticket content
        return _fail(f"ticket check failed: internal error ({type(exc).__name__})")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, sort_keys=True))
    else:
        _print_human(summary, ticket.profile)
    return EXIT_OK


def add_ticket_commands(subparsers: Any) -> None:
    """Add ``check`` to a subparsers object (under ``ticket`` or top level)."""
    check = subparsers.add_parser(
        "check",
        help="validate a request ticket (JSON) and show its deadline and verification",
        description="Validate a request ticket. Exit status 2 and one line on stderr when it is refused.",
    )
    check.add_argument("file", metavar="FILE", help="ticket JSON file ('-' for standard input)")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    check.set_defaults(func=cmd_check)


def register(subparsers: Any) -> Any:
    """Add the ``ticket`` command group to the ``dsar`` parser's subparsers; returns the group's own
    subparsers, where the development harness adds ``example``."""
    parser_class = getattr(subparsers, "_parser_class", argparse.ArgumentParser)
    ticket = subparsers.add_parser(
        "ticket",
        help="check request tickets",
        description="Request tickets: validate one (the development harness adds `example`).",
    )
    commands = ticket.add_subparsers(
        dest="ticket_command", metavar="COMMAND", required=True, parser_class=parser_class
    )
    add_ticket_commands(commands)
    return commands


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m dsar_pipeline.intake.commands check FILE``."""
    parser = _OneLineParser(prog="dsar-ticket", description="Check request tickets.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_OneLineParser)
    add_ticket_commands(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
