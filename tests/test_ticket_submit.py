"""`dsar ticket submit FILE`: a ticket goes into the running sandbox's inbox bucket over S3, as a
helpdesk delivers it; whatever cannot be a ticket, or a sandbox that is not there, gets one line on
stderr and exit status 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

ENV_KEYS = ("DSAR_S3_ENDPOINT_URL", "DSAR_INBOX_BUCKET", "DSAR_INBOX_PREFIX", "DSAR_AWS_REGION",
            "DSAR_AWS_ACCESS_KEY_ID", "DSAR_AWS_SECRET_ACCESS_KEY")


def dsar(folder: Path, *args: str, env: dict[str, str] | None = None,
         timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", *args], cwd=folder, capture_output=True,
                          text=True, timeout=timeout, check=False, env=env)


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "ticket.json").write_text('{"subject_request_id": "x"}', encoding="utf-8")
    return tmp_path


def test_a_missing_file(folder: Path) -> None:
    assert_one_line_failure(dsar(folder, "ticket", "submit", "absent.json"), "absent.json")


def test_a_file_over_8_mib(folder: Path) -> None:
    (folder / "big.json").write_bytes(b" " * (8 * 1024 * 1024 + 1))
    assert_one_line_failure(dsar(folder, "ticket", "submit", "big.json"), "8 MiB")


@pytest.mark.parametrize("body", [b"not json", b'{"a": ', b"\xff\xfe"], ids=["text", "cut-short", "not-utf8"])
def test_not_json(folder: Path, body: bytes) -> None:
    (folder / "bad.json").write_bytes(body)
    assert_one_line_failure(dsar(folder, "ticket", "submit", "bad.json"), "not JSON")


def test_no_settings_file(folder: Path) -> None:
    """No `.sandbox/sandbox.env` in the working directory: no sandbox was started here."""
    assert_one_line_failure(dsar(folder, "ticket", "submit", "ticket.json"), "dsar sandbox up")


def test_a_sandbox_that_is_not_running(folder: Path) -> None:
    """The settings file outlives its sandbox: nothing answers at the endpoint it names."""
    env_file = folder / "stale.env"
    env_file.write_text(f"DSAR_S3_ENDPOINT_URL=http://127.0.0.1:{closed_port()}\nDSAR_INBOX_BUCKET=dsar-inbox\n"
                        "DSAR_INBOX_PREFIX=tickets/\nDSAR_AWS_REGION=eu-north-1\nDSAR_AWS_ACCESS_KEY_ID=testing\n"
                        "DSAR_AWS_SECRET_ACCESS_KEY=testing\n", encoding="utf-8")
    result = dsar(folder, "ticket", "submit", "ticket.json", "--env-file", str(env_file), timeout=60)
    assert_one_line_failure(result, "not running")


# -- against a started sandbox ----------------------------------------------------------------------------


@pytest.fixture
def sandbox_env(federation, tmp_path: Path) -> Iterator[Path]:
    """The settings file of the session's running sandbox, as `dsar sandbox up` writes it; afterwards
    the inbox is emptied again, so no other test's sensor takes these tickets."""
    from sandbox.federation import write_env_file

    env_file = tmp_path / ".sandbox" / "sandbox.env"
    write_env_file(dict(federation.settings), env_file)
    before = set(inbox_keys(federation.settings))
    yield env_file
    client = s3(federation.settings)
    for key in set(inbox_keys(federation.settings)) - before:
        client.delete_object(Bucket=federation.settings["DSAR_INBOX_BUCKET"], Key=key)


def s3(settings: dict[str, str]) -> Any:  # a boto3 S3 client
    return boto3.client("s3", endpoint_url=settings["DSAR_S3_ENDPOINT_URL"], region_name=settings["DSAR_AWS_REGION"],
                        aws_access_key_id=settings["DSAR_AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=settings["DSAR_AWS_SECRET_ACCESS_KEY"])


def inbox_keys(settings: dict[str, str]) -> list[str]:
    listing = s3(settings).list_objects_v2(Bucket=settings["DSAR_INBOX_BUCKET"], Prefix=settings["DSAR_INBOX_PREFIX"])
    return [item["Key"] for item in listing.get("Contents", [])]


@pytest.mark.slow
def test_an_example_ticket_lands_in_the_inbox_bucket(federation, sandbox_env: Path) -> None:
    folder = sandbox_env.parent.parent
    made = dsar(folder, "ticket", "example", "--env-file", str(sandbox_env))
    assert made.returncode == 0, made.stderr
    (folder / "ticket.json").write_text(made.stdout, encoding="utf-8")

    result = dsar(folder, "ticket", "submit", "ticket.json")  # the default settings file: .sandbox/sandbox.env
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    settings = federation.settings
    bucket, prefix = settings["DSAR_INBOX_BUCKET"], settings["DSAR_INBOX_PREFIX"]
    (key,) = [k for k in inbox_keys(settings) if f"s3://{bucket}/{k}" in result.stdout]
    assert key.startswith(prefix + "helpdesk-") and key.endswith(".json")
    assert "within about 5 s" in result.stdout and "make ui" in result.stdout
    stored = s3(settings).get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == made.stdout.encode()
    assert stored["ContentType"] == "application/json"

    # signed with the running sandbox's eID: the inbox sensor of `dsar ui` verifies it
    checked = dsar(folder, "ticket", "check", "ticket.json", "--json",
                   env={**os.environ, **{k: v for k, v in settings.items() if k.startswith("DSAR_")}})
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["verification"]["status"] == "verified"


@pytest.mark.slow
def test_the_offline_example_lands_too_and_each_submission_is_a_new_object(federation, sandbox_env: Path) -> None:
    folder = sandbox_env.parent.parent
    made = dsar(folder, "ticket", "example", "--language", "en")
    assert made.returncode == 0, made.stderr
    (folder / "ticket.json").write_text(made.stdout, encoding="utf-8")
    before = set(inbox_keys(federation.settings))
    for _ in range(2):
        assert dsar(folder, "ticket", "submit", "ticket.json", "--env-file", str(sandbox_env)).returncode == 0
    assert len(set(inbox_keys(federation.settings)) - before) == 2


@pytest.mark.slow
def test_example_against_a_sandbox_that_is_not_running(folder: Path) -> None:
    env_file = folder / "stale.env"
    env_file.write_text(f"SANDBOX_CONTROL_URL=http://127.0.0.1:{closed_port()}\nDSAR_S3_ENDPOINT_URL=http://x\n"
                        "DSAR_INBOX_BUCKET=dsar-inbox\n", encoding="utf-8")
    assert_one_line_failure(dsar(folder, "ticket", "example", "--env-file", str(env_file)), "not running")
