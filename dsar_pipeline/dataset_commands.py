"""`dsar dataset check|access`: tools for the engineer who writes a dataset file.

`check FILE [--url URL]` validates the file (fideslang's models, then what a walk needs) and, with a
URL, the live schema: every collection and field exists (a problem each where not), every field the
walk queries is indexed (a warning each where not). Exit 0 when usable; exit 2 with one line per
problem on stderr.

`--url env:NAME` reads the URL from the environment variable NAME instead, so that a password in it
stays out of the shell's history and the machine's process list.

`access FILE --url URL --identity TYPE=VALUE … [--json]` runs one walk outside Dagster as a dry run.
Without `--json` it prints counts only, never a personal value; with `--json` its last line is
`{"collections": {NAME: [ROW, …]}, "revealed": [{"type", "value", "strength"}], "queries": N,
"seconds": S}`, each ROW holding every field the dataset declares for that collection. Every
`--identity` counts as given by a verified request (an e-mail or phone is weak by nature).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

EXIT_UNUSABLE = 2
URL_FROM_ENV = "env:"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DatasetCommandError(Exception):
    """An expected failure: one line on stderr, exit status 2."""


class DatasetProblems(Exception):
    """A file that cannot be used: one line per problem on stderr (`FILE: where: what`), exit status 2."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines


def register(subparsers: Any) -> None:
    parser_class = getattr(subparsers, "_parser_class", argparse.ArgumentParser)
    group = subparsers.add_parser("dataset", help="check a fideslang dataset file; dry-run its walk",
                                  description="Tools for a dataset file describing an SQL system (fideslang "
                                              "format, with our fides_meta.dsar extensions).")
    commands = group.add_subparsers(dest="dataset_command", metavar="COMMAND", required=True,
                                    parser_class=parser_class)
    check = commands.add_parser("check", help="validate the file (and, with --url, the live schema)",
                                description="Exit 0 when usable (warnings on stdout); exit 2 with one line per "
                                            "problem on stderr.")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--url", metavar="URL", help="also check this database (postgresql://, mysql+pymysql://, "
                                                    "sqlite:///…; env:NAME reads it from that variable)")
    check.set_defaults(func=_guarded(cmd_check))
    access = commands.add_parser("access", help="run one walk outside Dagster (a dry run)",
                                 description="Counts only, unless --json: then the last line is one JSON object "
                                             "with every row, the revealed identifiers, queries and seconds.")
    access.add_argument("file", type=Path, metavar="FILE")
    access.add_argument("--url", metavar="URL", required=True,
                        help="the database to read (env:NAME reads the URL from that variable)")
    access.add_argument("--identity", action="append", required=True, metavar="TYPE=VALUE",
                        help="an identifier of the person (repeatable); TYPE e.g. personal_code, email, "
                             "phone_number, customer_number")
    access.add_argument("--json", action="store_true", help="print the rows and identifiers found as JSON")
    access.set_defaults(func=_guarded(cmd_access))


def database_url(value: str | None) -> str | None:
    """`--url` as given, or, for `env:NAME`, the value of the environment variable NAME."""
    if value is None or not value.startswith(URL_FROM_ENV):
        return value
    name = value.removeprefix(URL_FROM_ENV)
    if not _ENV_NAME.fullmatch(name):
        raise DatasetCommandError(f"--url {URL_FROM_ENV}NAME: {name!r} is not an environment variable name")
    url = os.environ.get(name, "").strip()
    if not url:
        raise DatasetCommandError(f"--url {value}: the environment variable {name} is not set")
    return url


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            args.url = database_url(args.url)
            return command(args)
        except DatasetCommandError as exc:
            print(f"dsar dataset {args.dataset_command}: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
        except DatasetProblems as exc:
            for line in exc.lines:
                print(line, file=sys.stderr)
            return EXIT_UNUSABLE
    return run


# -- check ---------------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from connectors.dataset.schema_check import check_schema

    plan = _plan(args.file)
    problems: list[str] = []
    notes = list(plan.warnings)
    if args.url:
        engine = _engine(args.url, plan.key)
        try:
            report = check_schema(plan, engine)
        except Exception as exc:  # any driver failure: one value-free line
            raise DatasetCommandError(f"cannot read the database schema: {_cause(exc)}") from None
        finally:
            engine.dispose()
        problems += report.problems
        notes += report.warnings
    for note in notes:
        print(f"warning: {note}")
    if problems:
        raise DatasetProblems([f"{args.file}: {problem}" for problem in problems])
    where = " and the database" if args.url else ""
    print(f"ok: {args.file} ({len(plan.collections)} collections, entry points "
          f"{', '.join(sorted(kind.value for kind in plan.accepts))}) is usable{where}")
    return 0


# -- access --------------------------------------------------------------------------------------------


def cmd_access(args: argparse.Namespace) -> int:
    from connectors.dataset import DatasetConnector, DatasetInvalid
    from connectors.errors import ConnectorError

    identifiers = [_identifier(text) for text in args.identity]
    try:
        connector_class = DatasetConnector.for_dataset(args.file)
    except DatasetInvalid as exc:
        raise DatasetCommandError(f"{args.file}: {exc.problems[0]} (`dsar dataset check` lists every problem)") \
            from None
    unknown = sorted({i.type.value for i in identifiers} - {kind.value for kind in connector_class.accepts})
    if unknown:
        entry = ", ".join(sorted(kind.value for kind in connector_class.accepts))
        raise DatasetCommandError(f"{', '.join(unknown)}: no entry point of this dataset (its entry points: {entry})")
    connector = _connector(connector_class, args.url)
    started = time.monotonic()
    try:
        walk = connector.walk(identifiers)
        revealed = list(connector.revealed(walk))
    except ConnectorError as exc:
        raise DatasetCommandError(str(exc)) from None
    finally:
        connector.close()
    seconds = round(time.monotonic() - started, 3)
    plan = connector_class.plan
    rows = {name: [walk.rows[name][key] for key in sorted(walk.rows.get(name, {}), key=_order)]
            for name in plan.collections}
    for name, found in rows.items():
        print(f"{name}: {len(found)} rows")
    kinds: dict[str, int] = {}
    for identifier in revealed:
        kinds[f"{identifier.type.value} ({identifier.strength.value})"] = kinds.get(
            f"{identifier.type.value} ({identifier.strength.value})", 0) + 1
    print("revealed: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"))
    print(f"queries: {connector.calls_made}, seconds: {seconds}")
    if args.json:
        print(json.dumps({"collections": rows,
                          "revealed": [{"type": i.type.value, "value": i.value, "strength": i.strength.value}
                                       for i in revealed],
                          "queries": connector.calls_made, "seconds": seconds},
                         default=_json_value, ensure_ascii=False, separators=(",", ":")))
    return 0


def _identifier(text: str) -> Any:
    from connectors.dataset.identities import KNOWN, NAMES
    from connectors.identity import Identifier, InvalidIdentifier

    kind, sep, value = text.partition("=")
    if not sep or not value.strip():  # never repeated: without `=` the whole argument may be the value
        raise DatasetCommandError("--identity: expected TYPE=VALUE")
    if kind not in NAMES:
        shown = kind if re.fullmatch(r"[a-z_]{1,40}", kind) else "?"
        raise DatasetCommandError(f"--identity {shown}: unknown identity type (known: {KNOWN})")
    try:
        return Identifier.of(NAMES[kind], value)
    except InvalidIdentifier as exc:
        raise DatasetCommandError(f"--identity {kind}: {exc}") from None


def _connector(connector_class: Any, url: str) -> Any:
    from connectors.dataset.engine import DatasetDatabase
    from connectors.retry import RetryPolicy
    from connectors.sql.database import Timeouts

    timeouts = Timeouts(connect_s=5.0, statement_s=30.0)
    engine = _engine(url, connector_class.system, timeouts)
    return connector_class(DatasetDatabase(engine, timeouts, RetryPolicy(max_attempts=2), connector_class.system))


# -- shared --------------------------------------------------------------------------------------------


def _plan(path: Path) -> Any:
    from connectors.dataset import DatasetInvalid, load_plan

    if not path.is_file():
        raise DatasetCommandError(f"{path}: no such file")
    try:
        return load_plan(path)
    except DatasetInvalid as exc:
        raise DatasetProblems([f"{path}: {problem}" for problem in exc.problems]) from None


def _engine(url: str, system: str, timeouts: Any = None) -> Any:
    from connectors.dataset.engine import UnsupportedUrl, create_dataset_engine
    from connectors.sql.database import Timeouts

    try:
        return create_dataset_engine(url, timeouts or Timeouts(connect_s=5.0), system, pool_size=1)
    except UnsupportedUrl as exc:
        raise DatasetCommandError(str(exc)) from None
    except Exception as exc:  # e.g. a driver that is not installed
        raise DatasetCommandError(f"cannot use the database URL ({type(exc).__name__})") from None


def _cause(exc: BaseException) -> str:
    from connectors.dataset.failures import classify
    from connectors.sql.failures import Limits

    return str(classify(exc, "connect", Limits(5, 30, 5), 0.0, False))


def _order(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(f"{part:020d}" if isinstance(part, int) else str(part) for part in key)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)
