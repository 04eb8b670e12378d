"""`dsar`: the command line of the DSAR pipeline.

Each command group lives with its domain and registers itself here; this module only builds the
parser, turns every expected failure into one line on stderr with exit status 2, and never lets a
traceback reach the user. The development harness (`demo`, `ui`, `sandbox`, `ticket example`) is not
part of the product: it plugs in through the `dsar.commands` entry point when it is installed, and
where it is not, asking for one of its commands says so in one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

DESCRIPTION = """Answer GDPR access and portability requests (Art. 15 and 20) for a Baltic electricity
retailer: collect everything held on one person from five systems (billing, the Volt charging app,
call recordings, the self-service portal, the AVP data hub), build the encrypted response package
and deliver it."""

EPILOG = """first steps (the development harness):
  dsar sandbox up              start the simulated systems (writes .sandbox/sandbox.env)
  dsar sandbox people          the named test people and their identifiers
  dsar ticket example          a valid request ticket for a sandbox person
  dsar ticket submit FILE      file a ticket into the running sandbox's inbox
  dsar demo                    the whole thing on the embedded default
  dsar ui                      the Dagster UI and the DPO's review desk against the running sandbox
production commands:
  dsar ticket check FILE       validate a request ticket
  dsar decide ID approve|reject --by USER   the DPO's decision on one request
  dsar desk                    serve the DPO's review desk
  dsar audit verify            check the audit trail and its signed anchors
  dsar dataset check FILE      validate a fideslang dataset file (--url: against the live schema)
  dsar dataset access FILE --url URL --identity TYPE=VALUE   one walk as a dry run (counts; --json rows)
"""

PLUGIN_GROUP = "dsar.commands"
HARNESS_COMMANDS = {"demo": "run one request end to end on the embedded default",
                    "sandbox": "run the simulated systems", "ui": "open the Dagster UI on the embedded default"}
HARNESS_TICKET_COMMANDS = {"example": "print a ticket signed with a sandbox person's eID",
                           "submit": "file a ticket into the running sandbox's inbox"}
HARNESS_MODULES = ("harness", "sandbox", "flask", "werkzeug", "moto", "faker")
INSTALL_HINT = "install the development harness with `make install` (pip install -e '.[harness]' -e ./harness)"


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (`dsar: error: …`) and exit status 2, instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from dsar_pipeline.audit.commands import register as register_audit
    from dsar_pipeline.dataset_commands import register as register_dataset
    from dsar_pipeline.intake.commands import register as register_ticket

    parser = OneLineParser(prog="dsar", description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser)
    register_audit(sub)
    register_dataset(sub)
    groups = {"": sub, "ticket": register_ticket(sub)}
    problem = load_plugins(groups)
    for group, names in (("", HARNESS_COMMANDS), ("ticket", HARNESS_TICKET_COMMANDS)):
        for name, summary in names.items():
            if name not in groups[group].choices:
                absent_command(groups[group], name, summary, problem)
                ABSENT[tuple(filter(None, (group, name)))] = problem
    return parser


def load_plugins(groups: dict[str, Any]) -> str:
    """Let every installed `dsar.commands` entry point add its commands (the product's own `decide` and
    `desk`, the harness's); returns why one could not, after trying the others."""
    problem = "this installation does not include it"
    for plugin in entry_points(group=PLUGIN_GROUP):
        try:
            register: Callable[[dict[str, Any]], None] = plugin.load()
        except ImportError as exc:
            problem = f"it cannot be loaded here ({type(exc).__name__}: {exc.name or 'a module'} is missing)"
            continue
        register(groups)
    return problem


def absent_command(subparsers: Any, name: str, summary: str, problem: str) -> None:
    """A harness command that is not installed: listed in `dsar --help`, explained when asked for."""
    subparsers.add_parser(name, help=f"{summary} (development harness: not available here)", add_help=False)


def explain_absent(command: tuple[str, ...], problem: str) -> int:
    print(f"dsar {' '.join(command)}: a command of the development harness, and {problem}; {INSTALL_HINT}",
          file=sys.stderr)
    return 2


ABSENT: dict[tuple[str, ...], str] = {}
"""Harness commands this installation lacks (filled by `build_parser`), with the reason."""


def configuration_problem() -> str | None:
    """What is wrong with the deployment's systems file or profile folder (`DSAR_SYSTEMS_FILE`,
    `DSAR_PROFILE_DIR`), in one line; None when both can be used."""
    from connectors.registry import SystemsFileError, systems

    from .profiles import PROFILE_DIR_SETTING, ProfileError, list_controllers, load_profile, profile_dir

    try:
        systems()
    except SystemsFileError as exc:
        return str(exc)
    if not profile_dir().is_dir():
        return f"{PROFILE_DIR_SETTING}: {profile_dir()} is not a folder"
    try:
        for controller in list_controllers():
            load_profile(controller)
    except ProfileError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    for command, problem in ABSENT.items():
        if tuple(words[:len(command)]) == command:
            return explain_absent(command, problem)
    args = parser.parse_args(words)
    problem = configuration_problem()
    if problem is not None:
        print(f"dsar {args.command}: error: {problem}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in HARNESS_MODULES:
            raise
        print(f"dsar {args.command}: the development harness needs {exc.name}, which is not installed; "
              f"{INSTALL_HINT}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
