"""The simulated self-service portal API, exercised over HTTP on a real port as the connector will use it."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox import records as r
from sandbox.faults import FaultBoard, FaultInjector, parse_spec
from sandbox.hosting import ServiceHost
from sandbox.population import Population, generate
from sandbox.portal.app import PortalConfig, create_app

API_KEY = "portal-key-for-tests"
MAX_PAGE = 50
NASTY = ["' OR 1=1 --", "../../etc/passwd", "%00", "\x00", "a@b.c?x=1&y=2", "*", "%", "<script>alert(1)</script>"]
LOOKUPS = ("username", "email", "phone", "personal_code", "customer_id")


@pytest.fixture(scope="module")
def pop() -> Population:
    return generate(size=60)


@pytest.fixture(scope="module")
def board() -> FaultBoard:
    return FaultBoard()


@pytest.fixture(scope="module")
def host(pop: Population, board: FaultBoard) -> Iterator[ServiceHost]:
    app = create_app(pop, PortalConfig(API_KEY, max_page_size=MAX_PAGE))
    service = ServiceHost("portal", FaultInjector(app, "portal", board), 0, board=board)
    service.start()
    yield service
    board.replace([])
    service.stop()


@pytest.fixture(scope="module")
def api(host: ServiceHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.url, timeout=5, headers={"Authorization": f"ApiKey {API_KEY}"}) as client:
        yield client


def items(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"items", "page", "per_page", "total", "total_pages"}
    return list(body["items"])


def walk(api: httpx.Client, path: str, per_page: int, **params: str) -> list[dict[str, Any]]:
    """Every item of a list, page by page, checking the page arithmetic on the way."""
    collected: list[dict[str, Any]] = []
    number = 1
    while True:
        answer = api.get(path, params={**params, "page": str(number), "per_page": str(per_page)})
        page = items(answer)
        body = answer.json()
        assert (body["page"], body["per_page"]) == (number, per_page)
        assert body["total_pages"] == math.ceil(body["total"] / per_page)
        assert len(page) == max(0, min(per_page, body["total"] - (number - 1) * per_page))
        collected += page
        if number >= body["total_pages"]:
            assert len(collected) == body["total"]
            return collected
        number += 1


def when(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


def parsed(item: dict[str, Any]) -> dict[str, Any]:
    return {k: when(v) if (k.endswith("_at") or k == "at") and v is not None else v for k, v in item.items()}


# -- the oracle, written independently of the app --------------------------------------------------

FIELDS = {
    "user": ("username", "email", "phone", "personal_code", "customer_id", "language", "created_at"),
    "logins": ("id", "at", "ip", "user_agent", "method", "success"),
    "consents": ("id", "purpose", "channel", "granted", "recorded_at"),
    "cookie-consents": ("id", "consent_id", "recorded_at", "categories", "ip"),
    "messages": ("id", "sent_at", "direction", "subject", "body"),
    "documents": ("id", "title", "kind", "created_at", "size_bytes"),
}


def expect(kind: str, rec: Any) -> dict[str, Any]:
    return {name: getattr(rec, name) for name in FIELDS[kind]}


def table(pop: Population, resource: str) -> list[Any]:
    return {"logins": pop.logins, "consents": pop.portal_consents, "cookie-consents": pop.cookie_consents,
            "messages": pop.messages, "documents": pop.documents}[resource]


def users_of(pop: Population, case: str) -> list[r.PortalUser]:
    return [u for u in pop.portal_users if u.person_key == pop.case(case).key]


def usernames(answer: httpx.Response) -> list[str]:
    return [u["username"] for u in items(answer)]


# -- authentication -------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "ApiKey wrong"}, {"Authorization": f"Bearer {API_KEY}"},
                                     {"Authorization": "ApiKey"}, {"X-Api-Key": API_KEY}])
def test_missing_or_wrong_key_is_401(host: ServiceHost, pop: Population, headers: dict[str, str]) -> None:
    for path in ("/api/v1/users?username=x", f"/api/v1/users/{pop.portal_users[0].username}/logins"):
        answer = httpx.get(f"{host.url}{path}", headers=headers)
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("ApiKey")


def test_right_key_is_accepted(host: ServiceHost) -> None:
    answer = httpx.get(f"{host.url}/api/v1/users", params={"username": "x"},
                       headers={"Authorization": f"ApiKey {API_KEY}"})
    assert items(answer) == [] and answer.headers["Cache-Control"] == "no-store"


# -- look-ups for the named cases -----------------------------------------------------------------

def test_portal_only_found_by_personal_code_and_email(api: httpx.Client, pop: Population) -> None:
    person = pop.case("portal-only")
    (user,) = users_of(pop, "portal-only")
    assert user.personal_code == person.personal_code and user.customer_id is None
    for query in ({"personal_code": person.personal_code}, {"email": person.email},
                  {"email": str(person.email).upper()}, {"username": user.username.upper()}):
        found = items(api.get("/api/v1/users", params=query))
        assert [parsed(u) for u in found] == [expect("user", user)], query


def test_household_phone_finds_both_adults(api: httpx.Client, pop: Population) -> None:
    a, b = pop.case("household-a"), pop.case("household-b")
    found = usernames(api.get("/api/v1/users", params={"phone": a.phone}))
    assert sorted(found) == sorted(u.username for u in users_of(pop, "household-a") + users_of(pop, "household-b"))
    assert len(found) == 2 and a.phone == b.phone


def test_customer_id_and_latvian_personal_code(api: httpx.Client, pop: Population) -> None:
    (demo_customer,) = pop.customer_of(pop.case("demo").key)
    assert usernames(api.get("/api/v1/users", params={"customer_id": str(demo_customer.id)})) == [
        u.username for u in users_of(pop, "demo")]
    latvian = pop.case("latvian")
    assert "-" in latvian.personal_code
    assert usernames(api.get("/api/v1/users", params={"personal_code": latvian.personal_code})) == [
        u.username for u in users_of(pop, "latvian")]


def test_unknown_person_is_found_nowhere(api: httpx.Client, pop: Population) -> None:
    person = pop.case("unknown")
    for query in ({"email": person.email}, {"phone": person.phone}, {"personal_code": person.personal_code},
                  {"username": "reetjakovl123"}, {"customer_id": "999999999"}):
        answer = api.get("/api/v1/users", params=query)
        assert items(answer) == [] and answer.json()["total"] == 0 and answer.json()["total_pages"] == 0


def test_user_by_username_and_unknown_user(api: httpx.Client, pop: Population) -> None:
    user = pop.portal_users[0]
    for name in (user.username, user.username.upper()):
        answer = api.get(f"/api/v1/users/{name}")
        assert answer.status_code == 200 and parsed(answer.json()) == expect("user", user)
    for path in ("/api/v1/users/no-such-user", "/api/v1/users/no-such-user/logins",
                 f"/api/v1/users/{user.username}/passwords"):
        missing = api.get(path)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_every_user_is_found_by_each_of_its_identifiers(api: httpx.Client, pop: Population) -> None:
    for user in pop.portal_users:
        for name in LOOKUPS:
            value = getattr(user, name)
            if value:
                assert user.username in usernames(api.get("/api/v1/users", params={name: str(value)})), name


# -- pagination -----------------------------------------------------------------------------------

@pytest.mark.parametrize("resource", ["logins", "consents", "cookie-consents", "messages", "documents"])
def test_walking_every_list_returns_exactly_the_population(api: httpx.Client, pop: Population,
                                                           resource: str) -> None:
    seen = 0
    for user in pop.portal_users:
        got = walk(api, f"/api/v1/users/{user.username}/{resource}", per_page=3)
        expected = [expect(resource, rec) for rec in table(pop, resource) if rec.username == user.username]
        assert sorted(map(parsed, got), key=lambda x: x["id"]) == sorted(expected, key=lambda x: x["id"])
        seen += len(got)
    assert seen == len(table(pop, resource))


def test_pages_are_in_time_order_and_past_the_end_is_empty(api: httpx.Client, pop: Population) -> None:
    (user,) = users_of(pop, "demo")
    path = f"/api/v1/users/{user.username}/logins"
    got = walk(api, path, per_page=7)
    assert len(got) == 30
    moments = [(when(x["at"]), x["id"]) for x in got]
    assert moments == sorted(moments)
    beyond = api.get(path, params={"page": "6", "per_page": "7"})
    assert items(beyond) == [] and beyond.json()["total"] == 30 and beyond.json()["total_pages"] == 5
    default = api.get(path).json()
    assert (default["page"], default["per_page"], len(default["items"])) == (1, 25, 25)


@pytest.mark.parametrize(("name", "value"), [("per_page", str(MAX_PAGE + 1)), ("per_page", "0"), ("page", "0"),
                                             ("page", "-1"), ("page", "abc"), ("per_page", "1.5"), ("page", ""),
                                             ("page", "99999999999999999999"), ("per_page", "٣")])
def test_bad_page_arguments_are_400(api: httpx.Client, pop: Population, name: str, value: str) -> None:
    answer = api.get(f"/api/v1/users/{pop.portal_users[0].username}/logins", params={name: value})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize("query", [{}, {"email": "a@b.c", "phone": "+37251234567"}, {"email": ""},
                                   {"phone": "5123 4567"}, {"customer_id": "12a"}, {"name": "Jüri"},
                                   {"email": "x" * 400}])
def test_lookup_needs_exactly_one_valid_filter(api: httpx.Client, query: dict[str, str]) -> None:
    answer = api.get("/api/v1/users", params=query)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


# -- hostile identifiers --------------------------------------------------------------------------

@pytest.mark.parametrize("value", NASTY)
@pytest.mark.parametrize("param", LOOKUPS)
def test_metacharacters_in_lookups_are_answered_safely(api: httpx.Client, param: str, value: str) -> None:
    answer = api.get("/api/v1/users", params={param: value})
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert answer.json()["items"] == []


@pytest.mark.parametrize("value", NASTY)
def test_metacharacters_in_paths_are_answered_safely(api: httpx.Client, value: str) -> None:
    for path in (f"/api/v1/users/{quote(value, safe='')}", f"/api/v1/users/{quote(value, safe='')}/messages"):
        answer = api.get(path)
        assert answer.status_code in (400, 404), answer.text
        assert "error" in answer.json()


def test_unencoded_query_metacharacters_are_answered_safely(api: httpx.Client, host: ServiceHost) -> None:
    for raw in ("email=a@b.c?x=1&y=2", "username=' OR 1=1 --", "personal_code=%00", "phone=+37251234567",
                "email=%ZZ"):
        answer = api.get(f"{host.url}/api/v1/users?{raw}")
        assert answer.status_code in (200, 400), raw
        assert answer.status_code == 400 or answer.json()["items"] == []


# -- fault injection ------------------------------------------------------------------------------

@pytest.fixture
def faulty(host: ServiceHost, board: FaultBoard) -> Iterator[tuple[httpx.Client, FaultBoard]]:
    with httpx.Client(base_url=host.url, timeout=5, headers={"Authorization": f"ApiKey {API_KEY}"}) as client:
        try:
            yield client, board
        finally:
            board.replace([])


def _lookup(client: httpx.Client, **kwargs: Any) -> httpx.Response:
    return client.get("/api/v1/users", params={"username": "x"}, **kwargs)


def test_fault_latency_delays_the_answer(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("portal=latency:0.3"))
    started = time.monotonic()
    assert _lookup(client).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_error_answers_503(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("portal=error:1"))
    assert _lookup(client).status_code == 503


def test_fault_ratelimit_answers_429_bursts(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("portal=ratelimit:2"))
    answers = [_lookup(client) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"


def test_fault_timeout_hangs_until_the_client_gives_up(faulty: tuple[httpx.Client, FaultBoard]) -> None:
    client, board = faulty
    board.replace(parse_spec("portal=timeout:30"))
    with pytest.raises(httpx.ReadTimeout):
        _lookup(client, timeout=0.5)


def test_fault_truncate_cuts_the_body(faulty: tuple[httpx.Client, FaultBoard], pop: Population) -> None:
    client, board = faulty
    board.replace(parse_spec("portal=truncate:1"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/api/v1/users/{users_of(pop, 'demo')[0].username}/logins")


def test_fault_down_refuses_connections_then_recovers(faulty: tuple[httpx.Client, FaultBoard],
                                                      host: ServiceHost) -> None:
    client, board = faulty
    board.replace(parse_spec("portal=down"))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{host.url}/api/v1/users", params={"username": "x"}, timeout=2)
    board.replace([])
    assert _lookup(client).status_code == 200
