"""The development harness's `dsar` commands: `demo`, `ui`, `sandbox`, `ticket example` and `ticket submit`.

They reach `dsar` through the `dsar.commands` entry point of the harness distribution
(`harness/pyproject.toml`), so the product never imports the harness: a production install has
none of these commands, and `dsar` says so when one is asked for.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsar_pipeline.intake.errors import one_line
from harness import cluster, demo, ui
from harness.ticket_submit import add_submit

DEFAULT_CONTROLLER = "enefit-ee"


def register(groups: Mapping[str, Any]) -> None:
    """Add the harness's commands: `groups[""]` is `dsar`'s own subparsers, `groups["ticket"]` the ticket group's."""
    from sandbox.cli import register as register_sandbox

    for add in (demo.register, register_sandbox, ui.register, cluster.register):
        add(groups[""])
    add_example(groups["ticket"])
    add_submit(groups["ticket"])


def fail(message: str) -> int:
    """One line on stderr and exit status 2, as every `dsar` command fails."""
    print(one_line(message), file=sys.stderr)
    return 2


def _identity_option(text: str) -> tuple[str, str]:
    """`TYPE=VALUE` of `--identity` (the value is checked with the ticket, so it is never echoed here)."""
    from dsar_pipeline.intake.ticket import IdentityType

    kind, sep, value = text.partition("=")
    if not sep or not value:
        raise argparse.ArgumentTypeError("must be TYPE=VALUE")
    if kind not in {t.value for t in IdentityType}:
        raise argparse.ArgumentTypeError(f"TYPE must be one of {', '.join(t.value for t in IdentityType)}")
    return kind, value


def cmd_example(args: argparse.Namespace) -> int:
    """Print a ticket signed by a sandbox person's eID over exactly the request it prints."""
    from dsar_pipeline.profiles import is_valid_controller_id, list_controllers
    from harness.ticket_example import ExampleError, example_ticket_json

    controller = args.controller
    if not is_valid_controller_id(controller) or controller not in list_controllers():
        return fail(f"unknown controller (known: {', '.join(list_controllers())})")
    warnings.simplefilter("ignore")
    try:
        if args.env_file is not None:
            text = _example_signed_by_running_sandbox(args, controller)
        else:
            text = example_ticket_json(controller, person=args.person, language=args.language,
                                       identities=args.identity, email=args.email, phone=args.phone)
    except ExampleError as exc:
        return fail(f"cannot build an example ticket: {exc}")
    except Exception as exc:
        return fail(f"cannot build an example ticket: internal error ({type(exc).__name__})")
    sys.stdout.write(text)
    return 0


def _example_signed_by_running_sandbox(args: argparse.Namespace, controller: str) -> str:
    """The example ticket signed over the control API by the eID of the running sandbox whose settings
    file is `args.env_file`: the one its inbox sensor (`dsar ui`) trusts, for `dsar ticket submit`."""
    import json
    from datetime import UTC, datetime

    import httpx

    from dsar_pipeline.profiles import ProfileError, load_profile
    from harness.ticket_example import ExampleError, example_person, sign_ticket, ticket_for
    from harness.ticket_submit import SubmitError, sandbox_settings

    try:
        control = sandbox_settings(args.env_file).get("SANDBOX_CONTROL_URL")
        country = load_profile(controller).country
    except (SubmitError, ProfileError) as exc:
        raise ExampleError(str(exc)) from None
    if not control:
        raise ExampleError(f"the settings file {args.env_file} names no SANDBOX_CONTROL_URL")
    who = example_person(country, args.person)
    ticket = ticket_for(who, controller, now=datetime.now(UTC), language=args.language, identities=args.identity,
                        email=args.email, phone=args.phone)
    try:
        signed = sign_ticket(ticket, demo.control_signer(control, str(who["name"])))
    except httpx.HTTPStatusError as exc:
        raise ExampleError(f"the sandbox's eID refused to sign (HTTP {exc.response.status_code})") from None
    except httpx.HTTPError as exc:
        raise ExampleError(f"the sandbox is not running: its control API at {control} does not answer "
                           f"({type(exc).__name__}); start it with `dsar sandbox up`") from None
    return json.dumps(signed, indent=2, ensure_ascii=False) + "\n"


def add_example(subparsers: Any) -> None:
    """`dsar ticket example`: a ticket signed with a sandbox person's eID."""
    example = subparsers.add_parser(
        "example",
        help="print a ticket signed with a sandbox person's eID",
        description="Print a ticket (JSON) signed with the sandbox eID of a named sandbox person over exactly the "
                    "request it prints, extra identities and contacts included: any request a person could sign "
                    "with their own card. It needs nothing running; `dsar demo --ticket FILE` files it.",
    )
    example.add_argument(
        "--controller",
        default=DEFAULT_CONTROLLER,
        metavar="ID",
        help="enefit-ee (default), enefit-lv, kilowats-lv, enertek-lv or set-lv",
    )
    example.add_argument("--person", metavar="NAME",
                         help="named sandbox person who signs (default: the controller's; see `dsar sandbox people`)")
    example.add_argument("--language", choices=("et", "lv", "ru", "en"), help="language of the letter")
    example.add_argument("--identity", metavar="TYPE=VALUE", action="append", default=[], type=_identity_option,
                         help="one more subject identity (repeatable); TYPE: personal_code, email, phone, "
                              "customer_number, metering_point_eic, customer_eic, volt_account_id, portal_username")
    example.add_argument("--email", metavar="ADDR", help="delivery e-mail (the link) instead of the person's own")
    example.add_argument("--phone", metavar="NUMBER",
                         help="delivery phone (the passphrase SMS) instead of the person's")
    example.add_argument("--env-file", type=Path, metavar="PATH",
                         help="sign with the eID of the running sandbox whose settings `dsar sandbox up` wrote to "
                              "PATH (e.g. .sandbox/sandbox.env), whose inbox `dsar ticket submit` files into; "
                              "default: offline, with the eID of the demo's sandbox (.sandbox/demo)")
    example.set_defaults(func=cmd_example)
