"""Answer deadlines under GDPR Art. 12(3), counted as Regulation (EEC, Euratom) No 1182/71 counts.

Why this regulation: the EDPB's guidelines 01/2022 on the right of access say the one-month period
of Art. 12(3) is computed under Regulation 1182/71 (time limits of EU acts):

* Art. 3(1): the day of receipt is not counted; the period starts the next day.
* Art. 3(2)(c): a period in months ends on the day of the last month with the same date as the
  day of receipt; if that month has no such date (receipt on 31 January), on its last day.
* Art. 3(4): if the last day is a Saturday, Sunday or public holiday, the period ends on the
  next working day. Public holidays are those of the controller's country (``holidays``).

The day of receipt is the calendar date in the controller's time zone (a ticket stamped
22:30 UTC on 1 March was received on 2 March in Tallinn and in Riga).

A controller's notice may promise less than the statutory month ("within 30 calendar days"). The
promise binds it, so the due date is the earlier of the two. A promised number of days is counted
as Art. 3(1) counts (from the day after receipt) and is not moved to a working day: the notice
promised that day, and answering early is always allowed, answering late is not.

The period may be extended once by up to two further months (Art. 12(3)) when the controller
tells the person, with the reasons, within the first month. The extended period is counted from
the same day of receipt (received + 1 + n months), then moved to a working day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo


class DeadlineError(ValueError):
    """A deadline operation that the law does not allow (e.g. a late or second extension)."""


class ExtensionReason(StrEnum):
    """The only grounds Art. 12(3) gives for extending: complexity and number of requests."""

    COMPLEXITY = "complexity"
    NUMBER_OF_REQUESTS = "number_of_requests"


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_working_day(day: date, country: str) -> bool:
    """Monday to Friday and not a public holiday of ``country`` (EE or LV)."""
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def next_working_day(day: date, country: str) -> date:
    """``day`` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return day


def add_months(start: date, months: int) -> date:
    """Same date ``months`` later, or that month's last day when the date does not exist there."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def received_date(received_at: datetime, time_zone: str | ZoneInfo) -> date:
    """The calendar date of receipt in the controller's time zone."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise DeadlineError("the moment of receipt must carry a UTC offset")
    zone = time_zone if isinstance(time_zone, ZoneInfo) else ZoneInfo(time_zone)
    return received_at.astimezone(zone).date()


def period_end(received: date, months: int, country: str) -> date:
    """Last day of a period of ``months`` months running from the day of receipt (Art. 3)."""
    return next_working_day(add_months(received, months), country)


@dataclass(frozen=True)
class Extension:
    """A decided extension: how many further months, on which grounds, decided when."""

    months: int
    reasons: tuple[ExtensionReason, ...]
    decided_on: date


@dataclass(frozen=True)
class Deadline:
    """The deadline of one request, in the controller's country.

    ``due_date`` is the date that binds: the earlier of ``statutory_due_date`` (one month, Art.
    12(3)) and ``promised_due_date`` (what the controller's notice promises, when it promises).
    """

    received_date: date
    due_date: date
    country: str
    extension: Extension | None = None
    extended_due_date: date | None = None
    max_extension_months: int = 2
    statutory_due_date: date | None = None
    promised_due_date: date | None = None

    @property
    def bound_by_promise(self) -> bool:
        """True when the notice's promise, not the statutory month, sets the due date."""
        return self.promised_due_date is not None and self.promised_due_date == self.due_date \
            and self.promised_due_date != self.statutory_due_date

    @property
    def effective_due_date(self) -> date:
        """The date that counts now: the extended one if an extension was decided."""
        return self.extended_due_date or self.due_date

    def days_left(self, today: date) -> int:
        """Calendar days from ``today`` to the effective due date (0 on the day, negative when late)."""
        return (self.effective_due_date - today).days

    def extend(
        self, months: int, reasons: tuple[ExtensionReason, ...] | list[ExtensionReason], decided_on: date
    ) -> Deadline:
        """Extend once by 1..max months; refused after the original due date or without reasons."""
        if self.extension is not None:
            raise DeadlineError("the deadline has already been extended once")
        if not 1 <= months <= self.max_extension_months:
            raise DeadlineError(f"an extension is 1 to {self.max_extension_months} months")
        grounds = tuple(ExtensionReason(r) for r in reasons)
        if not grounds:
            raise DeadlineError("an extension needs its reasons (complexity, number_of_requests)")
        if decided_on < self.received_date:
            raise DeadlineError("an extension cannot be decided before the request was received")
        if decided_on > self.due_date:
            raise DeadlineError("an extension must be decided and told within the first month")
        extended = period_end(self.received_date, 1 + months, self.country)
        return replace(
            self,
            extension=Extension(months, tuple(dict.fromkeys(grounds)), decided_on),
            extended_due_date=extended,
        )


def compute_deadline(
    received_at: datetime,
    *,
    time_zone: str | ZoneInfo,
    country: str,
    months: int = 1,
    max_extension_months: int = 2,
    promised_days: int | None = None,
) -> Deadline:
    """The deadline for a request received at ``received_at`` by a controller in ``country``.

    ``promised_days``: the notice's promise in calendar days, when it makes one; the due date is
    then the earlier of the promise and the statutory period.
    """
    if promised_days is not None and promised_days < 1:
        raise DeadlineError("a promised answer period is at least one day")
    day = received_date(received_at, time_zone)
    statutory = period_end(day, months, country)
    promised = day + timedelta(days=promised_days) if promised_days is not None else None
    return Deadline(
        received_date=day,
        due_date=min(statutory, promised) if promised is not None else statutory,
        country=country,
        max_extension_months=max_extension_months,
        statutory_due_date=statutory,
        promised_due_date=promised,
    )


def deadline_for_ticket(ticket_received_at: datetime, controller_id: str) -> Deadline:
    """The deadline using the controller profile's country, time zone, month counts and the notice's
    promised answer period."""
    from ..profiles import load_profile

    profile = load_profile(controller_id)
    return compute_deadline(
        ticket_received_at,
        time_zone=profile.time_zone,
        country=profile.country,
        months=profile.answer_deadline_months,
        max_extension_months=profile.extension_months,
        promised_days=profile.answer_promise.days,
    )


__all__ = [
    "Deadline",
    "DeadlineError",
    "Extension",
    "ExtensionReason",
    "add_months",
    "compute_deadline",
    "deadline_for_ticket",
    "is_working_day",
    "next_working_day",
    "period_end",
    "received_date",
]


def controller_today(controller_id: str, now: datetime | None = None) -> date:
    """Today's date where the controller counts its deadlines. Not the UTC date: between midnight in
    Tallinn and midnight UTC those differ, and a request received after local midnight would look
    answered the day before it arrived."""
    from ..profiles import load_profile

    from_now = now if now is not None else datetime.now(UTC)
    return received_date(from_now, load_profile(controller_id).zone)


def deadline_state(due: date, today: date, *, warning_days: int) -> str | None:
    """`overdue`, `due_soon` (within `warning_days`, `DSAR_DEADLINE_WARNING_DAYS`) or None."""
    days = (due - today).days
    if days < 0:
        return "overdue"
    if days <= warning_days:
        return "due_soon"
    return None
