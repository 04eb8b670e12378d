"""`dsar`: the command line of the DSAR pipeline.

Each command group lives with its domain and registers itself here; this module only builds the
parser, turns every expected failure into one line on stderr with exit status 2, and never lets a
traceback reach the user.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

DESCRIPTION = """Answer GDPR access and portability requests (Art. 15 and 20) for a Baltic electricity
retailer: collect everything held on one person from five systems (billing, the Volt charging app,
call recordings, the self-service portal, the AVP data hub), build the encrypted response package
and deliver it."""

EPILOG = """first steps:
  dsar sandbox up              start the simulated systems (writes .sandbox/sandbox.env)
  dsar sandbox people          the named test people and their identifiers
  dsar ticket example          a valid request ticket for a sandbox person
  dsar ticket check FILE       validate a request ticket
  dsar demo                    the whole thing on the embedded default
  dsar ui                      the Dagster UI against the running sandbox
  dsar audit verify            check the audit trail and its signed anchors
"""


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (`dsar: error: …`) and exit status 2, instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from dsar_pipeline.audit_cli import register_audit
    from dsar_pipeline.demo import register as register_demo
    from dsar_pipeline.intake.cli import register as register_ticket
    from dsar_pipeline.ui import register as register_ui
    from sandbox.cli import register as register_sandbox

    parser = OneLineParser(prog="dsar", description=DESCRIPTION, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser)
    registrations: list[Callable[[argparse._SubParsersAction], None]] = [  # type: ignore[type-arg]
        register_demo, register_sandbox, register_ticket, register_ui, register_audit]
    for register in registrations:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
