"""`dsar ticket submit FILE`: file a ticket into the running sandbox's inbox, as a helpdesk does.

The inbox is an S3 bucket and prefix (`DSAR_INBOX_BUCKET`, `DSAR_INBOX_PREFIX`); the ticket is put
there over S3 with the endpoint and credentials of the sandbox's settings file (written by `dsar
sandbox up`), exactly as a helpdesk or the web form would deliver it. The bytes go as they are:
checking the ticket, its evidence included, is the inbox sensor's job (`dsar ticket check` checks
one beforehand), so a bad ticket can be filed on purpose to see how the pipeline answers it. Only
what cannot be a ticket at all is refused here: a missing or unreadable file, more than 8 MiB (the
sensor's limit), text that is not JSON. The object's name holds a time and random letters, never
the file's name, which may name the person.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_TICKET_BYTES = 8 * 1024 * 1024  # as the inbox sensor (dsar_pipeline.intake.inbox.MAX_TICKET_BYTES)
DEFAULT_ENV_FILE = Path(".sandbox/sandbox.env")
NEEDED = ("DSAR_S3_ENDPOINT_URL", "DSAR_INBOX_BUCKET")
SENSOR_INTERVAL_S = 5  # the daemon's sensor loop (assets.ticket_inbox.SENSOR_INTERVAL_S is below it)


class SubmitError(RuntimeError):
    """The ticket cannot be filed; the message is one line for the user."""


def add_submit(subparsers: Any) -> None:
    """`dsar ticket submit FILE [--env-file PATH]`."""
    submit = subparsers.add_parser(
        "submit",
        help="file a ticket into the running sandbox's inbox",
        description="Put a ticket file (e.g. from `dsar ticket example`) into the inbox bucket of the running "
                    "sandbox (`dsar sandbox up`) over S3, as a helpdesk does; the inbox sensor of `dsar ui` "
                    f"takes it within about {SENSOR_INTERVAL_S} s. The ticket is filed as it is: the sensor checks it.",
    )
    submit.add_argument("file", metavar="FILE", help="the ticket (JSON); - for stdin")
    submit.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE,
                        help=f"settings written by `dsar sandbox up` (default {DEFAULT_ENV_FILE})")
    submit.set_defaults(func=cmd_submit)


def cmd_submit(args: argparse.Namespace) -> int:
    from harness.commands import fail

    warnings.simplefilter("ignore")  # a library warning on stderr would break the one-line contract
    try:
        raw = read_ticket(args.file)
        settings = sandbox_settings(args.env_file)
        bucket, key = submit_ticket(raw, settings)
    except SubmitError as exc:
        return fail(f"dsar ticket submit: error: {exc}")
    print(f"ticket filed as s3://{bucket}/{key}")
    print(f"the inbox sensor (ticket_inbox_sensor) takes it within about {SENSOR_INTERVAL_S} s while the UI runs "
          "(`make ui`)")
    return 0


def read_ticket(name: str) -> bytes:
    """The ticket's bytes, if they can be a ticket at all: at most 8 MiB of JSON."""
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(MAX_TICKET_BYTES + 1)
        else:
            with Path(name).open("rb") as handle:
                raw = handle.read(MAX_TICKET_BYTES + 1)
    except OSError as exc:
        raise SubmitError(f"cannot read the ticket file {name}: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_TICKET_BYTES:
        raise SubmitError(f"the ticket file is larger than 8 MiB ({MAX_TICKET_BYTES} bytes), the inbox's limit")
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise SubmitError(f"the ticket file is not JSON{where}") from None
    return raw


def sandbox_settings(env_file: Path) -> dict[str, str]:
    """The running sandbox's settings, from the file `dsar sandbox up` writes while it serves."""
    from dsar_pipeline.settings import load_env_file

    if not env_file.is_file():
        raise SubmitError(f"no sandbox settings file {env_file}; start the sandbox first (`dsar sandbox up`, "
                          "`make sandbox`)")
    try:
        settings = load_env_file(env_file, environ={})
    except (OSError, UnicodeDecodeError) as exc:
        raise SubmitError(f"cannot read the sandbox settings file {env_file} ({type(exc).__name__})") from None
    missing = [name for name in NEEDED if not settings.get(name)]
    if missing:
        raise SubmitError(f"the settings file {env_file} lacks {', '.join(missing)}; is it one `dsar sandbox up` "
                          "wrote?")
    return settings


def object_name(now: datetime | None = None) -> str:
    """A fresh inbox file name: the time and random letters, nothing from the ticket or its file."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"helpdesk-{stamp}-{secrets.token_hex(4)}.json"


def submit_ticket(raw: bytes, settings: dict[str, str]) -> tuple[str, str]:
    """Put the ticket into the inbox bucket over S3; returns (bucket, key)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    bucket = settings["DSAR_INBOX_BUCKET"]
    key = settings.get("DSAR_INBOX_PREFIX", "tickets/") + object_name()
    endpoint = settings["DSAR_S3_ENDPOINT_URL"]
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=settings.get("DSAR_AWS_REGION") or None,
        aws_access_key_id=settings.get("DSAR_AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=settings.get("DSAR_AWS_SECRET_ACCESS_KEY") or None,
        config=Config(connect_timeout=3, read_timeout=30, retries={"mode": "standard", "max_attempts": 2}))
    try:
        client.put_object(Bucket=bucket, Key=key, Body=raw, ContentType="application/json")
    except EndpointConnectionError:
        raise SubmitError(f"the sandbox is not running: nothing answers at {endpoint} (start it with "
                          "`dsar sandbox up`)") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SubmitError(f"the inbox bucket {bucket} refused the ticket ({code})") from None
    except BotoCoreError as exc:
        raise SubmitError(f"the inbox at {endpoint} is unreachable ({type(exc).__name__})") from None
    return bucket, key


__all__ = ["MAX_TICKET_BYTES", "SubmitError", "add_submit", "cmd_submit", "object_name", "read_ticket",
           "sandbox_settings", "submit_ticket"]
