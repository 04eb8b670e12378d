"""Nothing lingers: requests are purged in every state they can end in (delivered, rejected by the DPO
or at intake, incomplete, awaiting review, failed, never run), open ones never before the extended
statutory deadline has passed plus the window; rejected inbox tickets are deleted once old enough.

The rules are checked on the pure `purge_due`, then on a real Dagster instance and the sandbox
federation, with `now` moved forward instead of waiting.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assets.definitions import request_job
from assets.environments import resource_now
from assets.request_records import FIRST_SEEN_MARK, due_requests, purge_request, request_state
from assets.status import request_status
from dsar_pipeline.retention.erase import purge_rejected_tickets
from dsar_pipeline.retention.rules import CLOSED_STATES, open_until, purge_due
from harness import runner
from sandbox.faults import parse_spec

from .conftest import drop, inbox_keys, person_ticket

PARTITIONS = "dsar_requests"
WINDOW = timedelta(days=30)
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def months_later(moment: datetime, months: int) -> datetime:
    """The same wall time `months` calendar months later (the day clamped to the month's end)."""
    from dsar_pipeline.intake.deadlines import add_months

    return datetime.combine(add_months(moment.date(), months), moment.timetz())


# --- the rules, without Dagster ------------------------------------------------------------------

@pytest.mark.parametrize("state", sorted(CLOSED_STATES))
def test_closed_states_are_due_the_window_after_closing(state: str) -> None:
    closed = T0 + timedelta(days=5)
    assert not purge_due(state, closed, T0, closed + WINDOW - timedelta(seconds=1), WINDOW)
    assert purge_due(state, closed, T0, closed + WINDOW, WINDOW)


@pytest.mark.parametrize("state", ["incomplete", "awaiting_review", "failed", "unfinished", "unknown", "whatever"])
def test_open_states_are_never_due_before_the_extended_deadline_and_the_window(state: str) -> None:
    assert not purge_due(state, None, T0, T0 + timedelta(days=40), WINDOW)
    assert not purge_due(state, None, T0, months_later(T0, 3) + WINDOW, WINDOW)
    assert not purge_due(state, None, T0, open_until(T0) + WINDOW - timedelta(seconds=1), WINDOW)
    assert purge_due(state, None, T0, open_until(T0) + WINDOW, WINDOW)
    assert purge_due(state, None, T0, months_later(T0, 3) + timedelta(days=40), WINDOW)


def test_an_open_request_closed_early_is_not_purged_by_its_closing_time() -> None:
    """A closing time on an open state (say, the DPO's hold was recorded) does not start the window."""
    assert not purge_due("awaiting_review", T0, T0, T0 + timedelta(days=60), WINDOW)


def test_without_the_time_that_starts_the_window_nothing_is_due() -> None:
    far = T0 + timedelta(days=3650)
    assert not purge_due("unfinished", None, None, far, WINDOW)
    assert not purge_due("delivered", None, None, far, WINDOW)


@pytest.mark.parametrize(("received", "earliest_deadline_day"), [
    (datetime(2025, 1, 31, 12, 0, tzinfo=UTC), datetime(2025, 4, 30, tzinfo=UTC)),  # 30 April exists
    (datetime(2024, 11, 30, 12, 0, tzinfo=UTC), datetime(2025, 2, 28, tzinfo=UTC)),  # no 30 February
    (datetime(2025, 3, 1, 22, 30, tzinfo=UTC), datetime(2025, 6, 2, tzinfo=UTC)),  # 2 March in Riga; 2 June a Monday
    (datetime(2025, 3, 21, 12, 0, tzinfo=UTC), datetime(2025, 6, 25, tzinfo=UTC)),  # 21 June: Saturday; 23-24 holidays
])
def test_the_extended_deadline_is_taken_at_its_latest(received: datetime, earliest_deadline_day: datetime) -> None:
    """Counted by Regulation 1182/71 (calendar months, end-of-month clamp, next working day in the
    controller's country and local date), the deadline day ends no later than `open_until`."""
    assert open_until(received) >= earliest_deadline_day + timedelta(days=1)
    assert open_until(received) - months_later(received, 3) < timedelta(days=8), "a few days at most"


# --- on a real instance --------------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("no_faults")


@pytest.fixture
def trail(pipeline_env):
    from assets.resources import AuditResource

    return AuditResource(audit_database_url=os.environ["DSAR_AUDIT_DATABASE_URL"]).trail()


def new_request_id() -> str:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return "r-" + "".join(secrets.choice(alphabet) for _ in range(26))


def launch(federation, instance: dg.DagsterInstance, person: str, suffix: str) -> str:
    drop(federation, person_ticket(federation, person, suffix=suffix), f"web{suffix}")
    tick = runner.tick(instance)
    (request_id,) = tick.new_requests
    result = request_job().execute_in_process(partition_key=request_id, instance=instance, raise_on_error=False)
    assert result.success
    return request_id


def purge(federation, instance: dg.DagsterInstance, trail, request_id: str) -> dict:
    """Purge one request as the job does; the payload of its `purged` audit event."""
    from assets.resources import aws_client

    purge_request(instance, request_id, store=resource_now("work").store(), work_root=resource_now("work").work_root(),
                  s3_client=aws_client("s3", federation.settings, "DSAR_S3_ENDPOINT_URL"),
                  package_bucket=federation.settings["DSAR_PACKAGE_BUCKET"], trail=trail, partitions_name=PARTITIONS)
    (event,) = [e for e in trail.events(request_id) if e.event_type == "purged"]
    return json.loads(event.payload) if isinstance(event.payload, str) else dict(event.payload)


def due_ids(instance: dg.DagsterInstance, now: datetime) -> set[str]:
    return {s.request_id for s in due_requests(instance, PARTITIONS, WINDOW, now)}


def assert_open_clock(instance: dg.DagsterInstance, request_id: str) -> None:
    """Not due 40 days after receipt, nor a day before the deadline's latest end plus the window;
    due once that has passed."""
    received = request_state(instance, request_id).received_at
    assert received is not None
    assert request_id not in due_ids(instance, received + timedelta(days=40))
    assert request_id not in due_ids(instance, open_until(received) + WINDOW - timedelta(days=1))
    assert request_id in due_ids(instance, months_later(received, 3) + timedelta(days=40))


def test_awaiting_review_lingers_until_the_extended_deadline_then_is_purged(federation, instance, trail) -> None:
    request_id = launch(federation, instance, "household-a", "-purge-review")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    state = request_state(instance, request_id)
    assert (state.state, state.closed_at) == ("awaiting_review", None)
    assert_open_clock(instance, request_id)
    assert (resource_now("work").work_root() / request_id).exists()
    evidence = purge(federation, instance, trail, request_id)
    assert evidence["state"] == "awaiting_review" and evidence["closed"] == 0
    assert evidence["sealed_objects"] > 0 and evidence["runs"] == 1 and evidence["partition_removed"] == 1
    assert not instance.has_dynamic_partition(PARTITIONS, request_id)
    assert not (resource_now("work").work_root() / request_id).exists()
    assert request_id not in due_ids(instance, datetime.now(UTC) + timedelta(days=3650)), "purged once"
    assert trail.verify_chain(request_id).ok


def test_incomplete_lingers_until_the_extended_deadline_then_is_purged(federation, instance, trail) -> None:
    federation.board.replace(parse_spec("portal=down"))
    request_id = launch(federation, instance, "two-contracts", "-purge-incomplete")
    federation.board.replace([])
    assert request_state(instance, request_id).state == "incomplete"
    assert_open_clock(instance, request_id)
    evidence = purge(federation, instance, trail, request_id)
    assert evidence["state"] == "incomplete" and evidence["sealed_objects"] > 0
    assert not instance.has_dynamic_partition(PARTITIONS, request_id)


def test_a_failed_run_is_purged_as_failed_after_the_extended_deadline(federation, instance, trail) -> None:
    """A partition whose run failed at its first step (no sealed ticket to open) still gets a clock."""
    request_id = new_request_id()
    instance.add_dynamic_partitions(PARTITIONS, [request_id])
    result = request_job().execute_in_process(partition_key=request_id, instance=instance, raise_on_error=False)
    assert not result.success
    state = request_state(instance, request_id)
    assert state.state == "failed" and state.received_at is not None
    assert_open_clock(instance, request_id)
    evidence = purge(federation, instance, trail, request_id)
    assert evidence["state"] == "failed" and evidence["runs"] == 1
    assert instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": request_id})) == []


def test_a_delivered_request_is_purged_the_window_after_delivery(federation, instance, trail) -> None:
    request_id = launch(federation, instance, "demo", "-purge-delivered")
    state = request_state(instance, request_id)
    assert state.state == "delivered" and state.closed_at is not None
    assert request_id not in due_ids(instance, state.closed_at + WINDOW - timedelta(minutes=1))
    assert request_id in due_ids(instance, state.closed_at + WINDOW)
    assert purge(federation, instance, trail, request_id)["state"] == "delivered"


def report_rejected_at_intake(instance: dg.DagsterInstance) -> str:
    request_id = new_request_id()
    instance.add_dynamic_partitions(PARTITIONS, [request_id])
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="dsar_request", partition=request_id,
        metadata={"verification": "rejected", "reason_code": "content_mismatch"}))
    return request_id


def test_rejected_at_intake_is_purged_the_window_after_rejection(federation, instance, trail) -> None:
    request_id = report_rejected_at_intake(instance)
    state = request_state(instance, request_id)
    assert state.state == "rejected_at_intake" and state.closed_at is not None
    assert request_id not in due_ids(instance, state.closed_at + timedelta(days=29))
    assert request_id in due_ids(instance, state.closed_at + timedelta(days=31))
    evidence = purge(federation, instance, trail, request_id)
    assert evidence["state"] == "rejected_at_intake" and evidence["closed"] == 1
    assert evidence["closed_date"] == state.closed_at.date().isoformat()
    assert not instance.has_dynamic_partition(PARTITIONS, request_id)


def test_a_dpo_rejection_closes_the_request(federation, instance) -> None:
    request_id = new_request_id()
    instance.add_dynamic_partitions(PARTITIONS, [request_id])
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="delivery", partition=request_id, metadata={"status": "rejected"}))
    state = request_state(instance, request_id)
    assert state.state == "rejected" and state.closed_at is not None
    assert request_id in due_ids(instance, state.closed_at + WINDOW)


def test_a_partition_with_no_event_starts_its_clock_when_first_seen(instance) -> None:
    request_id = new_request_id()
    instance.add_dynamic_partitions(PARTITIONS, [request_id])
    assert request_state(instance, request_id).received_at is None
    far = datetime.now(UTC) + timedelta(days=3650)
    assert request_id not in due_ids(instance, far), "no clock yet: not purged on a guess"
    marks = instance.fetch_observations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("dsar_request"), asset_partitions=[request_id]), limit=5).records
    assert len(marks) == 1 and marks[0].event_log_entry.asset_observation.metadata["purge_clock"].value == \
        FIRST_SEEN_MARK["purge_clock"]
    state = request_state(instance, request_id)
    assert state.state == "unfinished" and state.received_at is not None
    assert request_id not in due_ids(instance, state.received_at + timedelta(days=40))
    assert request_id in due_ids(instance, far)
    assert len(instance.fetch_observations(dg.AssetKey("dsar_request"), limit=5).records) == 1, "marked once"


# --- rejected inbox tickets ----------------------------------------------------------------------

@pytest.fixture
def s3(federation, pipeline_env):
    from assets.resources import aws_client

    client = aws_client("s3", federation.settings, "DSAR_S3_ENDPOINT_URL")
    for key in inbox_keys(federation, ""):
        client.delete_object(Bucket=federation.settings["DSAR_INBOX_BUCKET"], Key=key)
    return client


def test_a_rejected_inbox_ticket_is_deleted_once_old_enough(federation, instance, s3) -> None:
    bucket = federation.settings["DSAR_INBOX_BUCKET"]
    drop(federation, b"{this is not a ticket", "web-garbage")
    tick = runner.tick(instance)
    assert tick.new_requests == []
    (rejected,) = inbox_keys(federation, "rejected/")
    s3.put_object(Bucket=bucket, Key="tickets/waiting.json", Body=b"{}")  # not rejected: never touched here
    now = datetime.now(UTC)
    assert purge_rejected_tickets(s3, bucket, WINDOW, now + WINDOW - timedelta(minutes=5)) == 0
    assert inbox_keys(federation, "rejected/") == [rejected]
    assert purge_rejected_tickets(s3, bucket, WINDOW, now + WINDOW + timedelta(minutes=5)) == 1
    assert inbox_keys(federation, "rejected/") == []
    assert inbox_keys(federation, "tickets/") == ["tickets/waiting.json"]


def test_rejected_tickets_are_deleted_page_by_page(federation, s3) -> None:
    bucket = federation.settings["DSAR_INBOX_BUCKET"]
    for index in range(7):
        s3.put_object(Bucket=bucket, Key=f"rejected/bad-{index}.json", Body=b"x")
    pages: list[int] = []
    paginator = s3.get_paginator

    class Counting:
        """The client, counting how many keys each listing page brought."""

        def __getattr__(self, name: str):
            return getattr(s3, name)

        def get_paginator(self, operation: str):
            inner = paginator(operation)

            class Pages:
                def paginate(self, **kwargs):
                    for page in inner.paginate(**kwargs):
                        pages.append(len(page.get("Contents", [])))
                        yield page

            return Pages()

    later = datetime.now(UTC) + WINDOW + timedelta(minutes=5)
    assert purge_rejected_tickets(Counting(), bucket, WINDOW, later, page_size=3) == 7
    assert max(pages) <= 3 and sum(pages) == 7
    assert inbox_keys(federation, "rejected/") == []


# --- the daily job -------------------------------------------------------------------------------

def test_the_daily_job_purges_what_is_due_keeps_what_is_open_and_is_idempotent(
        federation, instance, s3, trail, monkeypatch) -> None:
    from assets.definitions import defs

    monkeypatch.setenv("DSAR_PURGE_AFTER_DAYS", "0")  # closed requests are due at once; open ones are not
    closed = report_rejected_at_intake(instance)
    open_request = new_request_id()
    instance.add_dynamic_partitions(PARTITIONS, [open_request])
    drop(federation, b"not json either", "web-garbage-job")
    runner.tick(instance)
    assert inbox_keys(federation, "rejected/")
    job = defs.resolve_job_def("purge_job")
    first = job.execute_in_process(instance=instance)
    assert first.success
    assert not instance.has_dynamic_partition(PARTITIONS, closed)
    assert instance.has_dynamic_partition(PARTITIONS, open_request)
    assert inbox_keys(federation, "rejected/") == []
    assert [e.event_type for e in trail.events(closed)] == ["purged"]
    second = job.execute_in_process(instance=instance)
    assert second.success
    assert [e.event_type for e in trail.events(closed)] == ["purged"], "a purged request is not purged again"
    assert instance.has_dynamic_partition(PARTITIONS, open_request)
    assert trail.events(open_request) == []


def test_a_negative_window_is_refused(instance, monkeypatch) -> None:
    from assets.definitions import defs

    monkeypatch.setenv("DSAR_PURGE_AFTER_DAYS", "-1")
    result = defs.resolve_job_def("purge_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
