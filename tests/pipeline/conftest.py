"""Fixtures for the Dagster layer: the sandbox federation's settings and a project-like home in the
process environment (as `dsar demo` sets them up), and a persistent temporary Dagster instance."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from harness.embedded import prepare_home


@pytest.fixture(scope="module")
def pipeline_env(federation, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("dagster_home")
    saved = dict(os.environ)
    os.environ.update(federation.settings)
    os.environ.update(prepare_home(home))
    # Seal with the local key file here: other test modules in this process re-seed or reset the
    # sandbox's in-process KMS (moto keeps one global state). The demo test exercises KMS end to end.
    os.environ["DSAR_KMS_KEY_ID"] = ""
    # Sign audit anchors with this home's own key file: the sandbox's KMS signing key belongs to the
    # audit tests' trail, whose anchors share the work bucket (one trail per key, as in production).
    os.environ["DSAR_AUDIT_SIGNING_KEY_ID"] = ""
    try:
        yield dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def instance(pipeline_env: dict[str, str], tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as test_instance:
        yield test_instance


@pytest.fixture
def ui_instance(pipeline_env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    """The prepared home's persistent (SQLite) instance, the one `dsar ui` serves."""
    with dg.DagsterInstance.get() as instance:
        yield instance


def people(federation) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in httpx.get(f"{federation.settings['SANDBOX_CONTROL_URL']}/people").json()["people"]}


def person_ticket(federation, name: str, *, signed: bool = True, suffix: str = "",
                  identities: tuple[tuple[str, str], ...] = (), email: str | None = None,
                  phone: str | None = None, controller: str | None = None) -> bytes:
    """A ticket as the web form files it (with extra identities and contacts when given); signed by
    the person's sandbox eID over exactly this request when `signed`."""
    from harness.demo import CONTROLLER_OF_COUNTRY, control_signer
    from harness.ticket_example import sign_ticket, ticket_for

    person = people(federation)[name]
    ticket = ticket_for(person, controller or CONTROLLER_OF_COUNTRY[person["country"]], now=datetime.now(UTC),
                        identities=identities, email=email, phone=phone)
    ticket["subject_request_id"] += suffix
    if signed:
        ticket = sign_ticket(ticket, control_signer(federation.settings["SANDBOX_CONTROL_URL"], name))
    return json.dumps(ticket).encode()


def run_ticket(federation, instance: dg.DagsterInstance, raw: bytes, suffix: str) -> str:
    """Drop the ticket, let the sensor take it, and run the request's job to the end: its request id."""
    from assets.definitions import request_job
    from harness import runner

    drop(federation, raw, f"web{suffix}")
    tick = runner.tick(instance)
    assert len(tick.runs) == 1, tick.skip_reason
    (request_id,) = tick.new_requests
    result = request_job().execute_in_process(partition_key=request_id, instance=instance, raise_on_error=False)
    assert result.success
    return request_id


def drop(federation, raw: bytes, name: str) -> None:
    response = httpx.post(f"{federation.settings['SANDBOX_CONTROL_URL']}/tickets", params={"name": name},
                          content=raw, timeout=10)
    response.raise_for_status()


def inbox_keys(federation, prefix: str = "tickets/") -> list[str]:
    from assets.resources import aws_client

    client = aws_client("s3", federation.settings, "DSAR_S3_ENDPOINT_URL")
    listed: dict[str, Any] = client.list_objects_v2(Bucket=federation.settings["DSAR_INBOX_BUCKET"], Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture
def no_faults(federation) -> Iterator[None]:
    """The session's sandbox without faults, before and after the test."""
    federation.board.replace([])
    yield
    federation.board.replace([])


def audit_trail():
    """The audit trail of this home (`DSAR_AUDIT_DATABASE_URL`)."""
    from assets.resources import AuditResource

    return AuditResource(audit_database_url=os.environ["DSAR_AUDIT_DATABASE_URL"]).trail()


@pytest.fixture
def empty_inbox(federation) -> None:
    """The session's sandbox with no faults and no ticket left over by another test."""
    from assets.resources import aws_client

    federation.board.replace([])
    client = aws_client("s3", federation.settings, "DSAR_S3_ENDPOINT_URL")
    for key in inbox_keys(federation, ""):
        client.delete_object(Bucket=federation.settings["DSAR_INBOX_BUCKET"], Key=key)


def decision(instance: dg.DagsterInstance, request_id: str, job: str = "approve_release", dpo_user: str = "dpo.mari",
             **choices: bool) -> dict[str, Any]:
    """A decision job's run config as the review desk sends it: bound to the review bundle that the
    request's last `review_findings` recorded (the one the DPO was shown)."""
    from assets.decisions import decision_config
    from assets.status import latest_metadata

    shown = str(latest_metadata(instance, "review_findings", request_id).get("review_bundle_sha256", ""))
    return decision_config(job, dpo_user=dpo_user, review_bundle_sha256=shown, **choices)


def stored_package(instance: dg.DagsterInstance, request_id: str, directory: Path) -> tuple[Path, str, Any]:
    """The request's built package as later steps get it: the sealed `response_package` output (checked
    against Dagster's record), its ZIP opened from the work store into `directory`, and its passphrase."""
    from assets.environments import resource_now
    from assets.io_manager import load_stored
    from dsar_pipeline.package.handoff import fetch_package

    work = resource_now("work")
    package = load_stored(instance, work, request_id, "response_package")
    assert package is not None, "the package is built even while the request waits for the DPO"
    zip_path, _ = fetch_package(work.store(), work.key_provider(), request_id, package, directory)
    return zip_path, package.passphrase, package


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def celery_services() -> Iterator[dict[str, str]]:
    """RabbitMQ and Redis of this machine for Celery workers, with a RabbitMQ vhost of this module's own: no
    other module's (or a running `make cluster`'s) worker takes its steps. DSAR_CELERY_BROKER/BACKEND."""
    for name, port in (("RabbitMQ", 5672), ("Redis", 6379)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError as exc:
            pytest.skip(f"{name} at 127.0.0.1:{port} unreachable ({type(exc).__name__})")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl not found: no vhost of its own for this module's Celery workers")
    vhost = f"dsar-test-{uuid.uuid4().hex[:12]}"
    made = _rabbitmqctl("add_vhost", vhost)
    if made.returncode != 0:
        pytest.skip(f"rabbitmqctl add_vhost failed: {made.stderr.strip()[:200]}")
    try:
        granted = _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        assert granted.returncode == 0, granted.stderr
        yield {"DSAR_CELERY_BROKER": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
               "DSAR_CELERY_BACKEND": "redis://127.0.0.1:6379/0"}
    finally:
        _rabbitmqctl("delete_vhost", vhost)
