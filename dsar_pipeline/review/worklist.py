"""The DPO's worklist: every open request, its state, the action it needs, most urgent first.

Pure over non-personal facts (opaque ids, controllers, dates, states, system names), so the same
rows can be shown in Dagster, printed by a command and tested without either. Days left are
computed here, when the list is built, on the controller's local date: a figure frozen at intake
would never turn a request overdue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum


class WorkState(StrEnum):
    """Where a request stands for the DPO (`overdue` wins over every open state)."""

    OVERDUE = "overdue"
    AWAITING_DECISION = "awaiting_decision"
    INCOMPLETE = "incomplete"
    IN_PROGRESS = "in_progress"
    REJECTED = "rejected"
    DELIVERED = "delivered"


OPEN_STATES = (WorkState.OVERDUE, WorkState.AWAITING_DECISION, WorkState.INCOMPLETE, WorkState.IN_PROGRESS)
URGENCY = {state: rank for rank, state in enumerate((*OPEN_STATES, WorkState.REJECTED, WorkState.DELIVERED))}
REJECTED_SHOWN_DAYS = 7
"""A refusal stays on the list this many days: the person must be told the reasons (Art. 12(4))."""

ACTIONS = {
    WorkState.AWAITING_DECISION: "open the review, then approve or reject",
    WorkState.INCOMPLETE: "re-run the failed system ({systems}) or approve the package as incomplete",
    WorkState.IN_PROGRESS: "none: the request is running",
    WorkState.REJECTED: "tell the person the reasons ({reason}) and their right to complain (Art. 12(4))",
}


@dataclass(frozen=True)
class RequestSnapshot:
    """What Dagster recorded about one request (metadata only, never a personal value).

    `delivery_status` is the delivery step's last word (delivered | awaiting_review | incomplete |
    rejected, "" before delivery ran); `last_event` is the date of the request's last recorded step."""

    request_id: str
    controller: str
    received: date | None
    due: date | None
    verification: str = ""
    reason_code: str = ""
    delivery_status: str = ""
    failed_systems: tuple[str, ...] = ()
    review_reasons: tuple[str, ...] = ()
    last_event: date | None = None


@dataclass(frozen=True)
class WorkItem:
    request_id: str
    controller: str
    received: str
    due: str
    days_left: int | None
    state: WorkState
    waiting_on: str  # what the state waits for: the DPO, a system, nothing
    action: str
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def row(self) -> dict[str, str | int]:
        """The table row Dagster shows (strings and ints only)."""
        return {"request_id": self.request_id, "controller": self.controller, "received": self.received,
                "due": self.due, "days_left": self.days_left if self.days_left is not None else "",
                "state": self.state.value, "waiting_on": self.waiting_on, "action": self.action,
                "reasons": ", ".join(self.reasons)}


def base_state(snapshot: RequestSnapshot) -> WorkState:
    """The request's state before the clock is considered."""
    if snapshot.delivery_status == "delivered":
        return WorkState.DELIVERED
    if snapshot.delivery_status == "rejected" or (snapshot.verification == "rejected"
                                                  and not snapshot.delivery_status):
        return WorkState.REJECTED
    if snapshot.delivery_status == "incomplete" or snapshot.failed_systems:
        return WorkState.INCOMPLETE
    if snapshot.delivery_status == "awaiting_review":
        return WorkState.AWAITING_DECISION
    return WorkState.IN_PROGRESS


def work_item(snapshot: RequestSnapshot, today: date) -> WorkItem:
    """One request's row on `today` (the controller's local date)."""
    state = base_state(snapshot)
    days_left = (snapshot.due - today).days if snapshot.due else None
    underlying = state
    if state in OPEN_STATES and days_left is not None and days_left < 0:
        state = WorkState.OVERDUE
    systems = ", ".join(snapshot.failed_systems) or "a system"
    action = ACTIONS.get(underlying, "none").format(systems=systems, reason=snapshot.reason_code or "see audit")
    if state is WorkState.OVERDUE:
        action = f"late by {-days_left} days: {action}" if days_left is not None else action
    waiting_on = {WorkState.AWAITING_DECISION: "dpo", WorkState.INCOMPLETE: systems,
                  WorkState.IN_PROGRESS: "pipeline"}.get(underlying, "")
    reasons = snapshot.review_reasons if underlying is WorkState.AWAITING_DECISION else \
        ((snapshot.reason_code,) if underlying is WorkState.REJECTED and snapshot.reason_code else ())
    return WorkItem(snapshot.request_id, snapshot.controller,
                    snapshot.received.isoformat() if snapshot.received else "",
                    snapshot.due.isoformat() if snapshot.due else "", days_left, state, waiting_on, action, reasons)


def shown(item: WorkItem, snapshot: RequestSnapshot, today: date) -> bool:
    """Open requests always; a refusal for `REJECTED_SHOWN_DAYS`; a delivered request never."""
    if item.state in OPEN_STATES:
        return True
    if item.state is WorkState.REJECTED:
        last = snapshot.last_event or snapshot.received or today
        return today - last <= timedelta(days=REJECTED_SHOWN_DAYS)
    return False


def urgency_key(item: WorkItem) -> tuple[int, int, str]:
    """Overdue first (the latest first), then by state, then by fewest days left."""
    days = item.days_left if item.days_left is not None else 10**6
    return URGENCY[item.state], days, item.request_id


@dataclass(frozen=True)
class Worklist:
    items: list[WorkItem]
    counts: dict[str, int]  # every state, closed ones included

    def due_within(self, days: int) -> list[WorkItem]:
        """Open requests due within `days` (today included) and not yet overdue."""
        return [i for i in self.items if i.state is not WorkState.OVERDUE and i.state in OPEN_STATES
                and i.days_left is not None and 0 <= i.days_left <= days]

    def overdue(self) -> list[WorkItem]:
        return [i for i in self.items if i.state is WorkState.OVERDUE]


def build_worklist(snapshots: Iterable[RequestSnapshot], today_of: Mapping[str, date] | None = None,
                   today: date | None = None) -> Worklist:
    """The rows to show, most urgent first, and the count of every state. `today_of` gives each
    controller's local date (a controller not in it uses `today`)."""
    items, counts = [], {state.value: 0 for state in WorkState}
    for snapshot in snapshots:
        local_today = (today_of or {}).get(snapshot.controller) or today or date.today()
        item = work_item(snapshot, local_today)
        counts[item.state.value] += 1
        if shown(item, snapshot, local_today):
            items.append(item)
    return Worklist(sorted(items, key=urgency_key), counts)
