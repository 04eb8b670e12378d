"""A 429 is waited out, never given up inside the rate limit's window (issue 13); on a fake clock.

`connectors.retry` reads the time through its `time` module attribute: the tests put a fake clock
there whose `sleep` only moves the clock, so minutes of waiting take no time.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors import retry
from connectors.avp.connector import shared_limiter
from connectors.avp.hub import HubClient
from connectors.errors import ConnectorError, TransientError
from connectors.http import ClientCredentials
from connectors.retry import MinIntervalLimiter, RateLimited, RetryPolicy, call_with_retries

HUB = "http://hub.invalid"
SEARCH = "/api/v1/customer/search"
WINDOW_S = 5.0  # the real public API: about one call per 5 s per client


class FakeClock:
    """`time.monotonic` and `time.sleep` of `connectors.retry`: sleeping moves the clock, nothing else."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(retry, "time", fake)
    return fake


def busy_hub(clock: FakeClock, free_at: float, retry_after: str | None) -> tuple[httpx.MockTransport, list[float]]:
    """A hub whose window for our client is taken (by another process of ours) until `free_at`: until
    then every call is refused 429 (with `retry_after`, or none); the fake times of the calls."""
    calls: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "token", "token_type": "Bearer", "expires_in": 3600})
        calls.append(clock.now)
        if clock.now < free_at:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return httpx.Response(429, headers=headers, json={"problem": {"code": "TOO_MANY_REQUESTS"}})
        echo = {"x-original-document-identification": request.headers["x-document-identification"]}
        return httpx.Response(200, headers=echo, content=json.dumps({"identities": []}).encode())

    return httpx.MockTransport(answer), calls


def hub_client(transport: httpx.MockTransport, **options: Any) -> HubClient:
    return HubClient(HUB, ClientCredentials(f"{HUB}/oauth/token", "client", "secret"), transport=transport, **options)


def test_the_hub_retry_after_1_is_waited_and_the_window_outlasted(clock: FakeClock) -> None:
    """Retry-After: 1 while the window lasts 5 s: five attempts are only 4 s; the 429s must be waited
    out (>= 1 s each) until the window opens, not given up after the fifth (the old "gave up after 5
    attempts in 0.4 s; last error: HTTP 429")."""
    started = clock.now
    transport, calls = busy_hub(clock, free_at=started + WINDOW_S, retry_after="1")
    hub = hub_client(transport)  # the default policy, as the pipeline builds it
    assert hub.post(SEARCH, {}) == {"identities": []}
    refused = [t for t in calls if t < started + WINDOW_S]
    assert len(refused) == hub.refused >= 5 and len(calls) == len(refused) + 1
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(calls))
    assert clock.now - started >= WINDOW_S
    hub.close()


def test_a_429_without_retry_after_waits_the_hubs_interval(clock: FakeClock) -> None:
    started = clock.now
    transport, calls = busy_hub(clock, free_at=started + 3 * WINDOW_S, retry_after=None)
    hub = hub_client(transport, base_interval_s=WINDOW_S)
    assert hub.post(SEARCH, {}) == {"identities": []}
    assert len(calls) == 4
    assert all(later - earlier >= WINDOW_S for earlier, later in itertools.pairwise(calls))
    hub.close()


def rate_limited(clock: FakeClock, until: float, error: Callable[[], TransientError]) -> Callable[[], str]:
    def attempt() -> str:
        if clock.now < until:
            raise error()
        return "answer"

    return attempt


def test_call_with_retries_waits_retry_after_and_does_not_give_up_inside_the_window(clock: FakeClock) -> None:
    started = clock.now
    attempt = rate_limited(clock, started + WINDOW_S, lambda: RateLimited("HTTP 429", retry_after=1.0))
    assert call_with_retries("avp", "POST /x", attempt, RetryPolicy(), random.Random(1), clock.sleep) == "answer"
    assert len(clock.slept) == 5 and all(pause >= 1.0 for pause in clock.slept)
    assert clock.now - started >= WINDOW_S


def test_five_quick_refusals_are_no_reason_to_give_up(clock: FakeClock) -> None:
    """Refusals with a short Retry-After (the sandbox's hub: the rest of a 0.05 s interval) are retried
    for the operation's whole time budget, then the error names the refusals."""
    policy = RetryPolicy(max_attempts=5, deadline_s=10.0)
    forever = rate_limited(clock, float("inf"), lambda: RateLimited("HTTP 429", retry_after=0.05))
    started = clock.now
    with pytest.raises(ConnectorError, match=r"gave up after \d+ attempts \(\d+ refused for the rate limit\) in "
                                             r"\d+\.\d s; last error: HTTP 429") as failure:
        call_with_retries("avp", "POST /x", forever, policy, random.Random(1), clock.sleep)
    assert clock.now - started >= policy.deadline_s - 0.1 and len(clock.slept) > 50
    assert "in 0." not in failure.value.cause


def test_other_transient_errors_are_still_bounded_by_attempts(clock: FakeClock) -> None:
    failing = rate_limited(clock, float("inf"), lambda: TransientError("HTTP 503"))
    with pytest.raises(ConnectorError, match=r"gave up after 3 attempts in .*HTTP 503$"):
        call_with_retries("avp", "POST /x", failing, RetryPolicy(max_attempts=3), random.Random(1), clock.sleep)


def test_a_retry_after_beyond_what_we_wait_fails_at_once(clock: FakeClock) -> None:
    refused = rate_limited(clock, float("inf"), lambda: RateLimited("HTTP 429", retry_after=3600.0))
    with pytest.raises(ConnectorError, match=r"asked to retry after 3600 s, more than the 30 s we wait"):
        call_with_retries("avp", "POST /x", refused, RetryPolicy(), random.Random(1), clock.sleep)
    assert clock.slept == []


def test_an_unpaced_client_still_honours_a_push_back(clock: FakeClock) -> None:
    limiter = MinIntervalLimiter(0.0)
    limiter.wait()
    assert clock.slept == []
    limiter.push_back(1.5)
    limiter.wait()
    assert clock.slept == [1.5]


# -- one pace per hub client (real clock, tiny intervals) -------------------------------------------------


def test_one_pacer_per_hub_client_whatever_the_connector() -> None:
    base = f"http://hub-{time.monotonic_ns()}.invalid"
    first = shared_limiter(base, "client", 0.2)
    assert shared_limiter(f"{base}/", "client", 0.2) is first
    assert shared_limiter(base, "client", 0.1) is first and first.interval_s >= 0.2
    assert shared_limiter(base, "other-client", 0.2) is not first


def test_pacers_of_one_client_in_different_processes_share_the_slots() -> None:
    """Two pacers of one client key, as two processes hold them (each its own open file): the second
    takes the slot after the first's, not the same one."""
    key = f"test\nhttp://hub-{time.monotonic_ns()}.invalid\nclient"
    one, other = MinIntervalLimiter(0.2, shared_key=key), MinIntervalLimiter(0.2, shared_key=key)
    started = time.monotonic()
    one.wait()
    other.wait()
    one.wait()
    assert time.monotonic() - started >= 0.39
    other.push_back(0.3)
    before = time.monotonic()
    one.wait()
    assert time.monotonic() - before >= 0.25
