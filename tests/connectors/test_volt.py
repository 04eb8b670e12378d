"""The Volt connector against the running sandbox: exactly the right records, strengths and failures.

Expected results are derived from the sandbox population (the ground truth) by the API's matching
rules (exact e-mail, E.164 phone, Google subject, linked customer number), never from the
connector's own answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from connectors.contract import Connector, Record
from connectors.errors import ConnectorError, PermanentError, TruncatedPage
from connectors.http import ClientCredentials, Response
from connectors.identity import Identifier, IdentityType, Strength
from connectors.registry import systems
from connectors.retention import Period, retention_findings
from connectors.retry import RetryPolicy
from connectors.volt import VoltConnector
from connectors.volt.api import _page_check
from sandbox import records as r
from sandbox.faults import FaultBoard, parse_spec
from sandbox.hosting import ServiceHost
from sandbox.population import CASES, Population
from sandbox.volt.app import VoltConfig, create_app

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
PATIENT = RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.05)  # 0.3^10: never all fail
Ref = tuple[str, str]
T = IdentityType


# -- ground truth ---------------------------------------------------------------------------------

@dataclass
class Truth:
    """What the API must return for some identifiers: records, and who found each account."""

    refs: set[Ref] = field(default_factory=set)
    account_matchers: dict[str, set[tuple[IdentityType, str]]] = field(default_factory=dict)
    signup_matchers: dict[str, set[tuple[IdentityType, str]]] = field(default_factory=dict)
    parent_of: dict[Ref, str] = field(default_factory=dict)


def truth(pop: Population, identifiers: list[Identifier]) -> Truth:
    """Every record the identifiers must reach, by the API's documented look-up rules."""
    want = {(i.type, i.value) for i in identifiers}
    result = Truth()

    def account_hits(a: r.VoltAccount) -> set[tuple[IdentityType, str]]:
        mine = {(T.EMAIL, a.email.casefold()), (T.PHONE, a.phone or ""), (T.GOOGLE_SUBJECT, a.google_sub or ""),
                (T.CUSTOMER_ID, str(a.customer_id)), (T.VOLT_ACCOUNT_ID, a.id)}
        return want & mine

    for account in pop.volt_accounts:
        if hits := account_hits(account):
            result.refs.add(("accounts", account.id))
            result.account_matchers[account.id] = hits
            children = [("vehicles", pop.vehicles), ("payment_cards", pop.payment_cards),
                        ("charging_sessions", pop.charging_sessions), ("consents", pop.app_consents)]
            for source, table in children:
                for item in table:
                    if item.account_id == account.id:
                        result.refs.add((source, item.id))
                        result.parent_of[(source, item.id)] = account.id
    for signup in pop.volt_signups:
        hits = want & {(T.EMAIL, signup.email.casefold()), (T.PHONE, signup.phone or "")}
        if hits:
            result.refs.add(("signups", signup.id))
            result.signup_matchers[signup.id] = hits
    return result


def request_identifiers(pop: Population, case: str) -> list[Identifier]:
    """What a request for a named person gives Volt: e-mail, phone and the billing customer numbers."""
    person = pop.case(case)
    found = [Identifier.of(T.CUSTOMER_ID, str(c.id), via=("request", "billing.customers"))
             for c in pop.customer_of(person.key)]
    if person.email:
        found.append(Identifier.of(T.EMAIL, person.email))
    if person.phone:
        found.append(Identifier.of(T.PHONE, person.phone))
    return found


def refs(records: list[Record]) -> set[Ref]:
    return {(rec.source, rec.key) for rec in records}


def keys(identifiers: Any) -> set[tuple[IdentityType, str]]:
    return {(i.type, i.value) for i in identifiers}


def account_of(pop: Population, case: str) -> r.VoltAccount:
    [account] = [a for a in pop.volt_accounts if a.person_key == pop.case(case).key]
    return account


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pop(federation: Any) -> Population:
    return federation.population  # type: ignore[no-any-return]


@pytest.fixture
def volt(federation: Any) -> Iterator[VoltConnector]:
    with VoltConnector.from_settings(federation.settings, policy=FAST) as connector:
        yield connector


class CountingCredentials(ClientCredentials):
    """Client credentials that count token requests (to see a refresh happen)."""

    fetched = 0

    def _fetch(self, client: Any) -> None:
        self.fetched += 1
        super()._fetch(client)


class ForgedCredentials(CountingCredentials):
    """Always hands out a token the API cannot accept, as if our client had been revoked."""

    def _fetch(self, client: Any) -> None:
        self.fetched += 1
        self._token, self._expires = "forged.token.value", time.monotonic() + 600


def own_volt(pop: Population, **config: Any) -> tuple[ServiceHost, dict[str, str]]:
    """A second Volt service over the same population with other settings (token lifetime, rate)."""
    cfg = VoltConfig(client_id="dsar-own", client_secret="own-secret-0123456789", jwt_secret="own-jwt-" + "x" * 32,
                     **config)
    host = ServiceHost("volt", create_app(pop, cfg), 0, board=FaultBoard())
    host.start()
    settings = {"DSAR_VOLT_BASE_URL": host.url, "DSAR_VOLT_TOKEN_URL": f"{host.url}/oauth/token",
                "DSAR_VOLT_CLIENT_ID": cfg.client_id, "DSAR_VOLT_CLIENT_SECRET": cfg.client_secret}
    return host, settings


# -- every named person: exactly the records the ground truth says -------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_each_named_person_gets_exactly_their_records(volt: VoltConnector, pop: Population, case: str) -> None:
    identifiers = request_identifiers(pop, case)
    expected = truth(pop, identifiers)
    records = list(volt.collect(identifiers))
    assert len(records) == len(refs(records)), "a record was yielded twice"
    assert refs(records) == expected.refs
    strong_ids = {(i.type, i.value) for i in identifiers if i.is_strong}
    for record in records:
        assert set(record.fields) == set(VoltConnector.sources[record.source].fields)
        assert record.system == "volt" and record.event_date is not None
        if record.source == "accounts":
            assert keys(record.matched_by) == expected.account_matchers[record.key]
            strong = bool(expected.account_matchers[record.key] & strong_ids)
            assert record.strength is (Strength.STRONG if strong else Strength.WEAK)
            assert record.parent is None
        elif record.source == "signups":
            assert keys(record.matched_by) == expected.signup_matchers[record.key]
            assert record.strength is Strength.WEAK
        else:
            account_id = expected.parent_of[(record.source, record.key)]
            assert record.parent == ("accounts", account_id)
            assert keys(record.matched_by) == expected.account_matchers[account_id]


def test_named_cases_cover_accounts_signups_and_nothing(pop: Population) -> None:
    """Guard for the test above: the cases must include an account, a sign-up and a person with nothing."""
    found = {case: truth(pop, request_identifiers(pop, case)).refs for case in CASES}
    assert any(ref[0] == "accounts" for ref in found["demo"])
    assert any(ref[0] == "signups" for ref in found["debtor"])
    assert found["unknown"] == set() and found["portal-only"] == set()


def test_demo_found_by_customer_id_and_email_is_strong_with_both_in_matched_by(
        volt: VoltConnector, pop: Population) -> None:
    demo, account = pop.case("demo"), account_of(pop, "demo")
    by_customer = Identifier.of(T.CUSTOMER_ID, str(account.customer_id), via=("request", "billing.customers"))
    by_email = Identifier.of(T.EMAIL, demo.email or "")
    records = list(volt.collect([by_customer, by_email]))
    [acct] = [rec for rec in records if rec.source == "accounts"]
    assert acct.key == account.id and acct.strength is Strength.STRONG
    assert keys(acct.matched_by) == {(T.CUSTOMER_ID, str(account.customer_id)), (T.EMAIL, demo.email)}
    assert acct.fields["customer_id"] == account.customer_id and acct.fields["email"] == account.email
    assert acct.fields["created_at"] == account.created_at and acct.event_date == account.created_at.date()
    sessions = {rec.key: rec for rec in records if rec.source == "charging_sessions"}
    truth_sessions = {s.id: s for s in pop.charging_sessions if s.account_id == account.id}
    assert set(sessions) == set(truth_sessions) and len(sessions) == 25
    for key, session in truth_sessions.items():
        got = sessions[key]
        assert (got.fields["latitude"], got.fields["longitude"]) == (session.latitude, session.longitude)
        assert got.fields["energy_kwh"] == session.energy_kwh and got.fields["price_eur"] == session.price_eur
        assert got.event_date == session.started_at.date() and got.strength is Strength.STRONG
        assert got.categories["latitude"] == "user.location.precise"
    [vehicle] = [rec for rec in records if rec.source == "vehicles"]
    assert vehicle.fields["mac_address"] == next(v.mac_address for v in pop.vehicles if v.account_id == account.id)
    assert vehicle.categories["mac_address"] == "user.mobility.vehicle_mac_address"
    # e-mail alone: the same account, weak
    [weak] = [rec for rec in volt.collect([by_email]) if rec.source == "accounts"]
    assert weak.key == account.id and weak.strength is Strength.WEAK


def test_volt_only_user_found_by_email_alone_and_by_google_subject_weak(
        volt: VoltConnector, pop: Population) -> None:
    person, account = pop.case("volt-only"), account_of(pop, "volt-only")
    assert account.google_sub and account.phone is None
    expected = truth(pop, [Identifier.of(T.EMAIL, person.email or "")]).refs
    assert ("accounts", account.id) in expected and len(expected) > 5
    by_email = list(volt.collect([Identifier.of(T.EMAIL, person.email or "")]))
    by_google = list(volt.collect([Identifier.of(T.GOOGLE_SUBJECT, account.google_sub)]))
    assert refs(by_email) == refs(by_google) == expected
    assert all(rec.strength is Strength.WEAK for rec in by_email + by_google)
    [acct] = [rec for rec in by_google if rec.source == "accounts"]
    assert [(i.type, i.strength) for i in acct.matched_by] == [(T.GOOGLE_SUBJECT, Strength.WEAK)]


def test_household_a_phone_reaches_household_b_account_weakly(volt: VoltConnector, pop: Population) -> None:
    a, b_account = pop.case("household-a"), account_of(pop, "household-b")
    assert b_account.phone == a.phone and b_account.email != a.email
    phone = Identifier.of(T.PHONE, a.phone or "")
    records = list(volt.collect([phone]))
    assert refs(records) == truth(pop, [phone]).refs
    assert ("accounts", b_account.id) in refs(records)
    assert all(rec.strength is Strength.WEAK for rec in records)
    assert all(rec.parent in (None, ("accounts", b_account.id)) for rec in records)


def test_debtor_stale_signup_is_a_weak_record_past_its_48_hours(volt: VoltConnector, pop: Population) -> None:
    debtor = pop.case("debtor")
    [signup] = [s for s in pop.volt_signups if s.person_key == debtor.key]
    identifiers = [Identifier.of(T.EMAIL, debtor.email or ""), Identifier.of(T.PHONE, debtor.phone or "")]
    records = list(volt.collect(identifiers))
    assert refs(records) == {("signups", signup.id)}
    [record] = records
    assert record.strength is Strength.WEAK and keys(record.matched_by) == keys(identifiers)
    assert record.fields["step_reached"] == signup.step_reached and record.fields["started_at"] == signup.started_at
    assert record.event_date == signup.started_at.date()
    assert VoltConnector.sources["signups"].retention_rule == "volt_signup"
    [finding] = retention_findings(records, {("volt", "signups"): "volt_signup"}, {"volt_signup": Period(hours=48)},
                                   pop.as_of)
    assert finding.key == signup.id and finding.expired_on < pop.as_of


def test_unknown_person_yields_an_explicit_empty_result(volt: VoltConnector, pop: Population) -> None:
    identifiers = request_identifiers(pop, "unknown")
    assert identifiers, "the unknown person still has an e-mail and a phone to search by"
    assert list(volt.collect(identifiers)) == []
    assert list(volt.discover(identifiers)) == []
    assert volt.calls_made >= 2 * len(identifiers), "the system must really have been asked"


def test_account_id_look_up_is_strong_and_canonicalises_the_uuid(volt: VoltConnector, pop: Population) -> None:
    account = account_of(pop, "household-b")
    expected = truth(pop, [Identifier.of(T.VOLT_ACCOUNT_ID, account.id)]).refs
    records = list(volt.collect([Identifier.of(T.VOLT_ACCOUNT_ID, account.id.upper())]))
    assert refs(records) == expected
    assert all(rec.strength is Strength.STRONG for rec in records)


# -- discover ---------------------------------------------------------------------------------------

def test_discover_from_a_strong_match_reveals_expandable_identifiers(volt: VoltConnector, pop: Population) -> None:
    account = account_of(pop, "demo")
    by_customer = Identifier.of(T.CUSTOMER_ID, str(account.customer_id), via=("request", "billing.customers"))
    found = {i.type: i for i in volt.discover([by_customer])}
    assert {t: i.value for t, i in found.items()} == {
        T.VOLT_ACCOUNT_ID: account.id, T.EMAIL: account.email, T.PHONE: account.phone}
    assert found[T.VOLT_ACCOUNT_ID].strength is Strength.STRONG
    assert found[T.EMAIL].strength is found[T.PHONE].strength is Strength.WEAK  # weak by type, ...
    assert all(i.expandable for i in found.values())  # ... but found through a strong match
    assert all(i.via == ("request", "billing.customers", "volt.accounts") for i in found.values())


def test_discover_from_a_weak_match_reveals_weak_unexpandable_identifiers(
        volt: VoltConnector, pop: Population) -> None:
    person, account = pop.case("volt-only"), account_of(pop, "volt-only")
    found = {i.type: i for i in volt.discover([Identifier.of(T.EMAIL, person.email or "")])}
    assert {t: i.value for t, i in found.items()} == {
        T.VOLT_ACCOUNT_ID: account.id, T.EMAIL: account.email, T.GOOGLE_SUBJECT: account.google_sub}
    assert all(i.strength is Strength.WEAK and not i.expandable for i in found.values())
    assert all(i.via == ("request", "volt.accounts") for i in found.values())
    shared_phone = Identifier.of(T.PHONE, pop.case("household-a").phone or "")
    household = {i.type: i for i in volt.discover([shared_phone])}
    assert household[T.VOLT_ACCOUNT_ID].value == account_of(pop, "household-b").id
    assert not household[T.VOLT_ACCOUNT_ID].is_strong and not household[T.VOLT_ACCOUNT_ID].expandable


# -- pagination -------------------------------------------------------------------------------------

def test_small_pages_are_followed_to_the_end(federation: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    with VoltConnector.from_settings(federation.settings, policy=FAST, page_size=4) as small, \
            VoltConnector.from_settings(federation.settings, policy=FAST) as large:
        got_small, got_large = list(small.collect(identifiers)), list(large.collect(identifiers))
        assert refs(got_small) == refs(got_large) == truth(pop, identifiers).refs
        assert small.calls_made - large.calls_made == 6  # 25 sessions: 7 pages of 4 instead of 1 of 100


def test_a_vanished_account_sub_resource_is_a_failure_not_an_empty_list(volt: VoltConnector) -> None:
    with pytest.raises(ConnectorError) as failure:
        list(volt.api.sub_resource(str(uuid.uuid4()), "vehicles"))
    assert failure.value.cause == "GET /v1/accounts/{id}/vehicles: HTTP 404"


def test_page_check_detects_short_pages_and_refuses_oversized_ones() -> None:
    check = _page_check(3)
    item = {"id": "x"}
    check(Response(200, {"data": [item] * 3, "next_cursor": "c"}, None))  # type: ignore[arg-type]
    check(Response(200, {"data": [item], "next_cursor": None}, None))  # type: ignore[arg-type]
    with pytest.raises(TruncatedPage):
        check(Response(200, {"data": [item] * 2, "next_cursor": "c"}, None))  # type: ignore[arg-type]
    with pytest.raises(TruncatedPage):
        check(Response(200, {"data": [], "next_cursor": "c"}, None))  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        check(Response(200, {"data": [item] * 4, "next_cursor": None}, None))  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        check(Response(200, {"data": [item]}, None))  # type: ignore[arg-type]


# -- faults -----------------------------------------------------------------------------------------

def no_personal_values(message: str, pop: Population, case: str) -> bool:
    person = pop.case(case)
    return all(v not in message for v in (person.email, person.phone, person.personal_code) if v)


def test_latency_is_slower_but_complete(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "volt-only")
    clean_faults.board.replace(parse_spec("volt=latency:0.1"))
    started = time.monotonic()
    with VoltConnector.from_settings(clean_faults.settings, policy=FAST) as volt:
        records = list(volt.collect(identifiers))
    assert refs(records) == truth(pop, identifiers).refs
    assert time.monotonic() - started >= 0.1 * volt.calls_made


def test_errors_every_time_fail_after_bounded_retries_naming_the_cause(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("volt=error:1.0"))
    with VoltConnector.from_settings(clean_faults.settings, policy=FAST) as volt, \
            pytest.raises(ConnectorError) as failure:
        list(volt.collect(request_identifiers(pop, "demo")))
    assert failure.value.system == "volt"
    assert "gave up after 3 attempts" in failure.value.cause and "HTTP 503" in failure.value.cause
    assert no_personal_values(str(failure.value), pop, "demo")


def test_some_errors_are_retried_to_a_complete_result(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    clean_faults.board.replace(parse_spec("volt=error:0.3"))
    with VoltConnector.from_settings(clean_faults.settings, policy=PATIENT, page_size=5) as volt:
        records = list(volt.collect(identifiers))
    assert refs(records) == truth(pop, identifiers).refs


def test_rate_limit_429_retry_after_is_honoured(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    clean_faults.board.replace(parse_spec("volt=ratelimit:1"))  # first call refused, then 1 in 11
    started = time.monotonic()
    with VoltConnector.from_settings(clean_faults.settings, policy=FAST) as volt:
        records = list(volt.collect(identifiers))
    assert refs(records) == truth(pop, identifiers).refs
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 waited out, not just backed off


def test_the_api_own_rate_limit_is_honoured(pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    host, settings = own_volt(pop, rate_per_second=4.0)
    try:
        started = time.monotonic()
        with VoltConnector.from_settings(settings, policy=FAST, page_size=10) as volt:
            records = list(volt.collect(identifiers))
        assert refs(records) == truth(pop, identifiers).refs
        assert volt.calls_made > 4 and time.monotonic() - started >= 1.0
    finally:
        host.stop()


def test_client_side_limiter_paces_calls(federation: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "volt-only")
    settings = {**federation.settings, "DSAR_VOLT_MAX_REQUESTS_PER_SECOND": "20"}
    started = time.monotonic()
    with VoltConnector.from_settings(settings, policy=FAST) as volt:
        list(volt.collect(identifiers))
    assert time.monotonic() - started >= (volt.calls_made - 1) / 20 * 0.9
    with pytest.raises(ValueError, match="DSAR_VOLT_MAX_REQUESTS_PER_SECOND"):
        VoltConnector.from_settings({**settings, "DSAR_VOLT_MAX_REQUESTS_PER_SECOND": "fast"})


def test_timeout_fails_within_the_client_bounds(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("volt=timeout:30"))
    started = time.monotonic()
    with VoltConnector.from_settings(clean_faults.settings, policy=RetryPolicy(2, 0.01, 0.05),
                                     timeout=0.3) as volt, pytest.raises(ConnectorError) as failure:
        list(volt.collect(request_identifiers(pop, "demo")))
    assert time.monotonic() - started < 3
    assert failure.value.system == "volt" and "timeout" in failure.value.cause


def test_truncated_answers_every_time_fail_never_partial(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("volt=truncate:1.0"))
    with VoltConnector.from_settings(clean_faults.settings, policy=FAST) as volt, \
            pytest.raises(ConnectorError) as failure:
        list(volt.collect(request_identifiers(pop, "demo")))
    assert failure.value.system == "volt" and "gave up" in failure.value.cause
    assert "closed before the whole answer" in failure.value.cause or "not complete JSON" in failure.value.cause


def test_some_truncated_answers_are_retried_to_a_complete_result(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    clean_faults.board.replace(parse_spec("volt=truncate:0.3"))
    with VoltConnector.from_settings(clean_faults.settings, policy=PATIENT, page_size=5) as volt:
        records = list(volt.collect(identifiers))
    assert refs(records) == truth(pop, identifiers).refs


def test_down_fails_naming_the_connection(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("volt=down"))
    with VoltConnector.from_settings(clean_faults.settings, policy=FAST) as volt, \
            pytest.raises(ConnectorError) as failure:
        list(volt.discover(request_identifiers(pop, "demo")))
    assert failure.value.system == "volt" and "connection failed" in failure.value.cause


# -- OAuth2 -----------------------------------------------------------------------------------------

def test_an_expired_token_is_refreshed_once_and_the_call_repeated(pop: Population) -> None:
    identifiers = request_identifiers(pop, "volt-only")
    host, settings = own_volt(pop, rate_per_second=0, token_ttl_seconds=1)
    credentials = CountingCredentials(settings["DSAR_VOLT_TOKEN_URL"], settings["DSAR_VOLT_CLIENT_ID"],
                                      settings["DSAR_VOLT_CLIENT_SECRET"])
    try:
        with VoltConnector.from_settings(settings, policy=FAST, credentials=credentials) as volt:
            first = refs(list(volt.collect(identifiers)))
            calls = volt.calls_made
            time.sleep(2.1)  # the server's token has expired; our cache (minimum 5 s) still holds it
            second = refs(list(volt.collect(identifiers)))
        assert first == second == truth(pop, identifiers).refs
        assert credentials.fetched == 2
        assert volt.calls_made == 2 * calls + 1  # the one call refused with 401, repeated
    finally:
        host.stop()


def test_a_token_refused_again_after_refresh_fails_without_looping(federation: Any, pop: Population) -> None:
    s = federation.settings
    credentials = ForgedCredentials(s["DSAR_VOLT_TOKEN_URL"], s["DSAR_VOLT_CLIENT_ID"], s["DSAR_VOLT_CLIENT_SECRET"])
    with VoltConnector.from_settings(s, policy=FAST, credentials=credentials) as volt, \
            pytest.raises(ConnectorError) as failure:
        list(volt.collect(request_identifiers(pop, "demo")))
    assert "HTTP 401 again" in failure.value.cause
    assert credentials.fetched == 2 and volt.calls_made == 2


def test_wrong_client_secret_is_a_clear_permanent_failure(federation: Any, pop: Population) -> None:
    settings = {**federation.settings, "DSAR_VOLT_CLIENT_SECRET": "not-the-secret"}
    with VoltConnector.from_settings(settings, policy=FAST) as volt, pytest.raises(ConnectorError) as failure:
        list(volt.collect(request_identifiers(pop, "demo")))
    assert "refused our client credentials (HTTP 401)" in failure.value.cause
    assert "not-the-secret" not in str(failure.value)


# -- hostile identifiers ----------------------------------------------------------------------------

NASTY = ["' OR '1'='1", "x%27--", "../../etc/passwd", "a@b.c?x=1&y=2#", "%00", "ünï©ødé@ексампл.ee", "١٢٣",
         "*", "%", "+", "' OR '1'='1@x.ee", "../vehicles", "..%2F..%2Fetc%2Fpasswd", "0 OR 1=1", "😀"]


@pytest.mark.parametrize("kind", sorted(VoltConnector.accepts))
def test_identifiers_with_metacharacters_are_harmless(volt: VoltConnector, kind: IdentityType) -> None:
    identifiers = [Identifier(kind, value, Strength.STRONG) for value in NASTY]  # raw: no normalisation
    assert list(volt.collect(identifiers)) == []
    assert list(volt.discover(identifiers)) == []


def test_an_account_id_cannot_walk_into_another_resource(volt: VoltConnector, pop: Population) -> None:
    account = account_of(pop, "demo")
    for value in (f"{account.id}/vehicles", f"{account.id}/../{account.id}", f"../accounts/{account.id}",
                  f"{account.id}?x=1", f"{account.id}#"):
        assert list(volt.collect([Identifier(T.VOLT_ACCOUNT_ID, value, Strength.STRONG)])) == []


# -- wiring -----------------------------------------------------------------------------------------

def test_registry_builds_the_connector_from_settings(federation: Any) -> None:
    connector = systems()["volt"].build(federation.settings)
    try:
        assert isinstance(connector, Connector) and isinstance(connector, VoltConnector)
        assert connector.accepts == {T.EMAIL, T.PHONE, T.GOOGLE_SUBJECT, T.CUSTOMER_ID, T.VOLT_ACCOUNT_ID}
        assert connector.reveals == {T.VOLT_ACCOUNT_ID, T.EMAIL, T.PHONE, T.GOOGLE_SUBJECT}
        assert {s.retention_rule for s in connector.sources.values()} == {"app_account", "consent", "volt_signup"}
    finally:
        connector.close()
    with pytest.raises(ValueError, match="DSAR_VOLT_CLIENT_SECRET"):
        VoltConnector.from_settings({k: v for k, v in federation.settings.items() if k != "DSAR_VOLT_CLIENT_SECRET"})


def test_records_are_streamed_not_gathered(federation: Any, pop: Population) -> None:
    """The first record arrives after the look-ups and one page, before the remaining pages are asked for."""
    identifiers = request_identifiers(pop, "demo")
    with VoltConnector.from_settings(federation.settings, policy=FAST, page_size=2) as volt:
        stream = volt.collect(identifiers)
        first = next(stream)
        calls_at_first = volt.calls_made
        rest = list(stream)
    assert first.source == "accounts" and calls_at_first <= len(identifiers) + 1
    assert volt.calls_made > calls_at_first + 10 and len(rest) > 25


def test_datetimes_are_aware_utc(volt: VoltConnector, pop: Population) -> None:
    records = list(volt.collect(request_identifiers(pop, "debtor") + request_identifiers(pop, "volt-only")))
    moments = [v for rec in records for v in rec.fields.values() if isinstance(v, datetime)]
    assert moments and all(m.tzinfo is UTC for m in moments)
    assert all(isinstance(rec.event_date, date) for rec in records)
