"""Deadlines: one month as Regulation 1182/71 counts it, in the controller's time zone and country."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dsar_pipeline.intake.deadlines import (
    DeadlineError,
    ExtensionReason,
    add_months,
    compute_deadline,
    controller_today,
    deadline_for_ticket,
    is_working_day,
    received_date,
)

EE = {"time_zone": "Europe/Tallinn", "country": "EE"}
LV = {"time_zone": "Europe/Riga", "country": "LV"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2028, 1, 31), date(2028, 2, 29)),
        (date(2024, 1, 30), date(2024, 2, 29)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 12, 15), date(2027, 1, 15)),
        (date(2026, 8, 31), date(2026, 9, 30)),
    ],
)
def test_add_months_same_date_or_last_day(start, expected):
    assert add_months(start, 1) == expected


@pytest.mark.parametrize(
    ("received_at", "zone", "expected_received", "expected_due"),
    [
        # 31 Jan -> no 31 Feb -> 28 Feb 2026 is a Saturday -> Monday 2 March
        (utc(2026, 1, 31, 10), EE, date(2026, 1, 31), date(2026, 3, 2)),
        # leap year: 31 Jan 2028 -> Tuesday 29 Feb 2028
        (utc(2028, 1, 31, 10), EE, date(2028, 1, 31), date(2028, 2, 29)),
        # leap year 2024: 31 Jan -> Thursday 29 Feb
        (utc(2024, 1, 31, 10), LV, date(2024, 1, 31), date(2024, 2, 29)),
        # plain case: 9 March -> Thursday 9 April 2026
        (utc(2026, 3, 9, 10), EE, date(2026, 3, 9), date(2026, 4, 9)),
        # lands on Sunday 12 July 2026 -> Monday 13 July
        (utc(2026, 6, 12, 10), LV, date(2026, 6, 12), date(2026, 7, 13)),
        # Estonian Independence Day, Wednesday 24 Feb 2027 -> 25 Feb in Estonia ...
        (utc(2027, 1, 24, 10), EE, date(2027, 1, 24), date(2027, 2, 25)),
        # ... but an ordinary working day in Latvia
        (utc(2027, 1, 24, 10), LV, date(2027, 1, 24), date(2027, 2, 24)),
        # Latvian Proclamation Day, Wednesday 18 Nov 2026 -> 19 Nov in Latvia, not in Estonia
        (utc(2026, 10, 18, 10), LV, date(2026, 10, 18), date(2026, 11, 19)),
        (utc(2026, 10, 18, 10), EE, date(2026, 10, 18), date(2026, 11, 18)),
        # Latvian Restoration of Independence, Monday 4 May 2026 -> Tuesday 5 May; Estonia works
        (utc(2026, 4, 4, 10), LV, date(2026, 4, 4), date(2026, 5, 5)),
        (utc(2026, 4, 4, 10), EE, date(2026, 4, 4), date(2026, 5, 4)),
        # 4 May 2025 fell on a Sunday, its observed day off is Monday 5 May -> Tuesday 6 May
        (utc(2025, 4, 4, 10), LV, date(2025, 4, 4), date(2025, 5, 6)),
        # Christmas: 25 Nov 2026 -> 25 Dec (holiday), 26-27 weekend -> Monday 28 Dec
        (utc(2026, 11, 25, 10), EE, date(2026, 11, 25), date(2026, 12, 28)),
        # near midnight: 22:30 UTC on 1 March is 00:30 on 2 March in Tallinn (UTC+2)
        (utc(2026, 3, 1, 22, 30), EE, date(2026, 3, 2), date(2026, 4, 2)),
        # summer time (UTC+3): 21:30 UTC on 14 July is 00:30 on 15 July in Riga
        (utc(2026, 7, 14, 21, 30), LV, date(2026, 7, 15), date(2026, 8, 17)),
        # 21:59 UTC on 31 Dec 2026 is still 31 Dec in Tallinn (23:59) -> 31 Jan 2027 Sunday -> 1 Feb
        (utc(2026, 12, 31, 21, 59), EE, date(2026, 12, 31), date(2027, 2, 1)),
        # 22:00 UTC on 31 Dec is already New Year in Tallinn -> 1 Feb 2027 (Monday)
        (utc(2026, 12, 31, 22, 0), EE, date(2027, 1, 1), date(2027, 2, 1)),
    ],
)
def test_due_dates(received_at, zone, expected_received, expected_due):
    deadline = compute_deadline(received_at, **zone)
    assert deadline.received_date == expected_received
    assert deadline.due_date == expected_due
    assert is_working_day(deadline.due_date, zone["country"])


def test_received_date_needs_an_aware_moment():
    with pytest.raises(DeadlineError):
        received_date(datetime(2026, 3, 1, 22, 30), "Europe/Tallinn")


def test_days_left():
    deadline = compute_deadline(utc(2026, 3, 9, 10), **EE)
    assert deadline.days_left(date(2026, 3, 9)) == 31
    assert deadline.days_left(date(2026, 4, 9)) == 0
    assert deadline.days_left(date(2026, 4, 12)) == -3


def test_extension_by_two_months_within_the_first_month():
    deadline = compute_deadline(utc(2026, 1, 31, 10), **EE)
    extended = deadline.extend(2, [ExtensionReason.COMPLEXITY], decided_on=date(2026, 2, 20))
    # 31 Jan + 3 months = 30 April 2026 (Thursday)
    assert extended.extended_due_date == date(2026, 4, 30)
    assert extended.effective_due_date == date(2026, 4, 30)
    assert extended.due_date == date(2026, 3, 2)
    assert extended.days_left(date(2026, 4, 1)) == 29
    assert extended.extension is not None and extended.extension.reasons == (ExtensionReason.COMPLEXITY,)


def test_extension_decided_on_the_due_date_is_still_in_time():
    deadline = compute_deadline(utc(2026, 3, 9, 10), **LV)
    extended = deadline.extend(1, ["number_of_requests"], decided_on=deadline.due_date)
    assert extended.extended_due_date == date(2026, 5, 11)  # 9 May 2026 is a Saturday


def test_extension_after_the_original_due_date_is_refused():
    deadline = compute_deadline(utc(2026, 3, 9, 10), **EE)
    with pytest.raises(DeadlineError, match="within the first month"):
        deadline.extend(2, [ExtensionReason.COMPLEXITY], decided_on=date(2026, 4, 10))


@pytest.mark.parametrize(
    ("months", "reasons", "message"),
    [(3, [ExtensionReason.COMPLEXITY], "1 to 2 months"), (0, [ExtensionReason.COMPLEXITY], "1 to 2 months"),
     (2, [], "needs its reasons")],
)
def test_invalid_extensions(months, reasons, message):
    deadline = compute_deadline(utc(2026, 3, 9, 10), **EE)
    with pytest.raises(DeadlineError, match=message):
        deadline.extend(months, reasons, decided_on=date(2026, 3, 20))


def test_unknown_reason_is_refused():
    deadline = compute_deadline(utc(2026, 3, 9, 10), **EE)
    with pytest.raises(ValueError):
        deadline.extend(1, ["we are busy"], decided_on=date(2026, 3, 20))  # type: ignore[list-item]


def test_only_one_extension():
    deadline = compute_deadline(utc(2026, 3, 9, 10), **EE).extend(1, ["complexity"], decided_on=date(2026, 3, 20))
    with pytest.raises(DeadlineError, match="already been extended"):
        deadline.extend(1, ["complexity"], decided_on=date(2026, 3, 21))


def test_deadline_from_profile():
    deadline = deadline_for_ticket(utc(2026, 10, 18, 10), "kilowats-lv")
    assert (deadline.country, deadline.due_date) == ("LV", date(2026, 11, 19))
    # Enefit AS's notice promises an answer within 30 calendar days: 17 Nov, a day before the month ends.
    enefit = deadline_for_ticket(utc(2026, 10, 18, 10), "enefit-ee")
    assert (enefit.statutory_due_date, enefit.due_date) == (date(2026, 11, 18), date(2026, 11, 17))
    assert enefit.bound_by_promise


@pytest.mark.parametrize(
    ("received_at", "zone", "promised", "expected_due", "by_promise"),
    [
        # 2 March: the statutory month ends on 2 April (31 days); the 30-day promise on 1 April.
        (utc(2026, 3, 2, 10), EE, 30, date(2026, 4, 1), True),
        # 2 February: the month has 28 days, shorter than the promise, so the statutory date binds.
        (utc(2026, 2, 2, 10), EE, 30, date(2026, 3, 2), False),
        # 10 Jan + 30 = Monday 9 Feb 2026, a day before the month ends ...
        (utc(2026, 1, 10, 10), LV, 30, date(2026, 2, 9), True),
        # ... 3 April 2026 + 30 = Sunday 3 May; the promise binds on that day, not Monday 4 May.
        (utc(2026, 4, 3, 10), EE, 30, date(2026, 5, 3), True),
        # received just after local midnight: days count from the local date (2 March in Tallinn).
        (utc(2026, 3, 1, 22, 30), EE, 30, date(2026, 4, 1), True),
    ],
)
def test_the_notice_promise_binds_when_earlier(received_at, zone, promised, expected_due, by_promise):
    deadline = compute_deadline(received_at, **zone, promised_days=promised)
    assert deadline.due_date == expected_due
    assert deadline.due_date == min(deadline.statutory_due_date, deadline.promised_due_date)
    assert deadline.bound_by_promise is by_promise


def test_a_promise_ending_on_a_weekend_is_not_moved():
    # 3 April 2026 + 30 days = Sunday 3 May; the statutory month ends Monday 4 May (moved from Sunday 3 May
    # in Estonia). The promise is the earlier date and stays on the Sunday.
    deadline = compute_deadline(utc(2026, 4, 3, 10), **EE, promised_days=30)
    assert deadline.promised_due_date == date(2026, 5, 3) and not is_working_day(deadline.due_date, "EE")
    assert deadline.statutory_due_date == date(2026, 5, 4)


def test_extension_under_a_promise_is_decided_by_the_promised_date():
    deadline = compute_deadline(utc(2026, 3, 2, 10), **EE, promised_days=30)
    with pytest.raises(DeadlineError, match="within the first month"):
        deadline.extend(2, [ExtensionReason.COMPLEXITY], decided_on=date(2026, 4, 2))
    extended = deadline.extend(2, [ExtensionReason.COMPLEXITY], decided_on=date(2026, 4, 1))
    assert extended.effective_due_date == date(2026, 6, 2)


def test_a_promise_of_zero_days_is_refused():
    with pytest.raises(DeadlineError, match="at least one day"):
        compute_deadline(utc(2026, 3, 2, 10), **EE, promised_days=0)


@pytest.mark.parametrize("controller", ["enefit-ee", "set-lv"])
def test_profiles_promising_30_days_use_it(controller: str) -> None:
    from dsar_pipeline.profiles import load_profile

    promise = load_profile(controller).answer_promise
    assert promise.days == 30 and promise.notice
    deadline = deadline_for_ticket(utc(2026, 3, 2, 10), controller)
    assert deadline.due_date == date(2026, 4, 1)


@pytest.mark.parametrize(("now", "expected"), [
    (utc(2026, 11, 25, 21, 59), date(2026, 11, 25)),  # 23:59 in Tallinn
    (utc(2026, 11, 25, 22, 0), date(2026, 11, 26)),  # local midnight: the UTC date is still the 25th
    (utc(2026, 7, 1, 21, 30), date(2026, 7, 2)),  # summer time, UTC+3
])
def test_today_is_the_controllers_date_not_the_utc_date(now: datetime, expected: date) -> None:
    assert controller_today("enefit-ee", now) == expected
    received = deadline_for_ticket(now, "enefit-ee").received_date
    assert controller_today("enefit-ee", now) >= received  # a letter is never dated before receipt

