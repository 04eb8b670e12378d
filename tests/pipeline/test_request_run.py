"""Whole requests through the Dagster job (in process, on a real instance): delivered, incomplete
and not delivered when a system stays down, then delivered after re-running only that system;
the household case held for review with nothing of the other adult in the package."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import pyzipper

from assets.package import work_root
from dsar_pipeline import runner
from dsar_pipeline.definitions import request_job
from dsar_pipeline.status import request_status
from sandbox.faults import parse_spec
from sandbox.gateways.outbox import read_outbox

from .conftest import drop, person_ticket


def launch(federation, instance: dg.DagsterInstance, person: str, suffix: str) -> str:
    drop(federation, person_ticket(federation, person, suffix=suffix), f"web{suffix}")
    tick = runner.tick(instance)
    assert len(tick.runs) == 1, tick.skip_reason
    (request_id,) = tick.new_requests
    result = request_job().execute_in_process(partition_key=request_id, instance=instance, raise_on_error=False)
    assert result.success
    return request_id


def outbox(federation, channel: str) -> list[dict]:
    return read_outbox(Path(federation.settings["SANDBOX_OUTBOX_DIR"]), channel)


def passphrase_for(federation, request_id: str) -> str | None:
    mails = [m for m in outbox(federation, "mail") if request_id in m["text"]]
    if not mails:
        return None
    texts = [s for s in outbox(federation, "sms") if s["seq"] >= 0]
    return texts[-1]["text"].split()[-1]


@pytest.fixture(autouse=True)
def no_faults(federation):
    federation.board.replace([])
    yield
    federation.board.replace([])


def test_full_request_is_delivered_and_the_package_opens(federation, instance) -> None:
    request_id = launch(federation, instance, "demo", "-full")
    status = request_status(instance, request_id)
    assert status["status"] == "delivered"
    assert all(s["status"] == "complete" and s["records"] > 0 for s in status["systems"].values())
    package = work_root() / request_id / "package" / "response.zip"
    passphrase = passphrase_for(federation, request_id)
    assert passphrase and package.is_file()
    with pyzipper.AESZipFile(package) as archive:
        archive.setpassword(passphrase.encode())
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["request_id"] == request_id and manifest["complete"] is True
        names = set(archive.namelist())
    assert {"letter/letter.html", "report/report.html", "export/csv/avp/consumption.csv"} <= names
    if shutil.which("7zz"):
        good = subprocess.run(["7zz", "t", f"-p{passphrase}", str(package)], capture_output=True, text=True)
        bad = subprocess.run(["7zz", "t", "-pnot-the-passphrase", str(package)], capture_output=True, text=True)
        assert good.returncode == 0 and bad.returncode != 0
    sms = [s for s in outbox(federation, "sms") if s["text"].endswith(passphrase)]
    mail = [m for m in outbox(federation, "mail") if request_id in m["text"]]
    assert len(sms) == 1 and len(mail) == 1 and passphrase not in mail[0]["text"]


def test_system_down_gives_incomplete_then_rerunning_only_it_delivers(federation, instance) -> None:
    federation.board.replace(parse_spec("portal=down"))
    request_id = launch(federation, instance, "two-contracts", "-down")
    status = request_status(instance, request_id)
    assert status["status"] == "incomplete"
    assert status["systems"]["portal"]["status"] == "failed"
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]], "never delivered when incomplete"
    federation.board.replace([])
    calls_before = {name: status["systems"][name]["seconds"] for name in ("billing", "avp")}
    rerun = [dg.AssetKey(k) for k in ("portal_records", "review_findings", "release_approval", "portability_export",
                                      "response_package", "delivery")]
    result = request_job().execute_in_process(partition_key=request_id, instance=instance,
                                              asset_selection=rerun, raise_on_error=False)
    assert result.success
    after = request_status(instance, request_id)
    assert after["systems"]["portal"]["status"] == "complete"
    assert {name: after["systems"][name]["seconds"] for name in ("billing", "avp")} == calls_before, \
        "the other systems were not collected again"
    assert after["status"] in ("delivered", "awaiting_review")
    if after["status"] == "delivered":
        assert [m for m in outbox(federation, "mail") if request_id in m["text"]]


def test_household_case_awaits_review_and_holds_nothing_of_the_other_adult(federation, instance) -> None:
    request_id = launch(federation, instance, "household-a", "-household")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]]
    other = federation.population.case("household-b")
    their_calls = {c.id for c in federation.population.calls if c.person_key == other.key}
    package = work_root() / request_id / "package" / "response.zip"
    from dsar_pipeline.package.envelope import decrypt_bytes
    from dsar_pipeline.resources import WorkStoreResource

    work = WorkStoreResource()
    passphrase = decrypt_bytes(work.store().get(f"{request_id}/passphrase.sealed"), work.key_provider(),
                               {"request": request_id, "asset": "passphrase"}).decode()
    needles = [other.personal_code, other.email, other.first_name + " " + other.last_name, *their_calls]
    with pyzipper.AESZipFile(package) as archive:
        archive.setpassword(passphrase.encode())
        for name in archive.namelist():
            data = archive.read(name)
            for needle in needles:
                assert needle.encode() not in data, f"{name} holds the other adult's data"


def test_purge_keeps_only_non_personal_evidence(federation, instance) -> None:
    import os
    from datetime import timedelta

    from dsar_pipeline.purge import expired_requests, purge_request
    from dsar_pipeline.resources import AuditResource, WorkStoreResource, aws_client

    request_id = launch(federation, instance, "demo", "-purge")
    assert request_status(instance, request_id)["status"] == "delivered"
    assert request_id in expired_requests(instance, "dsar_requests", timedelta(seconds=-1))
    work = WorkStoreResource()
    trail = AuditResource(database_url=os.environ["DSAR_AUDIT_DATABASE_URL"], key=os.environ["DSAR_AUDIT_KEY"]).trail()
    client = aws_client("s3", federation.settings, "DSAR_S3_ENDPOINT_URL")
    report = purge_request(instance, request_id, store=work.store(), work_root=work_root(), s3_client=client,
                           package_bucket=federation.settings["DSAR_PACKAGE_BUCKET"], trail=trail,
                           partitions_name="dsar_requests")
    assert report.sealed_objects > 5 and report.package_objects >= 1 and report.runs == 1
    assert report.partition_removed and not instance.has_dynamic_partition("dsar_requests", request_id)
    assert request_id not in expired_requests(instance, "dsar_requests", timedelta(seconds=-1))
    assert not (work_root() / request_id).exists()
    assert not work.store().exists(f"{request_id}/ticket.sealed")
    listed = client.list_objects_v2(Bucket=federation.settings["DSAR_PACKAGE_BUCKET"], Prefix=f"packages/{request_id}/")
    assert listed.get("KeyCount", 0) == 0
    events = [e.event_type for e in trail.events(request_id)]
    assert events[0] == "received" and "delivered" in events and events[-1] == "purged"
    assert trail.verify_chain(request_id).ok


def test_dpo_approval_in_dagster_releases_a_held_request_and_is_recorded(federation, instance) -> None:
    import os

    from dsar_pipeline.resources import AuditResource

    request_id = launch(federation, instance, "household-a", "-approve")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    after_approval = [dg.AssetKey(k) for k in ("release_approval", "portability_export", "response_package",
                                               "delivery")]
    config = {"ops": {"release_approval": {"config": {"decision": "approve", "dpo_user": "dpo.mari"}}}}
    result = request_job().execute_in_process(partition_key=request_id, instance=instance, run_config=config,
                                              asset_selection=after_approval, raise_on_error=False)
    assert result.success
    assert request_status(instance, request_id)["status"] == "delivered"
    assert [m for m in outbox(federation, "mail") if request_id in m["text"]]
    trail = AuditResource(database_url=os.environ["DSAR_AUDIT_DATABASE_URL"], key=os.environ["DSAR_AUDIT_KEY"]).trail()
    events = [e.event_type for e in trail.events(request_id)]
    assert "approved" in events and events.index("approved") < events.index("delivered")
    assert trail.verify_chain(request_id).ok
