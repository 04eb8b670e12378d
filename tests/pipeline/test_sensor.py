"""The inbox sensor: new, duplicate, re-delivered and invalid tickets, evaluated with
`build_sensor_context` against a real instance and the sandbox inbox (S3) and helpdesk."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from assets.resources import RunSettingsResource
from assets.ticket_inbox import RANGE_END, RANGE_START, run_requests_for
from dsar_pipeline.intake import TicketError, parse_ticket
from dsar_pipeline.intake.batches import batches
from dsar_pipeline.intake.sealed_tickets import TICKET_OBJECT
from dsar_pipeline.sealing.workstore import LocalWorkStore
from harness import runner

from .conftest import drop, inbox_keys, person_ticket


@pytest.fixture(autouse=True)
def empty_inbox(federation, pipeline_env):
    from assets.resources import aws_client

    client = aws_client("s3", federation.settings, "DSAR_S3_ENDPOINT_URL")
    for key in inbox_keys(federation, ""):
        client.delete_object(Bucket=federation.settings["DSAR_INBOX_BUCKET"], Key=key)
    federation.board.replace([])


def callbacks(federation, status: str = "accepted") -> list[dict]:
    url = federation.settings["DSAR_HELPDESK_CALLBACK_URL"]
    return httpx.get(url, params={"status": status}, timeout=5).json()["callbacks"]


def test_new_ticket_adds_one_partition_and_one_run(federation, instance) -> None:
    raw = person_ticket(federation, "demo", suffix="-new")
    drop(federation, raw, "web-new")
    tick = runner.tick(instance)
    assert len(tick.new_requests) == 1 and len(tick.runs) == 1
    request_id = tick.new_requests[0]
    assert tick.runs[0].run_key == request_id and tick.runs[0].partition_key == request_id
    assert instance.has_dynamic_partition("dsar_requests", request_id)
    assert LocalWorkStore(Path(os.environ["DSAR_WORK_DIR"])).exists(f"{request_id}/{TICKET_OBJECT}")
    assert inbox_keys(federation) == []
    assert any(c["subject_request_id"].endswith("-new") and c["request_status"] == "in_progress"
               for c in callbacks(federation))


def test_duplicate_and_redelivered_tickets_start_no_second_run(federation, instance) -> None:
    raw = person_ticket(federation, "debtor", suffix="-dup")
    drop(federation, raw, "web-dup-1")
    drop(federation, raw, "web-dup-2")
    first = runner.tick(instance)
    assert len(first.new_requests) == 1 and len(first.runs) == 1
    drop(federation, raw, "web-dup-3")  # the helpdesk delivers the same ticket again later
    second = runner.tick(instance)
    assert second.new_requests == [] and second.runs == []
    assert "duplicate" in (second.skip_reason or "")
    assert inbox_keys(federation) == []


def test_invalid_tickets_are_rejected_with_a_reason_and_the_sensor_goes_on(federation, instance) -> None:
    from tests.intake.test_hostile_tickets import CASES

    hostile = []
    for case in CASES:
        try:
            parse_ticket(case.raw)
        except TicketError:
            hostile.append(case)
    assert len(hostile) >= 40
    for index, case in enumerate(hostile):
        drop(federation, case.raw, f"hostile-{index:03d}")
    good = person_ticket(federation, "latvian", suffix="-amid-hostile")
    drop(federation, good, "web-good")
    before = len(callbacks(federation))
    sealed_before = set(Path(os.environ["DSAR_WORK_DIR"]).rglob(TICKET_OBJECT))
    tick = runner.tick(instance)
    assert len(tick.new_requests) == 1, "the valid ticket among hostile ones still starts its run"
    rejected = [c for c in callbacks(federation)[before:] if c["request_status"] == "cancelled"]
    assert len(rejected) == len(hostile)
    for callback in rejected:
        reason = callback["payload"]["extensions"]["reason"]
        assert reason.startswith("rejected: ") and "\n" not in reason
    remaining = inbox_keys(federation, "rejected/")
    assert len(remaining) == len(hostile)
    assert inbox_keys(federation) == []
    written = set(Path(os.environ["DSAR_WORK_DIR"]).rglob(TICKET_OBJECT)) - sealed_before
    assert [p.parent.name for p in written] == tick.new_requests, "nothing is written for rejected tickets"


def test_unreachable_inbox_skips_instead_of_failing(federation, instance, monkeypatch) -> None:
    """The inbox is the controller's own S3: a fault of the recordings source no longer reaches it, and an
    inbox that does not answer makes the tick skip, not fail."""
    from sandbox.faults import parse_spec

    federation.board.replace(parse_spec("recordings=down"))
    try:
        tick = runner.tick(instance)
    finally:
        federation.board.replace([])
    assert "unreachable" not in (tick.skip_reason or "")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("DSAR_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    tick = runner.tick(instance)
    assert tick.runs == [] and "unreachable" in (tick.skip_reason or "")


def test_a_burst_of_tickets_is_batched_into_runs_over_partition_ranges(monkeypatch) -> None:
    run_settings = RunSettingsResource(batch_size=4, batch_runs=2)
    ids = [f"r-{i:026d}" for i in range(10)]
    runs = run_requests_for(ids, run_settings)
    assert [r.tags.get("dsar/batch_size") for r in runs] == ["3", "2", "3", "2"]  # two whole waves of two runs
    assert runs[0].tags[RANGE_START] == ids[0] and runs[0].tags[RANGE_END] == ids[2]
    assert runs[1].tags[RANGE_START] == ids[3] and runs[-1].tags[RANGE_END] == ids[-1]
    assert len({r.run_key for r in runs}) == 4
    single = run_requests_for(["r-" + "1" * 26], run_settings)
    assert single[0].partition_key == "r-" + "1" * 26 and single[0].run_key == "r-" + "1" * 26


@pytest.mark.parametrize(("count", "size", "slots", "expected"), [
    (100, 50, 2, [50, 50]), (101, 50, 2, [26, 25, 25, 25]), (10, 50, 2, [5, 5]), (3, 50, 2, [2, 1]),
    (2, 50, 2, [1, 1]), (1, 50, 2, [1]), (0, 50, 2, []), (7, 50, 1, [7]), (120, 50, 3, [40, 40, 40]),
])
def test_batches_fill_every_run_slot_in_whole_waves_none_over_the_size(count: int, size: int, slots: int,
                                                                      expected: list[int]) -> None:
    ids = [f"r-{i:026d}" for i in range(count)]
    cut = batches(ids, size=size, runs=slots)
    assert [len(chunk) for chunk in cut] == expected
    assert [rid for chunk in cut for rid in chunk] == ids  # every request once, in order


def test_a_ticket_edited_after_signing_stops_at_intake(federation, instance) -> None:
    """Evidence rejected: the request gets its partition and its verdict (for the DPO), the helpdesk
    the reason code, the audit trail the container's digest; no run starts, so nothing is collected."""
    import json

    from assets.resources import AuditResource
    from assets.status import latest_metadata, request_status

    ticket = json.loads(person_ticket(federation, "impostor", suffix="-edited"))
    ticket["subject_identities"].append({"identity_type": "customer_number", "identity_value": "100008",
                                         "identity_format": "raw"})
    drop(federation, json.dumps(ticket).encode(), "web-edited")
    tick = runner.tick(instance)
    assert len(tick.new_requests) == 1 and tick.runs == []
    (request_id,) = tick.new_requests
    assert instance.has_dynamic_partition("dsar_requests", request_id)
    facts = latest_metadata(instance, "dsar_request", request_id)
    assert (facts["verification"], facts["reason_code"]) == ("rejected", "content_mismatch")
    assert request_status(instance, request_id)["status"] == "rejected"
    assert instance.get_run_records() == [], "no run, no collection"
    assert any(c["subject_request_id"].endswith("-edited") and c["request_status"] == "cancelled"
               and c["payload"].get("extensions", {}).get("reason") == "rejected: content_mismatch"
               for c in callbacks(federation))
    trail = AuditResource(audit_database_url=os.environ["DSAR_AUDIT_DATABASE_URL"]).trail()
    verified = [json.loads(e.payload) for e in trail.events(request_id) if e.event_type == "verified"]
    assert verified[0]["status"] == "rejected" and len(verified[0]["container_sha256"]) == 64


def test_the_same_container_on_a_second_ticket_is_replayed(federation, instance) -> None:
    import json

    from assets.status import latest_metadata

    raw = person_ticket(federation, "impostor", suffix="-first")
    drop(federation, raw, "web-first")
    first = runner.tick(instance)
    assert len(first.runs) == 1
    again = json.loads(raw)
    again["subject_request_id"] += "-again"  # outside the signed document: a new request around the same container
    drop(federation, json.dumps(again).encode(), "web-again")
    second = runner.tick(instance)
    assert second.runs == [] and len(second.new_requests) == 1
    assert latest_metadata(instance, "dsar_request", second.new_requests[0])["reason_code"] == "replayed"


def test_a_run_of_one_system_requests_runs_in_process_and_a_fan_out_does_not() -> None:
    """Steps of a run without parallel branches share its process (no fork and hand-over per step);
    a batch with one request that fans out keeps the multiprocess executor for all of them."""
    from assets.environments import IN_PROCESS_RUN_CONFIG

    run_settings = RunSettingsResource(batch_size=4, batch_runs=2)
    ids = [f"r-{i:026d}" for i in range(6)]
    runs = run_requests_for(ids, run_settings, one_system={*ids[:3], ids[4]})
    assert [r.tags["dsar/batch_size"] for r in runs] == ["3", "3"]
    assert runs[0].run_config == IN_PROCESS_RUN_CONFIG
    assert not runs[1].run_config  # ids[3] and ids[5] search several systems
    assert run_requests_for(ids[:1], run_settings, one_system=ids[:1])[0].run_config == IN_PROCESS_RUN_CONFIG
    assert not run_requests_for(ids[:1], run_settings)[0].run_config


def test_a_five_system_ticket_runs_multiprocess(federation, instance) -> None:
    drop(federation, person_ticket(federation, "demo"), "five-systems")
    tick = runner.tick(instance)
    assert len(tick.runs) == 1 and not tick.runs[0].run_config


def test_one_container_on_many_tickets_in_one_tick_serves_exactly_one_request(federation, instance) -> None:
    """Tickets are taken side by side: a stranger's signed container replayed on five more tickets dropped
    with the original, in the same tick, still serves one request; the others stop as replays."""
    import json

    from assets.status import latest_metadata

    raw = json.loads(person_ticket(federation, "impostor", suffix="-burst"))
    for copy in range(6):
        ticket = dict(raw, subject_request_id=f"{raw['subject_request_id']}-{copy}")
        drop(federation, json.dumps(ticket).encode(), f"web-burst-{copy}")
    tick = runner.tick(instance)
    assert len(tick.new_requests) == 6 and len(tick.runs) == 1
    codes = sorted(latest_metadata(instance, "dsar_request", rid).get("reason_code", "")
                   for rid in tick.new_requests)
    assert codes.count("replayed") == 5, codes
    assert inbox_keys(federation) == []


def test_a_burst_of_tickets_is_taken_once_each_in_one_tick(federation, instance) -> None:
    names = ["demo", "debtor", "latvian", "impostor"]
    for index in range(8):
        drop(federation, person_ticket(federation, names[index % 4], suffix=f"-many-{index}"), f"web-many-{index}")
    tick = runner.tick(instance)
    assert len(tick.new_requests) == len(set(tick.new_requests)) == 8
    sealed = list(Path(os.environ["DSAR_WORK_DIR"]).rglob(TICKET_OBJECT))
    assert {p.parent.name for p in sealed} >= set(tick.new_requests)
    assert inbox_keys(federation) == []
    again = runner.tick(instance)
    assert again.new_requests == [] and again.runs == []


def test_a_ticket_that_cannot_be_taken_now_stays_for_the_next_tick(federation, instance, monkeypatch) -> None:
    """One ticket's failure (here its verification raising, as an unreachable OCSP responder might) leaves
    that ticket in the inbox, takes the others, and the next tick takes it."""
    from dsar_pipeline.intake import inbox

    raws = {label: person_ticket(federation, "demo", suffix=f"-{label}") for label in ("ok-1", "stuck", "ok-2")}
    stuck_id = parse_ticket(raws["stuck"]).request_id
    for label, raw in raws.items():
        drop(federation, raw, f"web-{label}")
    real_verify = inbox.verify_ticket

    def flaky(ticket, **kwargs):
        if ticket.request_id == stuck_id:
            raise ConnectionError("Mari Maasikas 38001085718")  # its message never reaches the log
        return real_verify(ticket, **kwargs)

    monkeypatch.setattr(inbox, "verify_ticket", flaky)
    first = runner.tick(instance)
    assert len(first.new_requests) == 2 and stuck_id not in first.new_requests
    assert [key.rsplit("/", 1)[-1].removesuffix(".json") for key in inbox_keys(federation)] == ["web-stuck"]
    assert not LocalWorkStore(Path(os.environ["DSAR_WORK_DIR"])).exists(f"{stuck_id}/{TICKET_OBJECT}")
    monkeypatch.setattr(inbox, "verify_ticket", real_verify)
    second = runner.tick(instance)
    assert second.new_requests == [stuck_id] and inbox_keys(federation) == []


def test_a_ticket_the_parser_fails_on_is_rejected_and_the_others_are_taken(federation, instance,
                                                                           monkeypatch) -> None:
    """A fault of the parser itself on some ticket's bytes (not a `TicketError`) would fail every tick on the
    same bytes: that ticket is rejected with the error's type, and the tick goes on."""
    from dsar_pipeline.intake import inbox

    good = person_ticket(federation, "latvian", suffix="-beside-a-fault")
    drop(federation, good, "web-good-2")
    drop(federation, b'{"PARSER-FAULT": "38001085718"}', "web-crash")
    real_parse = inbox.parse_ticket

    def fragile(raw: bytes):
        if b"PARSER-FAULT" in raw:
            raise RecursionError("38001085718")
        return real_parse(raw)

    monkeypatch.setattr(inbox, "parse_ticket", fragile)
    before = len(callbacks(federation))
    tick = runner.tick(instance)
    assert len(tick.new_requests) == 1
    [rejection] = [c for c in callbacks(federation)[before:] if c["request_status"] == "cancelled"]
    assert rejection["payload"]["extensions"]["reason"] == "rejected: ticket could not be parsed (RecursionError)"
    assert inbox_keys(federation) == [] and len(inbox_keys(federation, "rejected/")) == 1
