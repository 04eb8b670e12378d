"""Identity resolution and collection across all five systems, per named person, against the
sandbox's ground truth: who is found, through what, and what is held back for the DPO."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from connectors.classification import Disposition
from connectors.identity import IdentityType
from dsar_pipeline.collection.collect import SystemStatus
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.review.findings import review
from tests.identifiers import collect_everything, ticket_identifiers


def facts_for(person, identities) -> RequestFacts:
    return RequestFacts(
        request_id="r-test", subject_request_id="t", controller="enefit-ee" if person.country == "EE" else "enefit-lv",
        language="en", request_type="access", identifiers=identities, delivery_email=None, delivery_phone=None,
        certificate_der=None, received_date=date(2026, 11, 1), due_date=date(2026, 12, 1), verification="verified",
        verification_reason=None, callback_urls=())


def search(federation, name: str, kinds: tuple[str, ...] = ("personal_code", "email", "phone")):
    person = federation.population.case(name)
    identities = ticket_identifiers([(k, getattr(person, k)) for k in kinds if getattr(person, k)])
    graph, results = collect_everything(federation.settings, identities)
    outcome = review(facts_for(person, identities), graph, results, today=federation.population.as_of)
    return person, graph, results, outcome


def by_disposition(results, outcome, system: str) -> Counter:
    return Counter(outcome.dispositions[r.ref].value for r in results[system].records)


@pytest.fixture(autouse=True)
def _no_faults(clean_faults):
    return clean_faults


def test_demo_person_is_found_strongly_everywhere(federation) -> None:
    person, graph, results, outcome = search(federation, "demo")
    assert all(r.status is SystemStatus.COMPLETE for r in results.values())
    assert all(results[s].records for s in ("billing", "volt", "recordings", "portal", "avp"))
    assert outcome.counts["review"] == 0 and outcome.counts["other_person"] == 0
    pop = federation.population
    (customer,) = pop.customer_of(person.key)
    eics = {i.value for i in graph.identifiers.values() if i.type is IdentityType.METERING_POINT_EIC}
    assert eics == {m.eic for m in pop.meters_of(customer.id)}
    calls = {r.key for r in results["recordings"].records}
    assert calls == {c.id for c in pop.calls if c.person_key == person.key}


def test_household_members_calls_are_held_for_review_not_released(federation) -> None:
    person, _, results, outcome = search(federation, "household-a")
    pop = federation.population
    other = pop.case("household-b")
    released = {r.key for r in results["recordings"].records
                if outcome.dispositions[r.ref] is Disposition.RELEASE}
    others_calls = {c.id for c in pop.calls if c.person_key == other.key}
    assert others_calls, "the population must give household-b calls from the shared phone"
    assert not released & others_calls
    held = {r.key for r in results["recordings"].records if outcome.dispositions[r.ref] is Disposition.REVIEW}
    assert others_calls <= held
    own_matched = {c.id for c in pop.calls if c.person_key == person.key and c.customer_id is not None}
    assert own_matched <= released
    # the other adult's portal account (found by the shared phone) names another personal code: withheld
    assert by_disposition(results, outcome, "portal")[Disposition.OTHER_PERSON.value] > 0
    # the other adult's Volt account is only phone-matched: review, never released
    assert by_disposition(results, outcome, "volt")[Disposition.RELEASE.value] == 0
    assert outcome.requires_approval


def test_volt_only_user_is_found_from_the_email_alone(federation) -> None:
    _, _, results, outcome = search(federation, "volt-only", kinds=("email",))
    accounts = [r for r in results["volt"].records if r.source == "accounts"]
    assert len(accounts) == 1
    assert all(outcome.dispositions[r.ref] is Disposition.REVIEW for r in results["volt"].records)
    assert not results["billing"].records


def test_unknown_person_gets_no_data_held_from_every_system(federation) -> None:
    _, _, results, outcome = search(federation, "unknown")
    assert set(results) == {"billing", "volt", "recordings", "portal", "avp"}
    for result in results.values():
        assert result.status is SystemStatus.COMPLETE and result.records == []
    assert outcome.counts == {"release": 0, "review": 0, "other_person": 0, "weak_match": 0, "unbound_identifier": 0}


def test_ended_contract_is_flagged_past_retention(federation) -> None:
    person, _, _, outcome = search(federation, "two-contracts")
    pop = federation.population
    (customer,) = pop.customer_of(person.key)
    ended = next(c for c in pop.contracts if c.customer_id == customer.id and c.end_date)
    flagged = {(f.system, f.source, f.key) for f in outcome.findings}
    assert ("billing", "contracts", str(ended.id)) in flagged
    active = next(c for c in pop.contracts if c.customer_id == customer.id and not c.end_date)
    assert ("billing", "contracts", str(active.id)) not in flagged


def test_latvian_customer_is_not_in_the_estonian_hub(federation) -> None:
    _, _, results, _ = search(federation, "latvian")
    assert results["billing"].records
    assert results["avp"].status is SystemStatus.COMPLETE and results["avp"].records == []


def test_a_system_that_is_down_is_reported_failed_not_empty(federation) -> None:
    from sandbox.faults import parse_spec

    federation.board.replace(parse_spec("portal=down"))
    _, _, results, outcome = search(federation, "demo")
    assert results["portal"].status is SystemStatus.FAILED and "portal" in outcome.failed_systems
    assert results["portal"].records == [] and results["portal"].error
    assert outcome.requires_approval


def test_http_clients_share_one_verifying_tls_context() -> None:
    """Building a TLS context loads the CA bundle (~20 ms); clients are built per request and message."""
    import ssl

    from connectors.avp.hub import HubClient
    from connectors.http import ClientCredentials, JsonClient, tls_context

    clients = [JsonClient("a", "https://a.invalid"), JsonClient("b", "https://b.invalid"),
               HubClient("https://hub.invalid", ClientCredentials("https://hub.invalid/token", "id", "secret"))]
    try:
        contexts = {id(c.client._transport._pool._ssl_context) for c in clients}  # type: ignore[attr-defined]
        assert contexts == {id(tls_context())}
        assert tls_context().verify_mode == ssl.CERT_REQUIRED and tls_context().check_hostname
    finally:
        for client in clients:
            client.client.close()
