"""Billing — the dataset connector reading `connectors/dataset/files/billing.yml`, as `systems.yaml` configures
it — against the running sandbox, on SQLite (the federation) and on PostgreSQL.

Expected records are derived from the sandbox population (the ground truth) by the database's
documented matching rules — personal code as issued, customer number, case-insensitive e-mail,
E.164 phone, metering point EIC — never from the connector's own answers. PostgreSQL tests seed
their own schema behind their own fault proxy and board, so every fault kind can be exercised
there; they skip, saying why, when 127.0.0.1:5432 is unreachable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connectors.classification import Disposition, classify
from connectors.contract import Connector, Record
from connectors.dataset import DatasetConnector
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, Strength, normalise
from connectors.registry import systems
from connectors.retention import Period, retention_findings
from connectors.retry import RetryPolicy
from connectors.sql.database import Timeouts, postgresql_url
from sandbox.billing.proxy import BillingProxy
from sandbox.billing.seed import seed_database
from sandbox.faults import FaultBoard, parse_spec
from sandbox.population import CASES, Population
from tests.conftest import PG_URL, postgres_available, requires_postgres

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
PATIENT = RetryPolicy(max_attempts=12, base_delay_s=0.01, max_delay_s=0.05)  # 0.5^12 per query: never all fail
PG_SCHEMA = f"billing_conn_{os.getpid()}"
T = IdentityType
Ref = tuple[str, str]
POSTGRES = pytest.param("postgresql", marks=[pytest.mark.postgres, requires_postgres])
Billing = systems()["billing"].connector_class()  # the class systems.yaml makes of the dataset file


# -- ground truth ---------------------------------------------------------------------------------


def code(value: str) -> str:
    return normalise(T.PERSONAL_CODE, value)


@dataclass
class Truth:
    """The records some identifiers must reach, and which customer each belongs to."""

    strong: set[int]
    weak: set[int]
    owner: dict[Ref, int]

    @property
    def refs(self) -> set[Ref]:
        return set(self.owner)


def truth(pop: Population, identifiers: list[Identifier]) -> Truth:
    want = {(i.type, i.value) for i in identifiers}
    strong: set[int] = set()
    weak: set[int] = set()
    for c in pop.customers:
        if {(T.PERSONAL_CODE, code(c.personal_code)), (T.CUSTOMER_ID, str(c.id))} & want:
            strong.add(c.id)
    for m in pop.metering_points:
        if (T.METERING_POINT_EIC, m.eic) in want:
            strong.add(pop.contract_of_meter(m).customer_id)
    for ct in pop.contacts:
        if (ct.kind == "email" and (T.EMAIL, ct.value.lower()) in want) or \
                (ct.kind == "phone" and (T.PHONE, ct.value) in want):
            weak.add(ct.customer_id)
    weak -= strong
    return Truth(strong, weak, records_of(pop, strong | weak))


def records_of(pop: Population, customer_ids: set[int]) -> dict[Ref, int]:
    """(source, key) -> customer number for everything billing holds on these customers."""
    owner: dict[Ref, int] = {("customers", str(i)): i for i in customer_ids}
    contracts = {c.id: c.customer_id for c in pop.contracts if c.customer_id in customer_ids}
    invoices = {i.id: i.customer_id for i in pop.invoices if i.customer_id in customer_ids}
    debts = {d.id: d.customer_id for d in pop.debts if d.customer_id in customer_ids}
    owner |= {("contacts", str(c.id)): c.customer_id for c in pop.contacts if c.customer_id in customer_ids}
    owner |= {("contracts", str(i)): cid for i, cid in contracts.items()}
    owner |= {("metering_points", str(m.id)): contracts[m.contract_id]
              for m in pop.metering_points if m.contract_id in contracts}
    owner |= {("invoices", str(i)): cid for i, cid in invoices.items()}
    owner |= {("invoice_lines", str(li.id)): invoices[li.invoice_id]
              for li in pop.invoice_lines if li.invoice_id in invoices}
    owner |= {("payments", str(p.id)): p.customer_id for p in pop.payments if p.customer_id in customer_ids}
    owner |= {("debts", str(i)): cid for i, cid in debts.items()}
    owner |= {("collection_steps", str(s.id)): debts[s.debt_id] for s in pop.collection_steps if s.debt_id in debts}
    owner |= {("credit_checks", str(c.id)): c.customer_id for c in pop.credit_checks if c.customer_id in customer_ids}
    return owner


def person_ids(pop: Population, case: str) -> list[Identifier]:
    """What a person would put in a request: personal code, e-mail, phone."""
    person = pop.case(case)
    ids = [Identifier.of(T.PERSONAL_CODE, person.personal_code)]
    if person.email:
        ids.append(Identifier.of(T.EMAIL, person.email))
    if person.phone:
        ids.append(Identifier.of(T.PHONE, person.phone))
    return ids


def refs(records: list[Record]) -> list[Ref]:
    return [(rec.source, rec.key) for rec in records]


def assert_exactly(records: list[Record], expected: Truth) -> None:
    got = refs(records)
    assert len(got) == len(set(got)), "a record was yielded twice"
    assert set(got) == expected.refs
    for rec in records:
        owner = expected.owner[(rec.source, rec.key)]
        assert rec.strength is (Strength.STRONG if owner in expected.strong else Strength.WEAK), rec.ref


# -- fixtures -------------------------------------------------------------------------------------


@dataclass
class PgBilling:
    url: str  # through the proxy
    board: FaultBoard
    proxy: BillingProxy


@pytest.fixture(scope="module")
def pg_billing(federation: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgBilling]:
    if not postgres_available():
        pytest.skip("PostgreSQL is not listening on 127.0.0.1:5432")
    direct = seed_database(federation.population, PG_URL, tmp_path_factory.mktemp("unused") / "billing.sqlite3",
                           schema=PG_SCHEMA)
    upstream = make_url(direct)
    board = FaultBoard(seed=11)
    proxy = BillingProxy(upstream.host or "127.0.0.1", upstream.port or 5432, board)
    proxy.start()
    try:
        yield PgBilling(upstream.set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False),
                        board, proxy)
    finally:
        proxy.stop()
        with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")


@pytest.fixture(scope="module", params=["sqlite", POSTGRES])
def settings(request: pytest.FixtureRequest, federation: Any) -> dict[str, str]:
    if request.param == "sqlite":
        return dict(federation.settings)
    pg: PgBilling = request.getfixturevalue("pg_billing")
    return {**federation.settings, "DSAR_BILLING_DATABASE_URL": pg.url}


@pytest.fixture(scope="module")
def connector(settings: dict[str, str]) -> Iterator[DatasetConnector]:
    built = Billing.from_settings(settings, policy=FAST)
    yield built
    built.close()


@pytest.fixture
def pop(federation: Any) -> Population:
    return federation.population


@pytest.fixture
def pg(pg_billing: PgBilling) -> Iterator[PgBilling]:
    """PostgreSQL billing with no faults before and after the test."""
    pg_billing.board.replace([])
    yield pg_billing
    pg_billing.board.replace([])


def pg_connector(pg: PgBilling, federation: Any, policy: RetryPolicy = FAST, **overrides: Any) -> DatasetConnector:
    return Billing.from_settings({**federation.settings, "DSAR_BILLING_DATABASE_URL": pg.url},
                                          policy=policy, **overrides)


# -- what is found --------------------------------------------------------------------------------


def test_it_is_a_registered_connector(federation: Any) -> None:
    built = systems()["billing"].build(federation.settings)
    try:
        assert isinstance(built, DatasetConnector) and isinstance(built, Connector) and built.system == "billing"
        assert built.accepts == {T.PERSONAL_CODE, T.CUSTOMER_ID, T.EMAIL, T.PHONE, T.METERING_POINT_EIC}
        assert built.reveals == {T.CUSTOMER_ID, T.PERSONAL_CODE, T.EMAIL, T.PHONE, T.METERING_POINT_EIC}
        assert "sqlite" in repr(built) and "file:" not in repr(built)
    finally:
        built.close()


@pytest.mark.parametrize("case", list(CASES))
def test_each_named_person_gets_exactly_what_billing_holds(connector: DatasetConnector, pop: Population,
                                                           case: str) -> None:
    identifiers = person_ids(pop, case)
    expected = truth(pop, identifiers)
    records = list(connector.collect(identifiers))
    assert_exactly(records, expected)
    by_source = {source: {rec.key for rec in records if rec.source == source} for source in connector.sources}
    mine = {c.id for c in pop.customer_of(pop.case(case).key)}
    assert expected.strong == mine  # the person's own customers, found by personal code
    if case in ("volt-only", "portal-only", "unknown"):
        assert records == []
    if case == "household-b":  # no customer of their own; the shared phone reaches household-a's, weakly
        assert expected.weak == {c.id for c in pop.customer_of(pop.case("household-a").key)}
        assert records and all(rec.strength is Strength.WEAK for rec in records)
    if case == "debtor":
        assert len(by_source["debts"]) == 1 and len(by_source["collection_steps"]) == 3
        assert len(by_source["credit_checks"]) == 1
    if case == "sole-trader":
        assert len(by_source["metering_points"]) == 10
    if case == "two-contracts":
        assert len(by_source["contracts"]) == 2


def test_demo_invoice_numbers_equal_the_population(connector: DatasetConnector, pop: Population) -> None:
    demo = pop.case("demo")
    customers = {c.id for c in pop.customer_of(demo.key)}
    records = list(connector.collect([Identifier.of(T.PERSONAL_CODE, demo.personal_code)]))
    numbers = {rec.fields["number"] for rec in records if rec.source == "invoices"}
    assert numbers == {i.number for i in pop.invoices if i.customer_id in customers}
    assert len(numbers) > 30


@pytest.mark.parametrize(("kind", "strength"), [(T.CUSTOMER_ID, Strength.STRONG),
                                                (T.METERING_POINT_EIC, Strength.STRONG),
                                                (T.EMAIL, Strength.WEAK), (T.PHONE, Strength.WEAK)])
def test_each_identifier_type_alone_finds_the_customer(connector: DatasetConnector, pop: Population,
                                                       kind: IdentityType, strength: Strength) -> None:
    demo = pop.case("demo")
    [customer] = pop.customer_of(demo.key)
    value = {T.CUSTOMER_ID: str(customer.id), T.METERING_POINT_EIC: pop.meters_of(customer.id)[1].eic,
             T.EMAIL: (demo.email or "").upper(), T.PHONE: demo.phone or ""}[kind]
    identifier = Identifier.of(kind, value)
    records = list(connector.collect([identifier]))
    assert set(refs(records)) == set(records_of(pop, {customer.id}))
    assert {rec.strength for rec in records} == {strength}
    assert all(rec.matched_by == (identifier,) for rec in records)


def test_a_latvian_code_is_found_whatever_its_written_form(connector: DatasetConnector, pop: Population) -> None:
    latvian = pop.case("latvian")
    assert "-" in latvian.personal_code  # stored as issued, DDMMYY-NNNNN
    [customer] = pop.customer_of(latvian.key)
    for written in (latvian.personal_code, latvian.personal_code.replace("-", ""),
                    f" {latvian.personal_code.replace('-', ' ')} "):
        records = list(connector.collect([Identifier.of(T.PERSONAL_CODE, written)]))
        assert set(refs(records)) == set(records_of(pop, {customer.id}))


def test_every_identifier_that_found_a_record_is_listed(connector: DatasetConnector, pop: Population) -> None:
    identifiers = person_ids(pop, "demo")
    records = list(connector.collect(identifiers))
    assert records and all(set(rec.matched_by) == set(identifiers) for rec in records)


def test_field_values_and_types_equal_the_population(connector: DatasetConnector, pop: Population) -> None:
    rows: dict[str, dict[str, Any]] = {
        name: {str(row.id): row for row in getattr(pop, name)}
        for name in ("customers", "contacts", "contracts", "metering_points", "invoices", "invoice_lines",
                     "payments", "debts", "collection_steps", "credit_checks")}
    checked: set[str] = set()
    for case in ("debtor", "latvian", "sole-trader", "two-contracts"):
        for rec in connector.collect(person_ids(pop, case)):
            row = rows[rec.source][rec.key]
            for name, value in rec.fields.items():
                truth_value = getattr(row, "value" if rec.source == "contacts" and name in
                                      ("email", "phone", "address") else name)
                if isinstance(truth_value, float):
                    assert isinstance(value, Decimal) and float(value) == pytest.approx(truth_value, abs=1e-9)
                elif isinstance(truth_value, datetime):
                    assert value == truth_value and value.tzinfo is not None
                else:
                    assert value == truth_value and type(value) is type(truth_value), (rec.source, name)
            assert set(rec.categories) == set(rec.fields)
            checked.add(rec.source)
    assert checked == set(connector.sources)


def test_event_dates_count_retention_from_the_right_day(connector: DatasetConnector, pop: Population) -> None:
    two = pop.case("two-contracts")
    records = {rec.ref[1:]: rec for rec in connector.collect([Identifier.of(T.PERSONAL_CODE, two.personal_code)])}
    [customer] = pop.customer_of(two.key)
    contracts = [c for c in pop.contracts if c.customer_id == customer.id]
    ended = next(c for c in contracts if c.end_date)
    active = next(c for c in contracts if c.end_date is None)
    assert records[("contracts", str(ended.id))].event_date == ended.end_date
    assert records[("contracts", str(active.id))].event_date is None
    assert records[("customers", str(customer.id))].event_date is None  # a contract is still active
    for m in pop.meters_of(customer.id):
        assert records[("metering_points", str(m.id))].event_date == pop.contract_of_meter(m).end_date
    invoices = {str(i.id): i for i in pop.invoices if i.customer_id == customer.id}
    for rec in records.values():
        if rec.source == "invoices":
            assert rec.event_date == invoices[rec.key].issue_date
        if rec.source == "invoice_lines":
            assert rec.event_date == invoices[str(rec.fields["invoice_id"])].issue_date
        if rec.source == "payments":
            assert rec.event_date == rec.fields["paid_at"].date()
    # The ended contract (4 years ago) is past a 3-year contract retention; the active one is not.
    rules = {("billing", name): source.retention_rule for name, source in connector.sources.items()}
    findings = retention_findings(list(records.values()), rules, {"contract": Period(years=3)}, pop.as_of)
    flagged = {(f.source, f.key) for f in findings}
    assert ("contracts", str(ended.id)) in flagged and ("contracts", str(active.id)) not in flagged


def test_customer_data_counts_from_the_end_of_the_last_contract(connector: DatasetConnector,
                                                                pop: Population) -> None:
    ended = {c.id: c for c in pop.customers
             if (own := [k for k in pop.contracts if k.customer_id == c.id]) and all(k.end_date for k in own)}
    assert ended, "the population has customers whose contracts all ended"
    customer = ended[min(ended)]
    last_end = max(k.end_date for k in pop.contracts if k.customer_id == customer.id and k.end_date)
    records = list(connector.collect([Identifier.of(T.CUSTOMER_ID, str(customer.id))]))
    for rec in records:
        if rec.source in ("customers", "contacts"):
            assert rec.event_date == last_end
    assert {rec.source for rec in records} >= {"customers", "contacts"}


def test_debts_and_credit_checks_carry_their_dates(connector: DatasetConnector, pop: Population) -> None:
    debtor = pop.case("debtor")
    [customer] = pop.customer_of(debtor.key)
    [debt] = [d for d in pop.debts if d.customer_id == customer.id]
    [check] = [c for c in pop.credit_checks if c.customer_id == customer.id]
    records = list(connector.collect([Identifier.of(T.PERSONAL_CODE, debtor.personal_code)]))
    for rec in records:
        if rec.source in ("debts", "collection_steps"):
            assert rec.event_date == debt.since
        if rec.source == "collection_steps":
            assert rec.parent == ("debts", str(debt.id))
        if rec.source == "credit_checks":
            assert rec.event_date == check.checked_at.date()
            assert rec.fields["automated"] is True and rec.fields["logic"]


def test_parents_come_first_and_exist(connector: DatasetConnector, pop: Population) -> None:
    records = list(connector.collect(person_ids(pop, "sole-trader")))
    seen: set[Ref] = set()
    for rec in records:
        if rec.source == "customers":
            assert rec.parent is None
        else:
            assert rec.parent in seen, rec.ref
        seen.add((rec.source, rec.key))


def test_a_household_members_customer_is_someone_elses(connector: DatasetConnector, pop: Population) -> None:
    """household-b's request reaches household-a's customer through the shared phone: never released."""
    hb = pop.case("household-b")
    records = list(connector.collect(person_ids(pop, "household-b")))
    decided = classify(records, code(hb.personal_code))
    assert records and set(decided.values()) == {Disposition.OTHER_PERSON}


def test_unknown_person_yields_an_explicit_empty_result(connector: DatasetConnector, pop: Population) -> None:
    identifiers = person_ids(pop, "unknown")
    assert list(connector.collect(identifiers)) == []
    assert list(connector.discover(identifiers)) == []


def test_collect_reads_nothing_until_asked_and_parents_come_first(connector: DatasetConnector,
                                                                    pop: Population) -> None:
    before = connector.calls_made
    stream = connector.collect([Identifier.of(T.PERSONAL_CODE, pop.case("demo").personal_code)])
    assert connector.calls_made == before  # a generator: building it queries nothing
    first = next(stream)
    assert first.source == "customers" and first.parent is None
    rest = list(stream)
    assert len(rest) > 100
    assert 0 < connector.calls_made - before <= 2 * len(connector.sources)  # a page per collection, not per row


def test_an_impostor_claiming_a_strangers_identifiers_gets_nothing_of_theirs(connector: DatasetConnector,
                                                                            pop: Population) -> None:
    """Someone signs their own request and adds a stranger's customer number and e-mail: every record of
    the stranger's is reached only through claimed identifiers (unbound) and none is released."""
    impostor, stranger = pop.case("impostor"), pop.case("stranger")
    [theirs] = pop.customer_of(stranger.key)
    identifiers = [Identifier.anchor(impostor.personal_code), Identifier.claimed(T.CUSTOMER_ID, str(theirs.id)),
                   Identifier.claimed(T.EMAIL, stranger.email or "")]
    records = list(connector.collect(identifiers))
    strangers = [rec for rec in records if records_of(pop, {theirs.id}).get((rec.source, rec.key)) == theirs.id]
    assert {(rec.source, rec.key) for rec in strangers} == set(records_of(pop, {theirs.id}))
    assert all(rec.strength is Strength.UNBOUND for rec in strangers)
    decided = classify(records, code(impostor.personal_code))
    assert all(decided[rec.ref] is not Disposition.RELEASE for rec in strangers)
    revealed = list(connector.discover(identifiers))
    assert all(not i.expandable for i in revealed if (i.type, i.value) in reveal_truth(pop, {theirs.id}))


def test_small_pages_give_the_same_records(settings: dict[str, str], connector: DatasetConnector,
                                           pop: Population) -> None:
    small = Billing.from_settings(settings, policy=FAST, page_size=7)
    try:
        identifiers = person_ids(pop, "demo") + person_ids(pop, "sole-trader")
        paged = refs(list(small.collect(identifiers)))
        assert sorted(paged) == sorted(refs(list(connector.collect(identifiers))))  # lines follow each page
        assert len(paged) == len(set(paged)) and set(paged) == truth(pop, identifiers).refs
        assert small.calls_made > len(paged) / 7  # it really read in pages of seven
    finally:
        small.close()


def test_types_it_does_not_accept_are_ignored(connector: DatasetConnector) -> None:
    before = connector.calls_made
    assert list(connector.collect([Identifier.of(T.VOLT_ACCOUNT_ID, "100001")])) == []
    assert connector.calls_made == before


# -- what is revealed -----------------------------------------------------------------------------


def reveal_truth(pop: Population, customer_ids: set[int]) -> set[tuple[IdentityType, str]]:
    out: set[tuple[IdentityType, str]] = set()
    for c in pop.customers:
        if c.id in customer_ids:
            out |= {(T.CUSTOMER_ID, str(c.id)), (T.PERSONAL_CODE, code(c.personal_code))}
            out |= {(T.METERING_POINT_EIC, m.eic) for m in pop.meters_of(c.id)}
    for ct in pop.contacts:
        if ct.customer_id in customer_ids and ct.kind in ("email", "phone"):
            out.add((T.EMAIL if ct.kind == "email" else T.PHONE, normalise(T(ct.kind), ct.value)))
    return out


def test_discover_reveals_the_customers_identifiers_with_strength(connector: DatasetConnector,
                                                                  pop: Population) -> None:
    demo = pop.case("demo")
    [customer] = pop.customer_of(demo.key)
    start = Identifier.of(T.PERSONAL_CODE, demo.personal_code)
    found = list(connector.discover([start]))
    assert {(i.type, i.value) for i in found} == reveal_truth(pop, {customer.id})
    assert len(found) == len({(i.type, i.value) for i in found})
    for i in found:
        assert i.strength is (Strength.WEAK if i.type in (T.EMAIL, T.PHONE) else Strength.STRONG)
        assert i.expandable  # revealed by a strong match
        table = {T.EMAIL: "contacts", T.PHONE: "contacts", T.METERING_POINT_EIC: "metering_points"}
        assert i.via == ("request", f"billing.{table.get(i.type, 'customers')}")
    assert {i.value for i in found if i.type is T.METERING_POINT_EIC} == {m.eic for m in pop.meters_of(customer.id)}


def test_discover_through_a_shared_phone_reveals_only_weak_identifiers(connector: DatasetConnector,
                                                                       pop: Population) -> None:
    found = list(connector.discover(person_ids(pop, "household-b")))
    [theirs] = pop.customer_of(pop.case("household-a").key)
    assert {(i.type, i.value) for i in found} == reveal_truth(pop, {theirs.id})
    assert all(i.strength is Strength.WEAK and not i.expandable for i in found)


def test_discover_normalises_a_latvian_code(connector: DatasetConnector, pop: Population) -> None:
    latvian = pop.case("latvian")
    found = list(connector.discover([Identifier.of(T.EMAIL, latvian.email or "")]))
    codes = [i for i in found if i.type is T.PERSONAL_CODE]
    assert [i.value for i in codes] == [latvian.personal_code.replace("-", "")]
    assert codes[0].strength is Strength.WEAK and codes[0].via == ("request", "billing.customers")


# -- hostile identifiers --------------------------------------------------------------------------

NASTY = ["' OR '1'='1", "x%27--", "../../etc/passwd", "a@b.c?x=1&y=2#", "%00", "%", "_", "*", "1 OR 1=1",
         "100001; DROP TABLE customers", "Ω≈ç√∫˜µ≤", "пример@пример.рф", "%@%.%", "99999999999999999999999", "-1",
         "0100001", "38ZEE-%", "\\", "'; --"]


@pytest.mark.parametrize("kind", sorted(Billing.accepts))
def test_metacharacters_in_identifiers_are_harmless(connector: DatasetConnector, kind: IdentityType) -> None:
    # Built directly: the connector must cope even with values that normalisation would refuse.
    identifiers = [Identifier(kind, value, Strength.STRONG) for value in NASTY]
    assert list(connector.collect(identifiers)) == []
    assert list(connector.discover(identifiers)) == []


# -- configuration --------------------------------------------------------------------------------


def test_statement_timeout_joins_the_search_path_instead_of_replacing_it() -> None:
    url = make_url("postgresql://reader:pw@db.example:5432/billing?options=-csearch_path%3Dbilling&sslmode=require")
    built = postgresql_url(url, Timeouts(connect_s=4, statement_s=7.5))
    options = str(built.query["options"])
    assert options.startswith("-csearch_path=billing ") and "-cstatement_timeout=7500" in options
    assert "-cdefault_transaction_read_only=on" in options
    assert built.query["connect_timeout"] == "4" and built.query["sslmode"] == "require"
    assert postgresql_url(url, Timeouts(connect_s=0.5)).query["connect_timeout"] == "2"  # libpq's minimum
    assert built.drivername == "postgresql+psycopg"


def test_bad_settings_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="DSAR_BILLING_DATABASE_URL is missing"):
        Billing.from_settings({})
    with pytest.raises(ValueError, match="postgresql") as refused:
        Billing.from_settings({"DSAR_BILLING_DATABASE_URL": "oracle://root:secret@db/billing"})
    assert "secret" not in str(refused.value)


@pytest.mark.postgres
@requires_postgres
def test_postgresql_sessions_carry_the_timeouts_and_the_search_path(pg: PgBilling, federation: Any) -> None:
    built = pg_connector(pg, federation, timeouts=Timeouts(statement_s=3))
    try:
        with built.db.engine.connect() as conn:
            shown = [conn.exec_driver_sql(f"SHOW {name}").scalar() for name in
                     ("search_path", "statement_timeout", "default_transaction_read_only")]
        assert shown == [PG_SCHEMA, "3s", "on"]
    finally:
        built.close()


# -- faults on SQLite (the federation: down and timeout are what a file can do) ---------------------


def test_sqlite_down_fails_naming_the_system_and_the_connection(clean_faults: Any, pop: Population) -> None:
    built = Billing.from_settings(clean_faults.settings, policy=FAST)
    demo = pop.case("demo")
    try:
        clean_faults.board.replace(parse_spec("billing=down"))
        with pytest.raises(ConnectorError) as failed:
            list(built.collect([Identifier.of(T.PERSONAL_CODE, demo.personal_code)]))
        assert failed.value.system == "billing"
        assert "connection failed" in failed.value.cause and "3 attempts" in failed.value.cause
        assert demo.personal_code not in str(failed.value)
        clean_faults.board.replace([])
        assert list(built.collect([Identifier.of(T.PERSONAL_CODE, demo.personal_code)]))
    finally:
        built.close()


def test_sqlite_timeout_fails_within_the_busy_timeout(clean_faults: Any, pop: Population) -> None:
    built = Billing.from_settings(clean_faults.settings, policy=FAST, timeouts=Timeouts(sqlite_busy_s=0.2))
    try:
        clean_faults.board.replace(parse_spec("billing=timeout"))
        start = time.perf_counter()
        with pytest.raises(ConnectorError) as failed:
            list(built.discover([Identifier.of(T.EMAIL, pop.case("demo").email or "")]))
        elapsed = time.perf_counter() - start
        assert failed.value.system == "billing" and "timeout" in failed.value.cause
        assert 0.6 <= elapsed < 5  # three waits of the busy timeout, then the clear answer
    finally:
        built.close()


# -- faults on PostgreSQL (the wire proxy can do every kind) -----------------------------------------

def many(pop: Population) -> list[Identifier]:
    return person_ids(pop, "demo") + person_ids(pop, "debtor") + person_ids(pop, "sole-trader")


@pytest.mark.postgres
@requires_postgres
def test_pg_latency_is_slower_but_complete(pg: PgBilling, federation: Any, pop: Population) -> None:
    built = pg_connector(pg, federation)
    try:
        pg.board.replace(parse_spec("billing=latency:0.05"))
        start = time.perf_counter()
        records = list(built.collect(person_ids(pop, "debtor")))
        assert time.perf_counter() - start >= 0.05 * built.calls_made
        assert_exactly(records, truth(pop, person_ids(pop, "debtor")))
    finally:
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_error_always_fails_after_bounded_retries(pg: PgBilling, federation: Any, pop: Population) -> None:
    built = pg_connector(pg, federation)
    demo = pop.case("demo")
    try:
        pg.board.replace(parse_spec("billing=error:1.0"))
        with pytest.raises(ConnectorError) as failed:
            list(built.collect([Identifier.of(T.PERSONAL_CODE, demo.personal_code)]))
        assert failed.value.system == "billing"
        assert "gave up after 3 attempts" in failed.value.cause and "57P01" in failed.value.cause
        assert built.calls_made == 3 and demo.personal_code not in str(failed.value)
    finally:
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_error_sometimes_is_retried_to_completion(pg: PgBilling, federation: Any, pop: Population) -> None:
    built = pg_connector(pg, federation, PATIENT, page_size=50)
    try:
        expected = truth(pop, many(pop))
        # A clean run first: it counts the queries, and the dialect's one-time set-up (three queries on
        # the first connection) is behind us, as in a running pipeline.
        assert_exactly(list(built.collect(many(pop))), expected)
        clean_calls = built.calls_made
        pg.board.replace(parse_spec("billing=error:0.3"))
        assert_exactly(list(built.collect(many(pop))), expected)
        assert built.calls_made - clean_calls > clean_calls  # some queries were killed and asked again
    finally:
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_too_many_connections_is_waited_out(pg: PgBilling, federation: Any, pop: Population) -> None:
    clean = pg_connector(pg, federation)
    built = pg_connector(pg, federation, RetryPolicy(max_attempts=5, base_delay_s=0.01, max_delay_s=0.05))
    try:
        expected = truth(pop, person_ids(pop, "latvian"))
        assert_exactly(list(clean.collect(person_ids(pop, "latvian"))), expected)
        pg.board.replace(parse_spec("billing=ratelimit:3"))  # the first three connection attempts are refused
        assert_exactly(list(built.collect(person_ids(pop, "latvian"))), expected)
        assert built.calls_made == clean.calls_made + 3  # then the pooled connection serves the rest
    finally:
        clean.close()
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_too_many_connections_for_too_long_fails_clearly(pg: PgBilling, federation: Any,
                                                            pop: Population) -> None:
    built = pg_connector(pg, federation)
    try:
        pg.board.replace(parse_spec("billing=ratelimit:5"))
        with pytest.raises(ConnectorError, match="too many connections"):
            list(built.collect(person_ids(pop, "latvian")))
    finally:
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_server_that_stops_answering_hits_the_client_deadline(pg: PgBilling, federation: Any,
                                                                 pop: Population) -> None:
    built = pg_connector(pg, federation, RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05),
                         timeouts=Timeouts(connect_s=1, deadline_s=0.5))
    demo = pop.case("demo")
    try:
        assert list(built.discover([Identifier.of(T.PERSONAL_CODE, demo.personal_code)]))  # a pooled connection
        pg.board.replace(parse_spec("billing=timeout:60"))  # held for a minute unless the client gives up
        start = time.perf_counter()
        with pytest.raises(ConnectorError) as failed:
            list(built.discover([Identifier.of(T.PERSONAL_CODE, demo.personal_code)]))
        elapsed = time.perf_counter() - start
        assert failed.value.system == "billing" and "timeout" in failed.value.cause
        assert elapsed < 10  # two attempts: deadline 0.5 s on the pooled connection, 2 s connect timeouts
    finally:
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_truncated_answers_always_fail_and_nothing_partial_is_returned(pg: PgBilling, federation: Any,
                                                                          pop: Population) -> None:
    built = pg_connector(pg, federation)
    got: list[Record] = []
    try:
        pg.board.replace(parse_spec("billing=truncate:1.0"))
        with pytest.raises(ConnectorError) as failed:
            got.extend(built.collect(person_ids(pop, "demo")))
        assert "before the whole answer arrived" in failed.value.cause and "3 attempts" in failed.value.cause
        assert got == []
    finally:
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_truncated_answers_are_retried_to_completion(pg: PgBilling, federation: Any, pop: Population) -> None:
    built = pg_connector(pg, federation, PATIENT, page_size=50)
    try:
        expected = truth(pop, many(pop))
        assert_exactly(list(built.collect(many(pop))), expected)  # counts the queries (see the error test)
        clean_calls = built.calls_made
        pg.board.replace(parse_spec("billing=truncate:0.5"))
        assert_exactly(list(built.collect(many(pop))), expected)
        assert built.calls_made - clean_calls > clean_calls  # cut answers were asked for again
    finally:
        built.close()


@pytest.mark.postgres
@requires_postgres
def test_pg_down_fails_naming_the_connection_then_recovers(pg: PgBilling, federation: Any,
                                                           pop: Population) -> None:
    built = pg_connector(pg, federation)
    try:
        assert list(built.discover(person_ids(pop, "demo")))  # a pooled connection, then the server goes away
        pg.board.replace(parse_spec("billing=down"))
        with pytest.raises(ConnectorError) as failed:
            list(built.collect(person_ids(pop, "demo")))
        assert failed.value.system == "billing" and "connection failed" in failed.value.cause
        pg.board.replace([])
        assert_exactly(list(built.collect(person_ids(pop, "demo"))), truth(pop, person_ids(pop, "demo")))
    finally:
        built.close()


def test_no_personal_value_reaches_an_error_message(clean_faults: Any, pop: Population) -> None:
    """Failures name the system, the operation and the cause: no identifier, no URL, no file path."""
    built = Billing.from_settings(clean_faults.settings, policy=FAST)
    try:
        clean_faults.board.replace(parse_spec("billing=down"))
        demo = pop.case("demo")
        with pytest.raises(ConnectorError) as failed:
            list(built.collect(person_ids(pop, "demo")))
        message = str(failed.value)
        for value in (demo.personal_code, demo.email or "", demo.phone or "", "file:", "sqlite"):
            assert value and value not in message
        assert message.startswith("billing: ")
    finally:
        built.close()


def test_retrieved_at_is_recent_and_aware(connector: DatasetConnector, pop: Population) -> None:
    before = datetime.now(UTC)
    records = list(connector.collect([Identifier.of(T.PERSONAL_CODE, pop.case("latvian").personal_code)]))
    assert records and all(before <= rec.retrieved_at <= datetime.now(UTC) for rec in records)
    assert all(isinstance(rec.event_date, date | type(None)) for rec in records)

