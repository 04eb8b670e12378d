"""`dsar audit`: verify the audit trail and its anchors, print the public key, anchor the head now.

Why a command and not only a Dagster job: an auditor checks the trail with the published public
key and read access to the database (and the bucket), without the pipeline, Dagster or any secret.

Settings come from the environment; `--env-file` adds more (e.g. `.sandbox/sandbox.env` for the
sandbox's bucket), and the embedded default's `$DAGSTER_HOME/secrets.env` (or
`./.dagster_home/secrets.env`) is read last. Values already set are never overridden.

Bucket anchors: when `DSAR_WORK_BUCKET` is set, `verify` also reads `audit-anchors/` there. If the
bucket cannot be read, the result is NOT "intact" (exit 2): the database anchors live in the same
database an attacker would have rewritten, so only the locked bucket copies settle it. `--offline`
says explicitly that the database anchors are to be accepted alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXIT_BROKEN = 2


class AuditCommandError(Exception):
    """An expected failure, reported as one line on stderr with exit status 2."""


def audit_settings(env_files: list[Path] | None = None) -> dict[str, str]:
    """The DSAR_* settings: environment first, then the given env files, then the embedded secrets.env."""
    from dsar_pipeline.settings import load_env_file

    settings = {k: v for k, v in os.environ.items() if k.startswith("DSAR_") or k == "DAGSTER_HOME"}
    for path in env_files or []:
        if not path.is_file():
            raise AuditCommandError(f"settings file {path} does not exist")
        load_env_file(path, settings)
    secrets_file = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home") / "secrets.env"
    if secrets_file.is_file():
        load_env_file(secrets_file, settings)
    return settings


def aws_client(service: str, settings: Mapping[str, str]) -> Any:
    """A boto3 client for AWS or the sandbox (same settings as the pipeline's resources)."""
    import boto3
    from botocore.config import Config

    endpoint = settings.get("DSAR_S3_ENDPOINT_URL" if service == "s3" else "DSAR_KMS_ENDPOINT_URL") or None
    return boto3.client(
        service, endpoint_url=endpoint, region_name=settings.get("DSAR_AWS_REGION") or None,
        aws_access_key_id=settings.get("DSAR_AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=settings.get("DSAR_AWS_SECRET_ACCESS_KEY") or None,
        config=Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3}))


def _open_trail(settings: Mapping[str, str], url: str | None, *, create: bool) -> Any:
    from dsar_pipeline.audit.trail import AuditTrail

    url = url or settings.get("DSAR_AUDIT_DATABASE_URL")
    if not url:
        raise AuditCommandError("DSAR_AUDIT_DATABASE_URL is not set (nor --database-url, nor in secrets.env)")
    if url.startswith("sqlite:///") and not create and not Path(url.removeprefix("sqlite:///")).is_file():
        raise AuditCommandError(f"audit database {url.removeprefix('sqlite:///')} does not exist")
    return AuditTrail(url, create_tables=create)


def _public_keys(args: argparse.Namespace, settings: Mapping[str, str]) -> list[Any]:
    """--public-key files, else DSAR_AUDIT_PUBLIC_KEY_FILE, else the configured signer's public key."""
    from dsar_pipeline.audit.signing import (
        PUBLIC_KEY_FILE,
        SigningKeyError,
        load_public_keys,
        signer_from_settings,
    )

    files = list(args.public_key or []) or ([Path(settings[PUBLIC_KEY_FILE])] if settings.get(PUBLIC_KEY_FILE) else [])
    if files:
        keys = []
        for path in files:
            try:
                keys.extend(load_public_keys(path.read_bytes()))
            except (OSError, ValueError, SigningKeyError) as exc:
                raise AuditCommandError(f"cannot read public key {path}: {type(exc).__name__}") from None
        return keys
    try:
        return [signer_from_settings(settings, lambda: aws_client("kms", settings), create=False).public_key()]
    except Exception:  # no key configured or reachable: anchors then fail as signed by an unknown key
        return []


def _bucket_anchors(args: argparse.Namespace, settings: Mapping[str, str]) -> tuple[list[Any], str, str]:
    from botocore.exceptions import BotoCoreError, ClientError

    from dsar_pipeline.audit.anchor import read_bucket_anchors

    bucket = (settings.get("DSAR_WORK_BUCKET") or "").strip()
    if args.offline:
        return [], bucket, "skipped (--offline)"
    if not bucket:
        return [], bucket, "not configured"
    try:
        return list(read_bucket_anchors(aws_client("s3", settings), bucket)), bucket, "checked"
    except (BotoCoreError, ClientError, OSError) as exc:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
        return [], bucket, f"unreachable ({code or type(exc).__name__})"
    except ValueError as exc:
        raise AuditCommandError(f"audit anchors in bucket {bucket}: {exc}") from None


def cmd_verify(args: argparse.Namespace) -> int:
    """Check the whole chain and every anchor; 0 when intact, 2 with one line naming the first break."""
    from sqlalchemy.exc import SQLAlchemyError

    settings = audit_settings(args.env_file)
    trail = _open_trail(settings, args.database_url, create=False)
    keys = _public_keys(args, settings)
    anchors, bucket, status = _bucket_anchors(args, settings)
    try:
        result = trail.verify(keys, anchors, status)
    except SQLAlchemyError as exc:
        raise AuditCommandError(f"cannot read the audit database ({type(exc).__name__})") from None
    problem = result.problem
    if problem is None and status.startswith("unreachable"):
        problem = (f"cannot check the audit anchors in bucket {bucket} {status}; the chain and "
                   f"{result.anchors['database']} database anchors are intact (--offline accepts those alone)")
    report = {**result.to_dict(), "ok": problem is None, "problem": problem}
    if args.json:
        print(json.dumps(report, sort_keys=True))
    elif problem is None:
        a = result.anchors
        bucket_part = f"{a['bucket']} in bucket {bucket}" if status == "checked" else f"bucket {status}"
        latest = ("none yet: a cut tail would not be detectable" if a["latest_seq"] is None
                  else f"latest covers event {a['latest_seq']}, {a['unanchored_events']} events after it")
        print(f"audit trail intact: {result.events} events, {result.requests} requests; anchors: "
              f"{a['database']} in the database, {bucket_part}; {latest}")
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_BROKEN
    return 0


def cmd_public_key(args: argparse.Namespace) -> int:
    """Print the PEM public key auditors check anchors with (its fingerprint goes to stderr)."""
    from dsar_pipeline.audit.signing import key_fingerprint, public_key_pem, signer_from_settings

    settings = audit_settings(args.env_file)
    signer = signer_from_settings(settings, lambda: aws_client("kms", settings))
    print(public_key_pem(signer.public_key()), end="")
    print(f"key id {signer.key_id}, fingerprint {key_fingerprint(signer.public_key())}", file=sys.stderr)
    return 0


def cmd_anchor(args: argparse.Namespace) -> int:
    """Sign and store the current head now (the daily schedule does the same)."""
    from dsar_pipeline.audit.anchor import anchor_from_settings

    settings = audit_settings(args.env_file)
    trail = _open_trail(settings, args.database_url, create=True)
    anchor = anchor_from_settings(trail, settings, lambda service: aws_client(service, settings))
    if args.json:
        print(json.dumps(anchor.to_dict(), sort_keys=True))
    else:
        print(f"anchored event {anchor.seq} ({anchor.head_hash[:16]}...) signed by {anchor.key_id}")
    return 0


def _guarded(command: Any) -> Any:
    """Expected failures become one line on stderr and exit 2; never a traceback."""

    def run(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        from dsar_pipeline.audit.signing import SigningKeyError

        try:
            return int(command(args))
        except AuditCommandError as exc:
            print(f"dsar audit: {exc}", file=sys.stderr)
        except (SigningKeyError, ValueError) as exc:
            print(f"dsar audit: {exc}", file=sys.stderr)
        except (BotoCoreError, ClientError, OSError) as exc:
            print(f"dsar audit: AWS or file access failed ({type(exc).__name__})", file=sys.stderr)
        except Exception as exc:  # the database and anything unforeseen: type only, no URL or secret
            print(f"dsar audit: failed ({type(exc).__name__})", file=sys.stderr)
        return EXIT_BROKEN

    return run


def register(subparsers: Any) -> None:
    """Add the ``audit`` command group to the ``dsar`` parser's subparsers."""
    parser_class = getattr(subparsers, "_parser_class", argparse.ArgumentParser)
    audit = subparsers.add_parser("audit", help="verify the audit trail, print its public key, anchor it",
                                  description="The tamper-evident audit trail: one SHA-256 chain over every "
                                              "request, signed anchors under S3 Object Lock.")
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True, parser_class=parser_class)

    def common(parser: argparse.ArgumentParser, database: bool = True) -> None:
        parser.add_argument("--env-file", type=Path, action="append", default=[], metavar="FILE",
                            help="more KEY=VALUE settings (repeatable; the environment wins)")
        if database:
            parser.add_argument("--database-url", metavar="URL",
                                help="audit database (default DSAR_AUDIT_DATABASE_URL)")

    verify = commands.add_parser("verify", help="check the chain and its anchors (exit 2 on the first break)",
                                 description="Check every event and every anchor (database, and the work bucket "
                                             "when DSAR_WORK_BUCKET is set). Exit 0 when intact; exit 2 with one "
                                             "line on stderr naming the first break.")
    common(verify)
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.add_argument("--public-key", type=Path, action="append", metavar="PEM",
                        help="public key(s) the anchors must be signed with (default: the configured signer's)")
    verify.add_argument("--offline", action="store_true", help="do not read the bucket; accept database anchors alone")
    verify.set_defaults(func=_guarded(cmd_verify))
    public = commands.add_parser("public-key", help="print the PEM public key that checks the anchors")
    common(public, database=False)
    public.set_defaults(func=_guarded(cmd_public_key))
    anchor = commands.add_parser("anchor", help="sign the current head and store it (bucket and database)")
    common(anchor)
    anchor.add_argument("--json", action="store_true", help="print the anchor as JSON")
    anchor.set_defaults(func=_guarded(cmd_anchor))


register_audit = register

__all__ = ["audit_settings", "aws_client", "register", "register_audit"]
