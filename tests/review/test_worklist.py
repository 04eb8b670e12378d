"""The DPO's worklist rules: state, days left computed when shown, urgency order, what is listed."""

from __future__ import annotations

from datetime import date, timedelta

from dsar_pipeline.review.worklist import RequestSnapshot, WorkState, build_worklist, work_item

TODAY = date(2026, 12, 4)


def snap(request_id: str, due_in: int | None, **facts: object) -> RequestSnapshot:
    due = TODAY + timedelta(days=due_in) if due_in is not None else None
    return RequestSnapshot(request_id=request_id, controller="enefit-ee", received=TODAY - timedelta(days=10),
                           due=due, **facts)  # type: ignore[arg-type]


def test_days_left_come_from_the_day_it_is_shown_not_from_intake() -> None:
    waiting = snap("r-a", 3, delivery_status="awaiting_review", review_reasons=("weak_matches",))
    assert work_item(waiting, TODAY).days_left == 3
    later = work_item(waiting, TODAY + timedelta(days=17))
    assert later.days_left == -14 and later.state is WorkState.OVERDUE
    assert later.action.startswith("late by 14 days: open the review") and later.waiting_on == "dpo"


def test_states_from_what_dagster_recorded() -> None:
    assert work_item(snap("r-1", 5, delivery_status="delivered"), TODAY).state is WorkState.DELIVERED
    assert work_item(snap("r-2", 5, delivery_status="rejected"), TODAY).state is WorkState.REJECTED
    refused = work_item(snap("r-3", 5, verification="rejected", reason_code="replayed"), TODAY)
    assert refused.state is WorkState.REJECTED and "replayed" in refused.action and refused.reasons == ("replayed",)
    broken = work_item(snap("r-4", 5, failed_systems=("volt", "avp")), TODAY)
    assert broken.state is WorkState.INCOMPLETE and broken.waiting_on == "volt, avp" and "volt, avp" in broken.action
    assert work_item(snap("r-5", 5), TODAY).state is WorkState.IN_PROGRESS
    assert work_item(snap("r-6", -1, delivery_status="delivered"), TODAY).state is WorkState.DELIVERED, \
        "a delivered request is never overdue"


def test_most_urgent_first_and_closed_requests_leave_the_list() -> None:
    worklist = build_worklist([
        snap("r-wait-far", 20, delivery_status="awaiting_review"),
        snap("r-late-1", -1, delivery_status="awaiting_review"),
        snap("r-late-9", -9, failed_systems=("portal",)),
        snap("r-wait-near", 2, delivery_status="awaiting_review"),
        snap("r-done", 5, delivery_status="delivered"),
        snap("r-refused-old", 5, verification="rejected", last_event=TODAY - timedelta(days=30)),
        snap("r-refused-new", 5, delivery_status="rejected", last_event=TODAY - timedelta(days=1)),
        snap("r-running", 25),
    ], today=TODAY)
    assert [i.request_id for i in worklist.items] == [
        "r-late-9", "r-late-1", "r-wait-near", "r-wait-far", "r-running", "r-refused-new"]
    assert worklist.counts["delivered"] == 1 and worklist.counts["overdue"] == 2 and worklist.counts["rejected"] == 2
    assert [i.request_id for i in worklist.overdue()] == ["r-late-9", "r-late-1"]
    assert [i.request_id for i in worklist.due_within(7)] == ["r-wait-near"]
    assert worklist.items[0].row()["days_left"] == -9


def test_each_controller_counts_on_its_own_calendar() -> None:
    late_evening = snap("r-x", 0, delivery_status="awaiting_review")
    worklist = build_worklist([late_evening], today_of={"enefit-ee": TODAY + timedelta(days=1)}, today=TODAY)
    assert worklist.items[0].state is WorkState.OVERDUE and worklist.items[0].days_left == -1
