"""Impersonation at the domain level: a person signs their own request and adds a stranger's identifier.

The eID signature proves who the requester is, not that every identifier they type is theirs. For
each identity type a ticket can carry, the sandbox's "impostor" names one of the "stranger"'s values
next to their own personal code; the sandbox's ground truth (the stranger's values and call ids) is
then looked for in every record the pipeline would release without the DPO. Nothing of the stranger
may be among them, the request must wait for the DPO whenever the stranger's data was reached, and
the impostor's own records must still be released (refusing honest people is no safety).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from connectors.classification import Disposition, ReviewCause, personal_codes, review_cause
from connectors.contract import Record
from connectors.identity import Identifier, Strength
from connectors.resolution import IdentityGraph
from dsar_pipeline.collection.collect import SystemResult, SystemStatus
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.review.findings import ReviewOutcome, review
from sandbox.people import named_people
from tests.identifiers import collect_everything, ticket_identifiers

HOLDING_REASONS = {"unbound_identifier", "other_person"}


@dataclass(frozen=True)
class Search:
    """One request searched end to end in process: the graph, what each system gave, the review."""

    identifiers: tuple[Identifier, ...]
    graph: IdentityGraph
    results: Mapping[str, SystemResult]
    outcome: ReviewOutcome

    @property
    def records(self) -> list[Record]:
        return [r for res in self.results.values() for r in res.records]

    def disposition(self, record: Record) -> Disposition:
        return self.outcome.dispositions[record.ref]

    def released(self) -> list[Record]:
        return [r for r in self.records if self.disposition(r) is Disposition.RELEASE]


@pytest.fixture(autouse=True)
def _no_faults(clean_faults, monkeypatch: pytest.MonkeyPatch):
    """No faults, and the default release policy, so `requires_approval` reflects the matches alone."""
    monkeypatch.delenv("DSAR_RELEASE_POLICY", raising=False)
    return clean_faults


@pytest.fixture(scope="module")
def named(federation) -> dict[str, dict[str, Any]]:
    """What each named person would know of themselves (as a web form would be filled in)."""
    return {p["name"]: p for p in named_people(population=federation.population)}


def search(federation, identities: Iterable[tuple[str, str]], verification: str = "verified") -> Search:
    """Resolve and collect `identities` (ticket types) across all five systems, then review them."""
    identifiers = ticket_identifiers(identities)
    graph, results = collect_everything(federation.settings, identifiers)
    assert all(r.status is SystemStatus.COMPLETE for r in results.values()), \
        "a failed system would hold the request for another reason and hide what this test looks at"
    facts = RequestFacts(
        request_id="r-impersonation", subject_request_id="t", controller="enefit-ee", language="en",
        request_type="access", identifiers=identifiers, delivery_email=None, delivery_phone=None,
        certificate_der=None, received_date=date(2026, 11, 1), due_date=date(2026, 12, 1),
        verification=verification, verification_reason=None, callback_urls=())
    return Search(identifiers, graph, results, review(facts, graph, results, today=federation.population.as_of))


def stranger_values(federation, person: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(substrings, exact values) that are the stranger's by ground truth.

    Long, distinctive values are looked for inside every field; the customer number is short and
    numeric (it could sit inside an invoice number), so it must equal a whole field.
    """
    population = federation.population
    key = population.case(str(person["name"])).key
    calls = {c.id for c in population.calls if c.person_key == key}
    phone = str(person["phone"])
    long_values = {str(person["personal_code"]), str(person["email"]).lower(), phone, phone.removeprefix("+372"),
                   *map(str, person["metering_point_eics"]), str(person["customer_eic"]),
                   str(person["volt_account_id"]), str(person["portal_username"]), *calls}
    assert calls and all(long_values), "the stranger must have data of every kind for the test to mean anything"
    return long_values, {str(person["customer_id"])}


def strangers_records(found: Search, values: tuple[set[str], set[str]]) -> set[tuple[str, str, str]]:
    """Refs of every record holding one of the stranger's values, and of every record belonging to one
    (an invoice line of the stranger's invoice holds nothing of them but is theirs all the same)."""
    long_values, exact = values
    refs = set()
    for record in found.records:
        texts = [str(v).lower() for v in record.fields.values() if v is not None]
        if any(t in exact for t in texts) or any(v in t for t in texts for v in long_values):
            refs.add(record.ref)
    grew = True
    while grew:
        grew = False
        for record in found.records:
            if record.parent and record.ref not in refs and (record.system, *record.parent) in refs:
                refs.add(record.ref)
                grew = True
    return refs


def impostor_plus(named: Mapping[str, Mapping[str, Any]], extra: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The impostor's own identities as the web form fills them in, plus `extra`."""
    own = named["impostor"]
    return [("personal_code", str(own["personal_code"])), ("email", str(own["email"])),
            ("phone", str(own["phone"])), ("customer_number", str(own["customer_id"])), *extra]


def record(found: Search, system: str, source: str, key: str) -> Record:
    """The one record of that ref (exactly one: a missing record must fail, not pass vacuously)."""
    (match,) = [r for r in found.results[system].records if r.source == source and r.key == key]
    return match


def assert_own_records_released(found: Search, own: Mapping[str, Any]) -> None:
    """The impostor's billing customer, portal account and hub customer go out without the DPO."""
    assert found.disposition(record(found, "billing", "customers", str(own["customer_id"]))) is Disposition.RELEASE
    assert found.disposition(record(found, "portal", "users", str(own["portal_username"]))) is Disposition.RELEASE
    assert found.disposition(record(found, "avp", "customer", str(own["customer_eic"]))) is Disposition.RELEASE


CLAIMABLE = ("email", "phone", "customer_number", "metering_point_eic", "customer_eic", "volt_account_id",
             "portal_username")


def claim_value(stranger: Mapping[str, Any], kind: str) -> str:
    """The stranger's value of one ticket identity type."""
    if kind == "customer_number":
        return str(stranger["customer_id"])
    if kind == "metering_point_eic":
        return str(stranger["metering_point_eics"][0])
    return str(stranger[kind])


@pytest.mark.parametrize("kind", CLAIMABLE)
def test_a_strangers_identifier_in_a_signed_request_releases_nothing_of_theirs(federation, named, kind) -> None:
    stranger = named["stranger"]
    found = search(federation, impostor_plus(named, [(kind, claim_value(stranger, kind))]))
    theirs = strangers_records(found, stranger_values(federation, stranger))
    leaked = sorted({(system, source) for system, source, key in theirs
                     if found.outcome.dispositions[(system, source, key)] is Disposition.RELEASE})
    assert not leaked, f"the stranger's records released through a claimed {kind}: {leaked}"
    assert theirs, f"a claimed {kind} is searched, so the stranger's data must be reached (and then held)"
    assert found.outcome.requires_approval
    assert HOLDING_REASONS & set(found.outcome.reasons), found.outcome.reasons
    held = [r for r in found.records if r.ref in theirs and found.disposition(r) is Disposition.REVIEW]
    assert all(review_cause(r) is ReviewCause.UNBOUND_IDENTIFIER for r in held), \
        "a claim is unbound whatever its type; a weak_match cause would let a DPO take it for a household"
    holding_a_code = [r for r in found.records if r.ref in theirs and personal_codes(r)]
    assert all(found.disposition(r) is Disposition.OTHER_PERSON for r in holding_a_code)
    assert_own_records_released(found, named["impostor"])


def test_a_strangers_personal_code_is_refused_at_intake_and_claims_stay_unbound(named) -> None:
    """The one type not searched as a claim: a second personal code never gets past the ticket; every
    other identity the real ticket builds is unbound, the anchor being the signer's own code."""
    from datetime import UTC, datetime

    from dsar_pipeline.intake import parse_ticket
    from dsar_pipeline.intake.errors import TicketError
    from harness.ticket_example import ticket_for

    own, stranger = named["impostor"], named["stranger"]
    now = datetime.now(UTC)
    second_code = ticket_for(own, "enefit-ee", now=now, identities=[("personal_code", str(stranger["personal_code"]))])
    with pytest.raises(TicketError, match="only one personal code") as refused:
        parse_ticket(json.dumps(second_code).encode(), request_id_key=b"k" * 32)
    assert str(stranger["personal_code"]) not in str(refused.value)
    claims = [(kind, claim_value(stranger, kind)) for kind in CLAIMABLE]
    ticket = parse_ticket(json.dumps(ticket_for(own, "enefit-ee", now=now, identities=claims)).encode(),
                          request_id_key=b"k" * 32)
    anchors = [i for i in ticket.identifiers if i.type.value == "personal_code"]
    assert [a.value for a in anchors] == [str(own["personal_code"])] and anchors[0].is_strong
    assert all(i.strength is Strength.UNBOUND for i in ticket.identifiers if i not in anchors)


def test_the_honest_request_is_released_without_the_dpo(federation, named) -> None:
    stranger = named["stranger"]
    found = search(federation, impostor_plus(named, []))
    assert not strangers_records(found, stranger_values(federation, stranger))
    assert found.outcome.counts["review"] == 0 and found.outcome.counts["other_person"] == 0
    assert found.outcome.requires_approval is False and found.outcome.reasons == []
    assert_own_records_released(found, named["impostor"])
    assert found.outcome.counts["release"] == len(found.records) > 0


def test_the_same_honest_request_unverified_still_waits_for_the_dpo(federation, named) -> None:
    """The anchor of a request awaiting manual verification is only what it names: the DPO confirms it."""
    found = search(federation, impostor_plus(named, []), verification="needs_manual_verification")
    assert found.outcome.requires_approval and found.outcome.reasons == ["identity_not_verified"]


def test_a_request_naming_only_the_strangers_identifiers_releases_nothing(federation, named) -> None:
    """No personal code, no anchor: nothing can bind the claims, so nothing goes out on its own."""
    stranger = named["stranger"]
    found = search(federation, [("customer_number", str(stranger["customer_id"])), ("email", str(stranger["email"]))],
                   verification="needs_manual_verification")
    theirs = strangers_records(found, stranger_values(federation, stranger))
    assert theirs, "the claims are searched, so the stranger's data must be reached (and then held)"
    assert found.outcome.counts["release"] == 0 and not found.released()
    assert all(found.disposition(r) is Disposition.OTHER_PERSON for r in found.records if personal_codes(r))
    assert found.outcome.requires_approval and set(found.outcome.reasons) >= HOLDING_REASONS


def test_the_strangers_customer_number_beside_the_impostors_own_email_releases_nothing_of_the_stranger(
        federation, named) -> None:
    """The impostor's real e-mail (bound through the anchor) must not lend its strength to a claim next to it."""
    stranger, own = named["stranger"], named["impostor"]
    found = search(federation, [("personal_code", str(own["personal_code"])), ("email", str(own["email"])),
                                ("customer_number", str(stranger["customer_id"]))])
    theirs = strangers_records(found, stranger_values(federation, stranger))
    assert theirs
    assert not [r.ref for r in found.released() if r.ref in theirs]
    assert found.outcome.requires_approval and HOLDING_REASONS & set(found.outcome.reasons)
    assert found.disposition(record(found, "billing", "customers", str(own["customer_id"]))) is Disposition.RELEASE


def test_the_impostors_own_customer_number_is_bound_through_the_anchor(federation, named) -> None:
    """A claim the anchor's own path reaches is theirs: their billing is released, not held as unbound."""
    own = named["impostor"]
    found = search(federation, [("personal_code", str(own["personal_code"])),
                                ("customer_number", str(own["customer_id"]))])
    billing = found.results["billing"].records
    assert billing and {found.disposition(r) for r in billing} == {Disposition.RELEASE}
    customer = record(found, "billing", "customers", str(own["customer_id"]))
    assert customer.strength is Strength.STRONG
    assert found.outcome.counts["unbound_identifier"] == 0 and not found.outcome.requires_approval
