"""The DPO's desk without a browser: a held request gets a sealed review bundle that the worklist and
`review_findings` link to; the desk opens it only through a valid, current link and logs who did; a
decision must name the bundle it was taken on, one request at a time, in the job of that decision;
the approved request is delivered and leaves the worklist; Dagster's storage holds no personal value.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import httpx
import pytest

from assets.definitions import defs, request_job
from assets.desk.server import Desk, handler_for
from assets.environments import resource_now
from assets.io_manager import load_stored
from assets.status import latest_metadata, request_status
from connectors.classification import Disposition
from dsar_pipeline.review.links import issue_link

from .conftest import audit_trail, decision, person_ticket, run_ticket

pytestmark = pytest.mark.usefixtures("no_faults")


@pytest.fixture
def desk(pipeline_env) -> Iterator[str]:
    """The review desk on a free local port, with Dagster where nothing answers (no launches here)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(Desk("embedded", "", "http://127.0.0.1:9")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()



def worklist(instance: dg.DagsterInstance) -> dict:
    result = defs.resolve_job_def("dpo_worklist_job").execute_in_process(instance=instance)
    assert result.success
    record = instance.fetch_materializations(dg.AssetKey("dpo_worklist"), limit=1).records[0]
    return dict(record.event_log_entry.asset_materialization.metadata)


def rows(metadata: dict) -> dict[str, dict]:
    return {r.data["request_id"]: r.data for r in metadata["worklist"].value.records}


def held_request(federation, instance, suffix: str) -> str:
    request_id = run_ticket(federation, instance, person_ticket(federation, "household-a", suffix=suffix), suffix)
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    return request_id


def test_the_desk_shows_the_bundle_the_decision_is_bound_to_and_the_worklist_follows(
        federation, instance, desk: str) -> None:
    request_id = held_request(federation, instance, "-desk")
    findings = latest_metadata(instance, "review_findings", request_id)
    sha = findings["review_bundle_sha256"]
    assert Path(findings["review_bundle_path"]).is_file()
    run = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": request_id}), limit=1)[0].dagster_run
    assert run.tags["dsar/state"] == "awaiting_review", "a held request's run does not read as plain success"

    # The worklist: the request, awaiting the DPO, days left counted now, a fresh review link.
    listed = worklist(instance)
    row = rows(listed)[request_id]
    assert row["state"] == "awaiting_decision" and row["waiting_on"] == "dpo" and "weak_matches" in row["reasons"]
    assert isinstance(row["days_left"], int) and row["days_left"] >= 28
    link = listed[f"review {request_id}"].value
    assert link.startswith(f"{resource_now('desk').review_desk_url}/review/{request_id}?sha={sha}")

    # The desk opens it through that link: every record under review is there, and the opening is logged.
    url = desk + link.split("3001", 1)[1] if ":3001" in link else link
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store" and "default-src 'none'" in page.headers[
        "content-security-policy"]
    outcome = load_stored(instance, resource_now("work"), request_id, "review_findings")
    waiting = [ref for ref, d in outcome.dispositions.items() if d is Disposition.REVIEW]
    assert waiting and all(ref[2] in page.text for ref in waiting)
    assert 'action="/decide/' in page.text and "Approve the package as built" in page.text
    opened = [json.loads(e.payload) for e in audit_trail().events(request_id) if e.event_type == "review_opened"]
    assert opened and opened[-1]["review_bundle_sha256"] == sha and opened[-1]["authenticated"] is False

    # Links that must not open: forged, expired, for another request, with a tampered hash.
    base = f"{desk}/review/{request_id}"
    good = issue_link(request_id, sha, 60)
    forged = good.query().replace(good.query().split("sig=")[1], "0" * 64)
    expired = issue_link(request_id, sha, 60, now=time.time() - 3600).query()
    other = issue_link("r-" + "0" * 26, sha, 60).query()
    for query in (forged, expired, good.query().replace(sha, "f" * 64)):
        assert httpx.get(f"{base}?{query}", timeout=10).status_code == 403
    assert httpx.get(f"{base}?{other}", timeout=10).status_code == 403
    assert httpx.get(f"{desk}/review/..%2Fetc?{good.query()}", timeout=10).status_code == 404
    # A decision posted to a desk without Dagster says so in one line; nothing is launched.
    signed = dict(p.split("=") for p in good.query("decide").split("&"))
    refused = httpx.post(f"{desk}/decide/{request_id}", data={"decision": "approve", "dpo_user": "dpo.mari", **signed})
    assert refused.status_code == 400 and "does not answer" in refused.text

    # Decisions that are refused: no bundle hash, a stale one, another decision than the job's, several requests.
    approve = defs.resolve_job_def("approve_release")
    for config in (decision(instance, request_id) | {"ops": {"release_approval": {"config": {
                       "decision": "APPROVE", "dpo_user": "dpo.mari", "review_bundle_sha256": ""}}}},
                   {"ops": {"release_approval": {"config": {"decision": "APPROVE", "dpo_user": "dpo.mari",
                                                            "review_bundle_sha256": "a" * 64}}}},
                   {"ops": {"release_approval": {"config": {"decision": "REJECT", "dpo_user": "dpo.mari",
                                                            "review_bundle_sha256": sha}}}}):
        result = approve.execute_in_process(partition_key=request_id, instance=instance, run_config=config,
                                            raise_on_error=False)
        assert not result.success
        assert request_status(instance, request_id)["status"] == "awaiting_review"

    # Approved on the bundle it showed: delivered, recorded, gone from the worklist, its checks pass.
    result = approve.execute_in_process(partition_key=request_id, instance=instance,
                                        run_config=decision(instance, request_id))
    assert result.success and request_status(instance, request_id)["status"] == "delivered"
    approved = [json.loads(e.payload) for e in audit_trail().events(request_id) if e.event_type == "approved"][-1]
    assert approved["review_bundle_sha256"] == sha and approved["decided_by"] == "dpo.mari"
    assert approved["inputs"]["review_bundle"] == sha
    assert instance.get_run_by_id(result.run_id).tags["dsar/state"] == "delivered"
    assert request_id not in rows(worklist(instance))
    assert check_history(instance, "delivery", "delivered", request_id)[:2] == [True, False], \
        "the request's own partition: failed (a warning) while held, passed once delivered"


def check_history(instance: dg.DagsterInstance, asset: str, check: str, partition: str) -> list[bool]:
    """Whether the check passed on one partition, newest evaluation first."""
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=10, partition_filter=PartitionKeyFilter(key=partition))
    return [r.status == Status.SUCCEEDED for r in records if r.status in (Status.SUCCEEDED, Status.FAILED)]


def test_a_decision_never_covers_several_requests(federation, instance) -> None:
    first, second = held_request(federation, instance, "-all-1"), held_request(federation, instance, "-all-2")
    low, high = sorted((first, second))
    for job in ("approve_release", "release_with_reviewed_records"):
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, run_config=decision(instance, first, job), raise_on_error=False,
            tags={"dagster/asset_partition_range_start": low, "dagster/asset_partition_range_end": high})
        assert not result.success
    assert {request_status(instance, r)["status"] for r in (first, second)} == {"awaiting_review"}


def test_rebuilding_the_review_makes_the_old_link_and_its_hash_worthless(federation, instance, desk: str) -> None:
    request_id = held_request(federation, instance, "-stale")
    old = latest_metadata(instance, "review_findings", request_id)["review_bundle_sha256"]
    again = request_job().execute_in_process(partition_key=request_id, instance=instance,
                                             asset_selection=[dg.AssetKey("review_findings")])
    assert again.success
    assert latest_metadata(instance, "review_findings", request_id)["review_bundle_sha256"] != old
    page = httpx.get(f"{desk}/review/{request_id}?{issue_link(request_id, old, 60).query()}", timeout=10)
    assert page.status_code == 409 and "rebuilt" in page.text
    stale = {"ops": {"release_approval": {"config": {"decision": "APPROVE", "dpo_user": "dpo.mari",
                                                     "review_bundle_sha256": old}}}}
    assert not defs.resolve_job_def("approve_release").execute_in_process(
        partition_key=request_id, instance=instance, run_config=stale, raise_on_error=False).success


def test_the_bundle_holds_the_personal_details_and_dagster_none(federation, instance, tmp_path: Path) -> None:
    from dsar_pipeline.review.bundle import open_review_bundle

    request_id = held_request(federation, instance, "-pii")
    worklist(instance)
    work = resource_now("work")
    bundle = open_review_bundle(work.store(), work.key_provider(), request_id).decode()
    person = federation.population.case("household-a")
    values = [v for v in (person.personal_code, person.email, person.phone, person.last_name) if v]
    assert person.personal_code in bundle and person.phone in bundle, \
        "the bundle shows the DPO the anchor and the shared phone that reached the records in review"
    sealed = (Path(work.work_dir) / request_id / "review_bundle.sealed").read_bytes()
    assert not [v for v in values if v.encode() in sealed]
    storage = Path(instance.root_directory)
    scanned = [p for p in storage.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in scanned)
    hits = [(str(p), v[:2]) for p in scanned for v in values if v.encode() in p.read_bytes()]
    assert hits == []
