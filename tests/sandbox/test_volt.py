"""The simulated Volt API, exercised over HTTP on a real port as the pipeline's connector will use it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from sandbox import records as r
from sandbox.faults import FaultBoard, FaultInjector, parse_spec
from sandbox.hosting import ServiceHost
from sandbox.population import Population, generate
from sandbox.volt.app import VoltConfig, create_app

CLIENT_ID = "dsar-test"
CLIENT_SECRET = "client-secret-for-tests"
JWT_SECRET = "jwt-secret-for-tests-0123456789abcdef"
TTL = 120
MAX_PAGE = 100
NASTY = ["' OR 1=1 --", "../../etc/passwd", "%00", "\x00", "a@b.c?x=1&y=2", "*", "%", "<script>alert(1)</script>"]


SIGNUP = r.VoltSignup("5e1f0a9c-0000-4000-8000-000000000001", "signup-only", "Half.Way@Example.com",
                      "+37250000099", datetime(2026, 10, 31, 23, 0, tzinfo=UTC), "phone_verified")


@pytest.fixture(scope="module")
def pop() -> Population:
    """The standard small population, plus one sign-up of our own (the bulk may hold none at this size)."""
    population = generate(size=60)
    population.volt_signups.append(SIGNUP)
    return population


@pytest.fixture(scope="module")
def board() -> FaultBoard:
    return FaultBoard()


@pytest.fixture(scope="module")
def host(pop: Population, board: FaultBoard) -> Iterator[ServiceHost]:
    config = VoltConfig(CLIENT_ID, CLIENT_SECRET, JWT_SECRET, rate_per_second=0, max_page_size=MAX_PAGE,
                        token_ttl_seconds=TTL)
    service = ServiceHost("volt", FaultInjector(create_app(pop, config), "volt", board), 0, board=board)
    service.start()
    yield service
    board.replace([])
    service.stop()


def fetch_token(url: str) -> str:
    answer = httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"},
                        auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def api(host: ServiceHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.url, timeout=5,
                      headers={"Authorization": f"Bearer {fetch_token(host.url)}"}) as client:
        yield client


def data(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"data", "next_cursor"}
    return list(body["data"])


def walk(api: httpx.Client, path: str, limit: int, **params: str) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following next_cursor to the end; also the number of pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        answer = api.get(path, params=query)
        page = data(answer)
        pages += 1
        cursor = answer.json()["next_cursor"]
        assert len(page) == limit or cursor is None, "only the last page may be short"
        items += page
        if cursor is None:
            return items, pages


def when(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


# -- the oracle: what the API must say about each record, written independently of the app ---------

def expect_account(a: r.VoltAccount) -> dict[str, Any]:
    return {"id": a.id, "email": a.email, "phone": a.phone, "google_sub": a.google_sub,
            "display_name": a.display_name, "customer_id": a.customer_id, "created_at": a.created_at,
            "status": a.status}


def expect(resource: str, rec: Any) -> dict[str, Any]:
    fields = {
        "vehicles": ("id", "account_id", "make", "model", "mac_address", "added_at"),
        "payment-cards": ("id", "account_id", "brand", "masked_pan", "expiry", "added_at"),
        "charging-sessions": ("id", "account_id", "vehicle_id", "station_id", "station_name", "latitude",
                              "longitude", "started_at", "ended_at", "energy_kwh", "price_eur"),
        "consents": ("id", "account_id", "purpose", "granted", "recorded_at"),
        "signups": ("id", "email", "phone", "started_at", "step_reached"),
    }[resource]
    return {name: getattr(rec, name) for name in fields}


def parsed(item: dict[str, Any]) -> dict[str, Any]:
    """An API item with its datetimes parsed, to compare with the records."""
    return {k: when(v) if k.endswith("_at") and v is not None else v for k, v in item.items()}


def records_of(pop: Population, resource: str, account_id: str) -> list[Any]:
    table: list[Any] = {"vehicles": pop.vehicles, "payment-cards": pop.payment_cards,
                        "charging-sessions": pop.charging_sessions, "consents": pop.app_consents}[resource]
    return [rec for rec in table if rec.account_id == account_id]


def accounts_of(pop: Population, case: str) -> list[r.VoltAccount]:
    return [a for a in pop.volt_accounts if a.person_key == pop.case(case).key]


# -- OAuth2 client credentials --------------------------------------------------------------------

def test_token_by_basic_auth_is_a_bearer_token_with_the_configured_lifetime(host: ServiceHost) -> None:
    answer = httpx.post(f"{host.url}/oauth/token", data={"grant_type": "client_credentials"},
                        auth=(CLIENT_ID, CLIENT_SECRET))
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == TTL and body["access_token"]
    assert answer.headers["Cache-Control"] == "no-store"
    me = httpx.get(f"{host.url}/v1/accounts", params={"email": "nobody@example.com"},
                   headers={"Authorization": f"Bearer {body['access_token']}"})
    assert data(me) == []


def test_token_by_form_fields_is_accepted(host: ServiceHost) -> None:
    answer = httpx.post(f"{host.url}/oauth/token", data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                                         "client_secret": CLIENT_SECRET, "scope": "accounts:read"})
    assert answer.status_code == 200 and answer.json()["scope"] == "accounts:read"


@pytest.mark.parametrize("auth", [(CLIENT_ID, "wrong"), ("someone-else", CLIENT_SECRET), None])
def test_token_refused_to_a_wrong_client(host: ServiceHost, auth: tuple[str, str] | None) -> None:
    answer = httpx.post(f"{host.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ({}, 400, "invalid_request"),
    ({"grant_type": "client_credentials", "scope": "accounts:write"}, 400, "invalid_scope"),
    ({"grant_type": "client_credentials", "client_secret": CLIENT_SECRET}, 400, "invalid_request"),
])
def test_token_request_errors_follow_rfc_6749(host: ServiceHost, form: dict[str, str], status: int,
                                              error: str) -> None:
    answer = httpx.post(f"{host.url}/oauth/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_token_request_must_be_form_encoded(host: ServiceHost) -> None:
    answer = httpx.post(f"{host.url}/oauth/token", json={"grant_type": "client_credentials"},
                        auth=(CLIENT_ID, CLIENT_SECRET))
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_api_without_token_is_401_with_a_bearer_challenge(host: ServiceHost) -> None:
    answer = httpx.get(f"{host.url}/v1/accounts", params={"email": "x@example.com"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer") and "error=" not in answer.headers[
        "WWW-Authenticate"]


def _claims(now: int, **overrides: Any) -> dict[str, Any]:
    return {"iss": "volt-api", "aud": "volt-api", "sub": CLIENT_ID, "iat": now, "exp": now + 60, **overrides}


def _forged_tokens(valid: str) -> dict[str, str]:
    now = int(time.time())
    head, body, signature = valid.split(".")
    return {
        "expired": jwt.encode(_claims(now - 600, exp=now - 300), JWT_SECRET, algorithm="HS256"),
        "other key": jwt.encode(_claims(now), "some-other-secret-0123456789abcdef", algorithm="HS256"),
        "alg none": jwt.encode(_claims(now), None, algorithm="none"),
        "edited signature": f"{head}.{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("kind", ["expired", "other key", "alg none", "edited signature", "garbage"])
def test_expired_or_forged_token_is_invalid_token(host: ServiceHost, kind: str) -> None:
    token = _forged_tokens(fetch_token(host.url))[kind]
    answer = httpx.get(f"{host.url}/v1/accounts", params={"email": "x@example.com"},
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


# -- look-ups for the named cases -----------------------------------------------------------------

def test_volt_only_found_by_email_in_any_case_and_by_google_sub(api: httpx.Client, pop: Population) -> None:
    (account,) = accounts_of(pop, "volt-only")
    person = pop.case("volt-only")
    assert account.google_sub and account.phone is None
    for query in ({"email": person.email}, {"email": str(person.email).upper()}, {"google_sub": account.google_sub}):
        found = data(api.get("/v1/accounts", params=query))
        assert [parsed(a) for a in found] == [expect_account(account)]
    assert data(api.get("/v1/accounts", params={"phone": person.phone})) == []


def test_household_b_account_found_by_household_a_phone(api: httpx.Client, pop: Population) -> None:
    a, b = pop.case("household-a"), pop.case("household-b")
    assert a.phone == b.phone and not accounts_of(pop, "household-a")
    found = data(api.get("/v1/accounts", params={"phone": a.phone}))
    assert [x["id"] for x in found] == [acc.id for acc in accounts_of(pop, "household-b")]
    assert found[0]["email"] == b.email


def test_unknown_person_is_found_nowhere(api: httpx.Client, pop: Population) -> None:
    person = pop.case("unknown")
    for path in ("/v1/accounts", "/v1/signups"):
        for query in ({"email": person.email}, {"phone": person.phone}):
            answer = api.get(path, params=query)
            assert data(answer) == [] and answer.json()["next_cursor"] is None
    assert data(api.get("/v1/accounts", params={"google_sub": "000000000000000000000"})) == []


def test_demo_found_by_email_phone_and_linked_customer_id(api: httpx.Client, pop: Population) -> None:
    (account,) = accounts_of(pop, "demo")
    person = pop.case("demo")
    (customer,) = pop.customer_of(person.key)
    assert account.customer_id == customer.id
    for query in ({"email": person.email}, {"phone": person.phone}, {"customer_id": str(customer.id)},
                  {"customer_id": f"00{customer.id}"}):
        assert [parsed(a) for a in data(api.get("/v1/accounts", params=query))] == [expect_account(account)]


def test_signups_found_by_email_and_phone(api: httpx.Client, pop: Population) -> None:
    for signup in pop.volt_signups:
        for query in ({"email": signup.email.upper()}, {"phone": signup.phone}):
            found = data(api.get("/v1/signups", params=query))
            assert expect("signups", signup) in [parsed(s) for s in found]


def test_account_by_id_and_unknown_account(api: httpx.Client, pop: Population) -> None:
    account = pop.volt_accounts[0]
    answer = api.get(f"/v1/accounts/{account.id}")
    assert answer.status_code == 200 and parsed(answer.json()) == expect_account(account)
    for path in ("/v1/accounts/6d0f3a4e-0000-4000-8000-000000000000",
                 "/v1/accounts/6d0f3a4e-0000-4000-8000-000000000000/vehicles",
                 f"/v1/accounts/{account.id}/no-such-resource"):
        missing = api.get(path)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"


# -- pagination -----------------------------------------------------------------------------------

@pytest.mark.parametrize("resource", ["vehicles", "payment-cards", "charging-sessions", "consents"])
def test_walking_every_list_returns_exactly_the_population(api: httpx.Client, pop: Population,
                                                           resource: str) -> None:
    total = 0
    for account in pop.volt_accounts:
        items, _ = walk(api, f"/v1/accounts/{account.id}/{resource}", limit=2)
        expected = [expect(resource, rec) for rec in records_of(pop, resource, account.id)]
        assert sorted(map(parsed, items), key=lambda x: x["id"]) == sorted(expected, key=lambda x: x["id"])
        assert len({x["id"] for x in items}) == len(items)
        total += len(items)
    assert total == len({"vehicles": pop.vehicles, "payment-cards": pop.payment_cards,
                         "charging-sessions": pop.charging_sessions, "consents": pop.app_consents}[resource])


def test_pages_are_in_time_order_and_end_exactly(api: httpx.Client, pop: Population) -> None:
    (account,) = accounts_of(pop, "demo")
    path = f"/v1/accounts/{account.id}/charging-sessions"
    assert len(records_of(pop, "charging-sessions", account.id)) == 25
    items, pages = walk(api, path, limit=5)
    assert pages == 5, "a full last page must not be followed by an empty one"
    starts = [(when(x["started_at"]), x["id"]) for x in items]
    assert starts == sorted(starts)
    everything = api.get(path, params={"limit": "25"})
    assert len(data(everything)) == 25 and everything.json()["next_cursor"] is None
    assert len(data(api.get(path))) == 25  # default limit 50


def test_lookup_results_are_paginated(pop: Population) -> None:
    shared = "+37250000001"
    accounts = [r.VoltAccount(f"00000000-0000-4000-8000-00000000000{i}", f"k{i}", f"user{i}@example.com", shared,
                              None, f"User {i}", datetime(2025, 1, i + 1, tzinfo=UTC), "active") for i in range(3)]
    tiny = Population(seed=0, size=0, as_of=date(2026, 11, 1), volt_accounts=accounts)
    service = ServiceHost("volt", create_app(tiny, VoltConfig(CLIENT_ID, CLIENT_SECRET, JWT_SECRET)), 0)
    service.start()
    try:
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {fetch_token(service.url)}"}) as c:
            items, pages = walk(c, "/v1/accounts", limit=1, phone=shared)
    finally:
        service.stop()
    assert pages == 3 and [x["id"] for x in items] == [a.id for a in accounts]


def test_tampered_foreign_or_garbage_cursor_is_400(api: httpx.Client, pop: Population) -> None:
    (demo,) = accounts_of(pop, "demo")
    (other,) = accounts_of(pop, "household-b")
    path = f"/v1/accounts/{demo.id}/charging-sessions"
    cursor = api.get(path, params={"limit": "5"}).json()["next_cursor"]
    assert data(api.get(path, params={"limit": "5", "cursor": cursor}))
    body, signature = cursor.split(".")
    edited = ("A" if body[0] != "A" else "B") + body[1:] + "." + signature
    for bad in (edited, cursor[:-3], "garbage", "Zm9v.YmFy", "é.é"):
        answer = api.get(path, params={"cursor": bad})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_cursor", bad
    foreign = api.get(f"/v1/accounts/{other.id}/charging-sessions", params={"cursor": cursor})
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_cursor"


@pytest.mark.parametrize("limit", [str(MAX_PAGE + 1), "0", "-1", "abc", "1.5", "", "١"])
def test_bad_limit_is_400(api: httpx.Client, pop: Population, limit: str) -> None:
    answer = api.get(f"/v1/accounts/{pop.volt_accounts[0].id}/consents", params={"limit": limit})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_max_limit_is_allowed(api: httpx.Client, pop: Population) -> None:
    assert api.get(f"/v1/accounts/{pop.volt_accounts[0].id}/consents", params={"limit": str(MAX_PAGE)}).is_success


@pytest.mark.parametrize("query", [{}, {"email": "a@b.c", "phone": "+37251234567"}, {"email": ""},
                                   {"phone": "37251234567"}, {"phone": "+372 5123 4567"}, {"name": "Jüri"},
                                   {"customer_id": "12a"}, {"customer_id": "-5"}, {"email": "x" * 400}])
def test_lookup_needs_exactly_one_valid_filter(api: httpx.Client, query: dict[str, str]) -> None:
    answer = api.get("/v1/accounts", params=query)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_repeated_filter_is_400(api: httpx.Client) -> None:
    answer = api.get("/v1/accounts", params=[("email", "a@b.c"), ("email", "d@e.f")])
    assert answer.status_code == 400


# -- hostile identifiers --------------------------------------------------------------------------

@pytest.mark.parametrize("value", NASTY)
@pytest.mark.parametrize(("path", "param"), [("/v1/accounts", "email"), ("/v1/accounts", "phone"),
                                             ("/v1/accounts", "google_sub"), ("/v1/accounts", "customer_id"),
                                             ("/v1/signups", "email")])
def test_metacharacters_in_lookups_are_answered_safely(api: httpx.Client, path: str, param: str,
                                                       value: str) -> None:
    answer = api.get(path, params={param: value})
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert answer.json()["data"] == []


@pytest.mark.parametrize("value", NASTY)
def test_metacharacters_in_paths_are_answered_safely(api: httpx.Client, value: str) -> None:
    for path in (f"/v1/accounts/{quote(value, safe='')}", f"/v1/accounts/{quote(value, safe='')}/vehicles"):
        answer = api.get(path)
        assert answer.status_code in (400, 404), answer.text
        assert "error" in answer.json()


def test_unencoded_query_metacharacters_are_answered_safely(api: httpx.Client, host: ServiceHost) -> None:
    for raw in ("email=a@b.c?x=1&y=2", "email=' OR 1=1 --", "email=%00", "phone=+37251234567", "email=%ZZ"):
        answer = api.get(f"{host.url}/v1/accounts?{raw}")
        assert answer.status_code in (200, 400), raw
        assert answer.status_code == 400 or answer.json()["data"] == []


# -- rate limit -----------------------------------------------------------------------------------

def test_burst_over_the_rate_gets_429_with_retry_after(pop: Population) -> None:
    config = VoltConfig(CLIENT_ID, CLIENT_SECRET, JWT_SECRET, rate_per_second=2)
    service = ServiceHost("volt", create_app(pop, config), 0)
    service.start()
    try:
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {fetch_token(service.url)}"}) as c:
            statuses = [c.get("/v1/accounts", params={"email": "x@example.com"}) for _ in range(6)]
            refused = [a for a in statuses if a.status_code == 429]
            assert [a.status_code for a in statuses[:2]] == [200, 200] and refused
            wait = refused[0].headers["Retry-After"]
            assert wait.isdigit() and int(wait) >= 1
            assert refused[0].json()["error"] == "rate_limited"
            time.sleep(int(wait))  # the refill itself is what is being tested
            assert c.get("/v1/accounts", params={"email": "x@example.com"}).status_code == 200
    finally:
        service.stop()


# -- fault injection ------------------------------------------------------------------------------

@pytest.fixture
def faulty(host: ServiceHost, board: FaultBoard) -> Iterator[tuple[httpx.Client, FaultBoard]]:
    token = fetch_token(host.url)
    with httpx.Client(base_url=host.url, timeout=5, headers={"Authorization": f"Bearer {token}"}) as client:
        try:
            yield client, board
        finally:
            board.replace([])


def _lookup(client: httpx.Client, **kwargs: Any) -> httpx.Response:
    return client.get("/v1/accounts", params={"email": "x@example.com"}, **kwargs)


def test_fault_latency_delays_the_answer(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("volt=latency:0.3"))
    started = time.monotonic()
    assert _lookup(client).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_error_answers_503(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("volt=error:1"))
    assert _lookup(client).status_code == 503


def test_fault_ratelimit_answers_429_bursts(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("volt=ratelimit:2"))
    answers = [_lookup(client) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"


def test_fault_timeout_hangs_until_the_client_gives_up(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("volt=timeout:30"))
    with pytest.raises(httpx.ReadTimeout):
        _lookup(client, timeout=0.5)


def test_fault_truncate_cuts_the_body(faulty: tuple[httpx.Client, FaultBoard], pop: Population) -> None:
    client, board = faulty
    board.replace(parse_spec("volt=truncate:1"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/v1/accounts/{pop.volt_accounts[0].id}/charging-sessions")


def test_fault_down_refuses_connections_then_recovers(faulty: tuple[httpx.Client, FaultBoard],
                                                      host: ServiceHost) -> None:
    client, board = faulty
    board.replace(parse_spec("volt=down"))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{host.url}/v1/accounts", params={"email": "x@example.com"}, timeout=2)
    board.replace([])
    assert _lookup(client).status_code == 200
