"""Whole requests through the Dagster job (in process, on a real instance): delivered, incomplete
and not delivered when a system stays down, then delivered after re-running only that system;
the household case held for review with nothing of the other adult in the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import pyzipper

from assets.definitions import defs, request_job
from assets.environments import resource_now
from assets.status import request_status
from harness import runner
from sandbox.eseal import SandboxEseal
from sandbox.faults import parse_spec
from sandbox.gateways.outbox import read_outbox

from ..letter.test_letter_pdf import seal_status
from .conftest import audit_trail, decision, drop, person_ticket, run_ticket, stored_package


def launch(federation, instance: dg.DagsterInstance, person: str, suffix: str) -> str:
    return run_ticket(federation, instance, person_ticket(federation, person, suffix=suffix), suffix)


def outbox(federation, channel: str) -> list[dict]:
    return read_outbox(Path(federation.settings["SANDBOX_OUTBOX_DIR"]), channel)


def passphrase_for(federation, request_id: str) -> str | None:
    mails = [m for m in outbox(federation, "mail") if request_id in m["text"]]
    if not mails:
        return None
    texts = [s for s in outbox(federation, "sms") if s["seq"] >= 0]
    return texts[-1]["text"].split()[-1]


pytestmark = pytest.mark.usefixtures("no_faults")


def test_full_request_is_delivered_and_the_package_opens(federation, instance, tmp_path: Path) -> None:
    request_id = launch(federation, instance, "demo", "-full")
    status = request_status(instance, request_id)
    assert status["status"] == "delivered"
    assert all(s["status"] == "complete" and s["records"] > 0 for s in status["systems"].values())
    package, sealed_passphrase, _ = stored_package(instance, request_id, tmp_path)
    passphrase = passphrase_for(federation, request_id)
    assert passphrase and passphrase == sealed_passphrase and package.is_file()
    with pyzipper.AESZipFile(package) as archive:
        archive.setpassword(passphrase.encode())
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["request_id"] == request_id and manifest["complete"] is True
        names = set(archive.namelist())
        letter_pdf = archive.read("letter/letter.pdf")
    assert {"letter/letter.html", "letter/letter.pdf", "report/report.html", "export/csv/avp/consumption.csv"} <= names
    assert "letter/letter.pdf" in {entry["path"] for entry in manifest["files"]}  # hashed like every file
    # the letter as PDF/A, sealed with the e-seal the harness had the sandbox's e-seal CA issue to the controller
    # (into <home>/keys/letter-seal; the CA is kept under <home>/sandbox)
    home = Path(os.environ["DSAR_LETTER_SEAL_DIR"]).parents[1]
    seal = seal_status(letter_pdf, SandboxEseal(home / "sandbox").ca_cert_path)
    assert seal.bottom_line and seal.coverage.name == "ENTIRE_FILE", seal.pretty_print_details()
    assert seal.signing_cert.subject.native["organization_name"] == "Enefit AS"
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
    rerun = [dg.AssetKey(k) for k in ("portal_records", "review_findings", "portability_export",
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


def test_household_case_awaits_review_and_holds_nothing_of_the_other_adult(federation, instance,
                                                                           tmp_path: Path) -> None:
    request_id = launch(federation, instance, "household-a", "-household")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]]
    other = federation.population.case("household-b")
    their_calls = {c.id for c in federation.population.calls if c.person_key == other.key}
    package, passphrase, _ = stored_package(instance, request_id, tmp_path)
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

    from assets.request_records import expired_requests, purge_request
    from assets.resources import AuditResource, aws_client

    request_id = launch(federation, instance, "demo", "-purge")
    assert request_status(instance, request_id)["status"] == "delivered"
    assert request_id in expired_requests(instance, "dsar_requests", timedelta(seconds=-1))
    work = resource_now("work")
    trail = AuditResource(audit_database_url=os.environ["DSAR_AUDIT_DATABASE_URL"]).trail()
    client = aws_client("s3", federation.settings, "DSAR_S3_ENDPOINT_URL")
    report = purge_request(instance, request_id, store=work.store(), work_root=work.work_root(),
                           s3_client=client,
                           package_bucket=federation.settings["DSAR_PACKAGE_BUCKET"], trail=trail,
                           partitions_name="dsar_requests")
    assert report.sealed_objects > 5 and report.package_objects >= 1 and report.runs == 1
    assert report.partition_removed and not instance.has_dynamic_partition("dsar_requests", request_id)
    assert request_id not in expired_requests(instance, "dsar_requests", timedelta(seconds=-1))
    assert not (resource_now("work").work_root() / request_id).exists()
    assert not work.store().exists(f"{request_id}/ticket.sealed")
    listed = client.list_objects_v2(Bucket=federation.settings["DSAR_PACKAGE_BUCKET"], Prefix=f"packages/{request_id}/")
    assert listed.get("KeyCount", 0) == 0
    events = [e.event_type for e in trail.events(request_id)]
    assert events[0] == "received" and "delivered" in events and events[-1] == "purged"
    assert trail.verify_chain(request_id).ok


def approve(instance, request_id: str, job: str = "approve_release", extra: tuple[str, ...] = (),
            **choices: bool) -> None:
    """The DPO's decision job, with the run config the review desk sends (`extra`: assets rebuilt first,
    in the same run of the request job)."""
    config = decision(instance, request_id, job, **choices)
    if extra:
        selection = [dg.AssetKey(k) for k in (*extra, "release_approval", "delivery")]
        result = request_job().execute_in_process(partition_key=request_id, instance=instance, run_config=config,
                                                  asset_selection=selection, raise_on_error=False)
    else:
        result = defs.resolve_job_def(job).execute_in_process(partition_key=request_id, instance=instance,
                                                              run_config=config, raise_on_error=False)
    assert result.success



def test_dpo_approval_in_dagster_releases_a_held_request_and_is_recorded(federation, instance) -> None:
    from assets.status import latest_metadata

    request_id = launch(federation, instance, "household-a", "-approve")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    package = latest_metadata(instance, "response_package", request_id)
    approve(instance, request_id)
    assert request_status(instance, request_id)["status"] == "delivered"
    assert [m for m in outbox(federation, "mail") if request_id in m["text"]]
    events = audit_trail().events(request_id)
    kinds = [e.event_type for e in events]
    assert "approved" in kinds and kinds.index("approved") < kinds.index("delivered")
    approved = json.loads(events[kinds.index("approved")].payload)
    assert approved["package_sha256"] == package["package_sha256"]
    assert approved["manifest_sha256"] == package["manifest_sha256"]
    assert approved["authenticated"] is False and approved["decided_by"] == "dpo.mari"
    assert set(approved["inputs"]) >= {"review_findings", "response_package", "dsar_request"}
    assert audit_trail().verify_chain(request_id).ok


def test_rematerialising_upstream_voids_an_approval(federation, instance) -> None:
    """Approve, then rebuild the review: delivery now meets a package the DPO never saw and holds it."""
    request_id = launch(federation, instance, "household-a", "-void")
    approve_only = decision(instance, request_id)
    result = request_job().execute_in_process(partition_key=request_id, instance=instance, run_config=approve_only,
                                              asset_selection=[dg.AssetKey("release_approval")])
    assert result.success
    again = request_job().execute_in_process(partition_key=request_id, instance=instance,
                                             asset_selection=[dg.AssetKey(k) for k in ("review_findings", "delivery")])
    assert again.success
    from assets.status import latest_metadata

    delivered = latest_metadata(instance, "delivery", request_id)
    assert delivered["status"] == "awaiting_review" and delivered["gate_reason"] == "approval_void"
    assert "review_findings" in delivered["changed"]
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]], "never delivered on a void approval"
    approve(instance, request_id)  # approving what is there now delivers it
    assert request_status(instance, request_id)["status"] == "delivered"


def test_dpo_rejection_is_final_and_reported(federation, instance) -> None:
    request_id = launch(federation, instance, "household-a", "-reject")
    approve(instance, request_id, "reject_release")
    assert request_status(instance, request_id)["status"] == "rejected"
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]]
    assert "rejected" in [e.event_type for e in audit_trail().events(request_id)]


def test_review_records_go_out_only_in_a_rebuilt_package_the_dpo_approves(federation, instance) -> None:
    """household-a's weakly matched records wait; the DPO includes them, the package is rebuilt, and the
    approval is given for the rebuilt package."""
    from assets.status import latest_metadata

    request_id = launch(federation, instance, "household-a", "-scope")
    before = latest_metadata(instance, "portability_export", request_id)["records"]
    approve(instance, request_id, "release_with_reviewed_records")
    assert request_status(instance, request_id)["status"] == "delivered"
    assert latest_metadata(instance, "portability_export", request_id)["records"] > before


def test_a_rebuilt_package_is_sent_anew_and_its_passphrase_rests_only_sealed(federation, instance) -> None:
    """Idempotency keys name the package: a retried send reaches the customer once, a rebuilt package
    (new passphrase) is sent again. The passphrase rests nowhere but inside the sealed `response_package`
    output (checked against Dagster's record like every step output), in no loose object and in no plaintext."""

    request_id = launch(federation, instance, "demo", "-rebuilt")
    assert request_status(instance, request_id)["status"] == "delivered"
    store = resource_now("work").store()
    first = passphrase_for(federation, request_id)
    approve(instance, request_id, extra=("portability_export", "response_package"))
    mails = [m for m in outbox(federation, "mail") if request_id in m["text"]]
    assert len(mails) == 2 and mails[0]["text"] != mails[1]["text"]
    second = passphrase_for(federation, request_id)
    assert second != first
    objects = store.keys(request_id)
    assert not [key for key in objects if "passphrase" in key]
    assert not [key for key in objects if key.startswith(f"{request_id}/staging/")], "archived: staging emptied"
    for key in objects:
        data = store.get(key)
        assert first.encode() not in data and second.encode() not in data, key


def test_an_id_card_holder_gets_a_link_to_the_cdoc_copy_that_opens_with_the_card(federation, instance) -> None:
    """The ticket's ID-card certificate (issued by the eID CA, part of the signed request) gets a CDOC
    copy encrypted to the card, linked in the same e-mail; the card's key opens it."""
    import base64
    from datetime import UTC, datetime

    import httpx
    from cryptography.hazmat.primitives.serialization import Encoding

    from harness.demo import CONTROLLER_OF_COUNTRY, control_signer
    from harness.ticket_example import sign_ticket, ticket_for
    from sandbox.eid import SandboxEid
    from tests.cdoc_reader import decrypt_cdoc

    from .conftest import people

    person = people(federation)["demo"]
    card = SandboxEid(Path(federation.settings["DSAR_TRUST_ANCHORS_DIR"]).parent.parent) \
        .encryption_identity_for(federation.population.case("demo"))
    ticket = ticket_for(person, CONTROLLER_OF_COUNTRY["EE"], now=datetime.now(UTC))
    ticket["subject_request_id"] += "-cdoc"
    ticket["extensions"]["id_card_certificate"] = base64.b64encode(card.certificate.public_bytes(Encoding.DER)).decode()
    raw = json.dumps(sign_ticket(ticket, control_signer(federation.settings["SANDBOX_CONTROL_URL"], "demo"))).encode()
    drop(federation, raw, "web-cdoc")
    tick = runner.tick(instance)
    (request_id,) = tick.new_requests
    assert request_job().execute_in_process(partition_key=request_id, instance=instance, raise_on_error=False).success
    assert request_status(instance, request_id)["status"] == "delivered"
    (mail,) = [m for m in outbox(federation, "mail") if request_id in m["text"]]
    links = [w for w in mail["text"].split() if w.startswith("http")]
    assert len(links) == 2 and "response.cdoc" in links[1]
    cdoc = httpx.get(links[1], timeout=60).content
    files = dict(decrypt_cdoc(cdoc, card.key))
    assert "manifest.json" in files and "letter_letter.html" in files  # DigiDoc4 shows a flat file list
