"""The portal connector against the running sandbox portal, checked against the population (ground truth)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request

from connectors.contract import Connector, Record
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, Strength
from connectors.portal import PortalConnector
from connectors.portal.lookup import personal_code_forms
from connectors.registry import systems
from connectors.retry import RetryPolicy
from sandbox import records as r
from sandbox.faults import parse_spec
from sandbox.population import CASES, Population
from sandbox.portal.store import consent_json, cookie_json, document_json, login_json, message_json, user_json

T = IdentityType
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
PATIENT = RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.05)
CHILD_SOURCES = ("logins", "consents", "cookie_consents", "messages", "documents")
NASTY = [
    (T.PORTAL_USERNAME, "' OR '1'='1"), (T.PORTAL_USERNAME, "../../etc/passwd"), (T.PORTAL_USERNAME, "x%27--"),
    (T.PORTAL_USERNAME, "*"), (T.PORTAL_USERNAME, "%"), (T.PORTAL_USERNAME, "jüri/../admin?x=1#"),
    (T.PERSONAL_CODE, "' OR '1'='1"), (T.PERSONAL_CODE, "%00"), (T.PERSONAL_CODE, "３８００１０８５７１８"),
    (T.CUSTOMER_ID, "x%27--"), (T.CUSTOMER_ID, "1 OR 1=1"), (T.CUSTOMER_ID, "١٠٠٠٠١"),
    (T.EMAIL, "a@b.c?x=1&y=2#"), (T.EMAIL, "%@%.%"), (T.EMAIL, "'or'1'='1@x.ee"), (T.EMAIL, "jüri@näide.ee"),
]


# -- ground truth --------------------------------------------------------------------------------------


def request_identifiers(pop: Population, case: str) -> list[Identifier]:
    """What a request for the case's person would carry: personal code, e-mail, phone, customer numbers."""
    person = pop.case(case)
    found = [Identifier.of(T.PERSONAL_CODE, person.personal_code)]
    found += [Identifier.of(T.EMAIL, person.email)] if person.email else []
    found += [Identifier.of(T.PHONE, person.phone)] if person.phone else []
    found += [Identifier.of(T.CUSTOMER_ID, str(c.id)) for c in pop.customer_of(person.key)]
    return found


def truth_matches(user: r.PortalUser, identifier: Identifier) -> bool:
    value = identifier.value
    return {
        T.PERSONAL_CODE: (user.personal_code or "").replace("-", "") == value,
        T.EMAIL: user.email.lower() == value,
        T.PHONE: user.phone == value,
        T.CUSTOMER_ID: user.customer_id is not None and str(user.customer_id) == value,
        T.PORTAL_USERNAME: user.username.lower() == value.lower(),
    }[identifier.type]


def truth(pop: Population, identifiers: list[Identifier]) -> tuple[dict[str, set[str]], dict[str, set[Identifier]]]:
    """(source -> record keys, username -> identifiers that reach it) according to the population."""
    users = {u.username: {i for i in identifiers if truth_matches(u, i)} for u in pop.portal_users}
    users = {name: found for name, found in users.items() if found}
    children: dict[str, list[Any]] = {"logins": pop.logins, "consents": pop.portal_consents,
                                      "cookie_consents": pop.cookie_consents, "messages": pop.messages,
                                      "documents": pop.documents}
    keys = {"users": set(users)}
    keys |= {source: {f"{x.username}/{x.id}" for x in rows if x.username in users} for source, rows in children.items()}
    return keys, users


def keys_by_source(records: list[Record]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {source: set() for source in ("users", *CHILD_SOURCES)}
    for record in records:
        found[record.source].add(record.key)
    return found


def user_of(pop: Population, case: str) -> r.PortalUser:
    key = pop.case(case).key
    return next(u for u in pop.portal_users if u.person_key == key)


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture
def fed(clean_faults: Any) -> Any:
    return clean_faults


@pytest.fixture
def pop(fed: Any) -> Population:
    return fed.population


@pytest.fixture
def make(fed: Any) -> Iterator[Callable[..., PortalConnector]]:
    built: list[PortalConnector] = []

    def build(**overrides: Any) -> PortalConnector:
        settings = {**fed.settings, **overrides.pop("settings", {})}
        connector = PortalConnector.from_settings(settings, **{"policy": FAST, "timeout": 5.0, **overrides})
        built.append(connector)
        return connector

    yield build
    for connector in built:
        connector.close()


@pytest.fixture
def portal(make: Callable[..., PortalConnector]) -> PortalConnector:
    return make()


# -- what it returns for every named person ---------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_records_of_every_named_case_equal_the_population(case: str, pop: Population, portal: PortalConnector) -> None:
    identifiers = request_identifiers(pop, case)
    records = list(portal.collect(identifiers))
    keys, reached_by = truth(pop, identifiers)
    assert keys_by_source(records) == keys
    holds_user = any(u.person_key == pop.case(case).key for u in pop.portal_users)
    assert bool(records) == holds_user  # the comparison above is not vacuous where there is data
    users = {rec.key: rec for rec in records if rec.source == "users"}
    for name, rec in users.items():
        assert set(rec.matched_by) == reached_by[name]
        strong = any(i.is_strong for i in reached_by[name])
        assert rec.strength is (Strength.STRONG if strong else Strength.WEAK)
        owner = next(u.person_key for u in pop.portal_users if u.username == name)
        if strong:  # a strong match is always the person's own account
            assert owner == pop.case(case).key
    for rec in records:
        if rec.source != "users":
            assert rec.parent == ("users", rec.key.split("/")[0])
            assert rec.matched_by == users[rec.parent[1]].matched_by
            assert rec.strength is users[rec.parent[1]].strength


def test_field_values_and_event_dates_equal_the_population(pop: Population, portal: PortalConnector) -> None:
    user = user_of(pop, "demo")
    records = list(portal.collect([Identifier.of(T.PORTAL_USERNAME, user.username)]))
    shapes: dict[str, tuple[list[Any], Callable[[Any], dict[str, Any]], str]] = {
        "logins": (pop.logins, login_json, "at"), "consents": (pop.portal_consents, consent_json, "recorded_at"),
        "cookie_consents": (pop.cookie_consents, cookie_json, "recorded_at"),
        "messages": (pop.messages, message_json, "sent_at"), "documents": (pop.documents, document_json, "created_at"),
    }
    expected = {("users", user.username): (user_json(user), user.created_at)}
    for source, (rows, shape, moment) in shapes.items():
        expected |= {(source, f"{x.username}/{x.id}"): (shape(x), getattr(x, moment))
                     for x in rows if x.username == user.username}
    assert {(rec.source, rec.key) for rec in records} == set(expected)
    for rec in records:
        fields, moment = expected[(rec.source, rec.key)]
        assert rec.fields == fields
        assert rec.event_date == moment.astimezone(UTC).date()
        assert rec.categories == {k: PortalConnector.sources[rec.source].fields[k] for k in fields}
        assert rec.system == "portal"


def test_sources_declare_the_retention_rules() -> None:
    rules = {name: source.retention_rule for name, source in PortalConnector.sources.items()}
    assert rules == {"users": None, "logins": "portal_activity", "cookie_consents": "portal_activity",
                     "consents": "consent", "messages": "correspondence", "documents": "correspondence"}
    assert PortalConnector.sources["users"].fields["personal_code"] == \
        "user.government_id.national_identification_number"


def test_small_pages_are_read_to_the_end(pop: Population, make: Callable[..., PortalConnector]) -> None:
    identifiers = request_identifiers(pop, "demo")
    paged = make(per_page=4)
    records = list(paged.collect(identifiers))
    keys, _ = truth(pop, identifiers)
    assert len(keys["logins"]) > 4 * 3  # several pages
    assert keys_by_source(records) == keys


def test_built_from_the_registry(fed: Any) -> None:
    connector = systems()["portal"].build(fed.settings)
    try:
        assert isinstance(connector, Connector) and isinstance(connector, PortalConnector)
        assert connector.accepts == connector.reveals == {T.PORTAL_USERNAME, T.EMAIL, T.PHONE, T.PERSONAL_CODE,
                                                          T.CUSTOMER_ID}
        assert fed.settings["DSAR_PORTAL_API_KEY"] not in repr(connector)
    finally:
        connector.close()


def test_missing_settings_name_the_setting() -> None:
    with pytest.raises(ConnectorError, match="DSAR_PORTAL_API_KEY") as caught:
        PortalConnector.from_settings({"DSAR_PORTAL_BASE_URL": "http://127.0.0.1:9"})
    assert caught.value.system == "portal"


def test_wrong_api_key_fails_without_retrying(pop: Population, make: Callable[..., PortalConnector]) -> None:
    connector = make(settings={"DSAR_PORTAL_API_KEY": "wrong"})
    with pytest.raises(ConnectorError, match="HTTP 401"):
        list(connector.collect(request_identifiers(pop, "demo")))
    assert connector.calls_made == 1


# -- look-ups and what they reveal -----------------------------------------------------------------------


def revealed(connector: PortalConnector, identifiers: list[Identifier]) -> dict[tuple[T, str], Identifier]:
    return {(i.type, i.value): i for i in connector.discover(identifiers)}


def user_identifiers(user: r.PortalUser) -> set[tuple[T, str]]:
    values = {T.PORTAL_USERNAME: user.username, T.EMAIL: user.email, T.PHONE: user.phone,
              T.PERSONAL_CODE: user.personal_code, T.CUSTOMER_ID: user.customer_id}
    return {(t, Identifier.of(t, str(v)).value) for t, v in values.items() if v not in (None, "")}


def test_portal_only_found_by_personal_code_is_strong(pop: Population, portal: PortalConnector) -> None:
    person, user = pop.case("portal-only"), user_of(pop, "portal-only")
    found = revealed(portal, [Identifier.of(T.PERSONAL_CODE, person.personal_code)])
    assert set(found) == user_identifiers(user)
    for (kind, _), identifier in found.items():
        assert identifier.strength is (Strength.WEAK if kind in (T.EMAIL, T.PHONE) else Strength.STRONG)
        assert identifier.expandable and identifier.via == ("request", "portal.users")
    records = list(portal.collect([Identifier.of(T.PERSONAL_CODE, person.personal_code)]))
    assert records and all(rec.strength is Strength.STRONG for rec in records)


def test_portal_only_found_by_email_is_weak(pop: Population, portal: PortalConnector) -> None:
    person, user = pop.case("portal-only"), user_of(pop, "portal-only")
    assert person.email
    found = revealed(portal, [Identifier.of(T.EMAIL, person.email)])
    assert set(found) == user_identifiers(user)
    assert all(i.strength is Strength.WEAK and not i.expandable for i in found.values())
    records = list(portal.collect([Identifier.of(T.EMAIL, person.email)]))
    assert records and all(rec.strength is Strength.WEAK for rec in records)
    users = [rec for rec in records if rec.source == "users"]
    assert [rec.key for rec in users] == [user.username]
    assert all(i.strength is Strength.WEAK for i in users[0].reveals)


def test_household_phone_reaches_both_adults_weakly(pop: Population, portal: PortalConnector) -> None:
    a, b = pop.case("household-a"), pop.case("household-b")
    assert a.phone == b.phone
    phone = Identifier.of(T.PHONE, a.phone)
    records = list(portal.collect([phone]))
    users = {rec.key: rec for rec in records if rec.source == "users"}
    assert set(users) == {user_of(pop, "household-a").username, user_of(pop, "household-b").username}
    assert all(rec.strength is Strength.WEAK for rec in records)
    codes = {rec.fields["personal_code"] for rec in users.values()}
    assert codes == {a.personal_code, b.personal_code}  # kept, so classification can withhold the other's
    found = revealed(portal, [phone])
    for code in (a.personal_code, b.personal_code):
        identifier = found[(T.PERSONAL_CODE, code)]
        assert identifier.strength is Strength.WEAK and not identifier.expandable


def test_household_member_found_strongly_reveals_the_other_only_weakly(pop: Population,
                                                                       portal: PortalConnector) -> None:
    a, b = pop.case("household-a"), pop.case("household-b")
    found = revealed(portal, request_identifiers(pop, "household-a"))
    assert found[(T.PERSONAL_CODE, a.personal_code)].is_strong
    other = found[(T.PERSONAL_CODE, b.personal_code)]
    assert other.strength is Strength.WEAK and not other.expandable
    assert found[(T.PORTAL_USERNAME, user_of(pop, "household-b").username)].strength is Strength.WEAK


def test_latvian_code_is_looked_up_in_its_hyphenated_form(pop: Population, portal: PortalConnector) -> None:
    person = pop.case("latvian")
    assert "-" in person.personal_code
    code = Identifier.of(T.PERSONAL_CODE, person.personal_code)
    assert "-" not in code.value
    assert personal_code_forms(code.value) == [person.personal_code]
    records = list(portal.collect([code]))
    users = [rec for rec in records if rec.source == "users"]
    assert [rec.key for rec in users] == [user_of(pop, "latvian").username]
    assert users[0].fields["personal_code"] == person.personal_code
    assert users[0].strength is Strength.STRONG
    found = revealed(portal, [code])
    assert found[(T.PERSONAL_CODE, code.value)].is_strong


def test_estonian_codes_stay_bare() -> None:
    assert personal_code_forms("36805280109") == ["36805280109"]  # valid isikukood, not a valid personas kods
    assert personal_code_forms("60202160329") == ["60202160329"]  # cannot be Latvian (first digit > 3)


def test_username_and_customer_number_find_strongly(pop: Population, portal: PortalConnector) -> None:
    user = user_of(pop, "sole-trader")
    assert user.customer_id is not None
    for identifier in (Identifier.of(T.PORTAL_USERNAME, user.username.upper()),
                       Identifier.of(T.CUSTOMER_ID, str(user.customer_id))):
        records = list(portal.collect([identifier]))
        assert {rec.key for rec in records if rec.source == "users"} == {user.username}
        assert all(rec.strength is Strength.STRONG for rec in records)


def test_unknown_person_yields_an_explicit_empty_result(pop: Population, portal: PortalConnector) -> None:
    identifiers = request_identifiers(pop, "unknown")
    assert len(identifiers) >= 3
    assert list(portal.collect(identifiers)) == []
    assert list(portal.discover(identifiers)) == []
    assert portal.calls_made >= 3  # it really asked


@pytest.mark.parametrize(("kind", "value"), NASTY)
def test_metacharacters_are_harmless(kind: T, value: str, pop: Population, portal: PortalConnector) -> None:
    identifier = Identifier.of(kind, value)
    assert list(portal.collect([identifier])) == []
    assert list(portal.discover([identifier])) == []


def test_metacharacters_beside_a_real_identifier_change_nothing(pop: Population, portal: PortalConnector) -> None:
    real = [Identifier.of(T.PERSONAL_CODE, pop.case("portal-only").personal_code)]
    nasty = [Identifier.of(kind, value) for kind, value in NASTY]
    assert keys_by_source(list(portal.collect(nasty + real))) == truth(pop, real)[0]


# -- faults ------------------------------------------------------------------------------------------------


def set_faults(fed: Any, spec: str) -> None:
    fed.board.replace(parse_spec(spec))


def assert_clean_error(error: ConnectorError, pop: Population, case: str) -> None:
    """The message names the system, and no value of the person."""
    assert error.system == "portal" and str(error).startswith("portal: ")
    person = pop.case(case)
    for value in (person.personal_code, person.email, person.phone, user_of(pop, case).username):
        assert not value or value not in str(error)


def test_latency_is_slower_but_complete(fed: Any, pop: Population, portal: PortalConnector) -> None:
    identifiers = request_identifiers(pop, "portal-only")
    set_faults(fed, "portal=latency:0.15")
    started = time.monotonic()
    records = list(portal.collect(identifiers))
    assert time.monotonic() - started >= 0.15 * portal.calls_made
    assert keys_by_source(records) == truth(pop, identifiers)[0]


def test_errors_everywhere_fail_after_bounded_retries(fed: Any, pop: Population, portal: PortalConnector) -> None:
    set_faults(fed, "portal=error:1.0")
    with pytest.raises(ConnectorError) as caught:
        list(portal.collect(request_identifiers(pop, "demo")))
    assert "HTTP 503" in caught.value.cause and "gave up after 3 attempts" in caught.value.cause
    assert portal.calls_made == FAST.max_attempts
    assert_clean_error(caught.value, pop, "demo")


def calls_when_clean(make: Callable[..., PortalConnector], identifiers: list[Identifier], **overrides: Any) -> int:
    connector = make(**overrides)
    list(connector.collect(identifiers))
    return connector.calls_made


def test_some_errors_are_retried_to_completion(fed: Any, pop: Population, make: Callable[..., PortalConnector]) -> None:
    identifiers = request_identifiers(pop, "demo")
    clean_calls = calls_when_clean(make, identifiers, per_page=4)  # many small pages: many chances to fail
    connector = make(policy=PATIENT, per_page=4)
    set_faults(fed, "portal=error:0.3")
    records = list(connector.collect(identifiers))
    assert keys_by_source(records) == truth(pop, identifiers)[0]
    assert connector.calls_made > clean_calls  # some answers were errors and were asked again


def test_rate_limit_is_honoured(fed: Any, pop: Population, portal: PortalConnector) -> None:
    identifiers = request_identifiers(pop, "portal-only")
    set_faults(fed, "portal=ratelimit:1")
    started = time.monotonic()
    records = list(portal.collect(identifiers))
    assert time.monotonic() - started >= 1.0  # the first call was refused with Retry-After: 1, and we waited
    assert keys_by_source(records) == truth(pop, identifiers)[0]


def test_hanging_server_times_out(fed: Any, pop: Population, make: Callable[..., PortalConnector]) -> None:
    connector = make(timeout=0.3, policy=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02))
    set_faults(fed, "portal=timeout:30")
    started = time.monotonic()
    with pytest.raises(ConnectorError, match="timeout") as caught:
        list(connector.collect(request_identifiers(pop, "demo")))
    assert time.monotonic() - started < 3.0
    assert_clean_error(caught.value, pop, "demo")


def test_truncated_answers_always_fail(fed: Any, pop: Population, portal: PortalConnector) -> None:
    set_faults(fed, "portal=truncate:1.0")
    with pytest.raises(ConnectorError, match=r"whole answer|complete JSON") as caught:
        list(portal.collect(request_identifiers(pop, "demo")))
    assert portal.calls_made == FAST.max_attempts
    assert_clean_error(caught.value, pop, "demo")


def test_some_truncated_answers_are_read_again(fed: Any, pop: Population,
                                               make: Callable[..., PortalConnector]) -> None:
    identifiers = request_identifiers(pop, "demo")
    clean_calls = calls_when_clean(make, identifiers, per_page=4)
    connector = make(policy=PATIENT, per_page=4)
    set_faults(fed, "portal=truncate:0.3")
    records = list(connector.collect(identifiers))
    assert keys_by_source(records) == truth(pop, identifiers)[0]
    assert connector.calls_made > clean_calls


def test_down_is_a_connection_failure(fed: Any, pop: Population, portal: PortalConnector) -> None:
    set_faults(fed, "portal=down")
    with pytest.raises(ConnectorError, match="connection failed") as caught:
        list(portal.discover(request_identifiers(pop, "demo")))
    assert_clean_error(caught.value, pop, "demo")


# -- answers tampered with on the way (a proxy in front of the portal) ----------------------------------


Tamper = Callable[[str, dict[str, Any]], dict[str, Any]]


class TamperingProxy:
    """Forwards to the portal and lets `tamper(raw_uri, page)` rewrite each well-formed JSON page."""

    def __init__(self, upstream: str, tamper: Tamper) -> None:
        self.client = httpx.Client(base_url=upstream, timeout=5)
        self.tamper = tamper
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = Request(environ)
        raw_uri = str(environ.get("RAW_URI") or environ["REQUEST_URI"])  # path and query as sent
        answer = self.client.get(raw_uri, headers={"Authorization": request.headers.get("Authorization", "")})
        body = answer.content
        if answer.status_code == 200 and isinstance(data := answer.json(), dict) and "items" in data:
            body = json.dumps(self.tamper(raw_uri, data)).encode()
        start_response(f"{answer.status_code} -", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(body)))])
        return [body]

    def close(self) -> None:
        self.server.shutdown()
        self.client.close()


@pytest.fixture
def proxied(fed: Any) -> Iterator[Callable[[Tamper], str]]:
    proxies: list[TamperingProxy] = []

    def start(tamper: Tamper) -> str:
        proxies.append(TamperingProxy(fed.settings["DSAR_PORTAL_BASE_URL"], tamper))
        return proxies[-1].url

    yield start
    for proxy in proxies:
        proxy.close()


def drop_last_item(always: bool) -> Tamper:
    """A page one item short: the first time each page is asked for, or every time."""
    shortened: set[str] = set()

    def tamper(uri: str, page: dict[str, Any]) -> dict[str, Any]:
        if page["items"] and (always or uri not in shortened):
            shortened.add(uri)
            page["items"] = page["items"][:-1]
        return page

    return tamper


def test_a_short_page_is_fetched_again(pop: Population, make: Callable[..., PortalConnector],
                                       proxied: Callable[[Tamper], str]) -> None:
    connector = make(settings={"DSAR_PORTAL_BASE_URL": proxied(drop_last_item(always=False))}, per_page=10)
    identifiers = [Identifier.of(T.PERSONAL_CODE, pop.case("demo").personal_code)]
    records = list(connector.collect(identifiers))
    keys = truth(pop, identifiers)[0]
    assert keys_by_source(records) == keys
    # one look-up page + every non-empty page of every list, each asked twice; empty lists once
    pages = 1 + sum(-(-len(found) // 10) for source, found in keys.items() if source != "users")
    empty_lists = sum(1 for source, found in keys.items() if source != "users" and not found)
    assert connector.calls_made == 2 * pages + empty_lists


def test_always_short_pages_fail(pop: Population, make: Callable[..., PortalConnector],
                                 proxied: Callable[[Tamper], str]) -> None:
    connector = make(settings={"DSAR_PORTAL_BASE_URL": proxied(drop_last_item(always=True))})
    with pytest.raises(ConnectorError, match=r"page 1 holds 0 items, 1 expected") as caught:
        list(connector.collect([Identifier.of(T.PERSONAL_CODE, pop.case("demo").personal_code)]))
    assert "gave up after 3 attempts" in caught.value.cause


def test_a_user_the_lookup_did_not_ask_for_is_ignored(pop: Population, make: Callable[..., PortalConnector],
                                                      proxied: Callable[[Tamper], str]) -> None:
    """A portal that matched loosely (say, a wildcard) must not bring in someone else's account."""
    stranger = user_json(user_of(pop, "demo"))

    def add_stranger(uri: str, page: dict[str, Any]) -> dict[str, Any]:
        if uri.startswith("/api/v1/users?"):
            page["items"].append(stranger)
            page["total"] += 1
            page["total_pages"] = -(-page["total"] // page["per_page"])
        return page

    connector = make(settings={"DSAR_PORTAL_BASE_URL": proxied(add_stranger)})
    identifiers = request_identifiers(pop, "portal-only")
    assert keys_by_source(list(connector.collect(identifiers))) == truth(pop, identifiers)[0]
    assert (T.PORTAL_USERNAME, stranger["username"]) not in revealed(connector, identifiers)
    assert list(connector.collect(request_identifiers(pop, "unknown"))) == []
