"""The proof for issue 15, part 2: the dataset connector, driven by `connectors/dataset/files/billing.yml`,
returns exactly what the hand-written BillingConnector returns, for every named sandbox person.

Same records (source, key), same field values and types, same categories, the same identifiers with
the same strength and path in `matched_by` and `reveals`, the same parent and event date; `discover`
reveals the same identifiers. On the sandbox's SQLite file and on PostgreSQL (its own schema).
The ground truth of what billing must return is tests/connectors/test_billing.py's; this shows the two
connectors cannot be told apart, which is what lets the hand-written walk go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.billing import BillingConnector
from connectors.classification import Disposition, classify
from connectors.contract import Connector, Record
from connectors.dataset import DatasetConnector
from connectors.identity import Identifier, IdentityType, Strength
from connectors.retry import RetryPolicy
from sandbox.billing.seed import seed_database
from sandbox.population import CASES, Population, generate
from tests.conftest import PG_URL, postgres_available
from tests.connectors.test_billing import code, person_ids, truth

T = IdentityType
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
DATASET = Path(__file__).resolve().parents[2] / "connectors" / "dataset" / "files" / "billing.yml"
PG_SCHEMA = f"billing_ds_{os.getpid()}"


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(size=120)  # the federation's own population (tests/conftest.py), without its services


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, population: Population,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BillingConnector, DatasetConnector]]:
    sqlite_path = tmp_path_factory.mktemp("billing") / "billing.sqlite3"
    if request.param == "postgresql":
        if not postgres_available():
            pytest.skip("PostgreSQL is not listening on 127.0.0.1:5432")
        url = seed_database(population, PG_URL, sqlite_path, schema=PG_SCHEMA)
    else:
        url = seed_database(population, None, sqlite_path)
    settings = {"DSAR_BILLING_DATABASE_URL": url}
    billing = BillingConnector.from_settings(settings, policy=FAST)
    dataset = DatasetConnector.from_settings(settings, dataset=DATASET, system="billing", policy=FAST)
    yield billing, dataset
    billing.close()
    dataset.close()
    if request.param == "postgresql":
        with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")


def signature(identifier: Identifier) -> tuple[Any, ...]:
    return (identifier.type, identifier.value, identifier.strength, identifier.expandable, identifier.via)


def record_signature(rec: Record) -> dict[str, Any]:
    return {"fields": rec.fields, "types": {k: type(v) for k, v in rec.fields.items()}, "categories": rec.categories,
            "matched_by": {signature(i) for i in rec.matched_by}, "reveals": {signature(i) for i in rec.reveals},
            "event_date": rec.event_date, "parent": rec.parent, "system": rec.system}


def assert_same(billing: Connector, dataset: Connector, identifiers: list[Identifier]) -> list[Record]:
    expected = {rec.ref: rec for rec in billing.collect(identifiers)}
    got = list(dataset.collect(identifiers))
    assert len(got) == len({rec.ref for rec in got}), "a record was yielded twice"
    assert {rec.ref for rec in got} == set(expected)
    for rec in got:
        assert record_signature(rec) == record_signature(expected[rec.ref]), rec.ref
    assert {signature(i) for i in dataset.discover(identifiers)} == \
        {signature(i) for i in billing.discover(identifiers)}
    return got


def test_the_dataset_declares_what_billing_declares(pair: tuple[BillingConnector, DatasetConnector]) -> None:
    billing, dataset = pair
    assert isinstance(dataset, Connector) and dataset.system == "billing"
    assert dataset.accepts == billing.accepts and dataset.reveals == billing.reveals
    assert {name: (dict(s.fields), s.retention_rule) for name, s in dataset.sources.items()} == \
        {name: (dict(s.fields), s.retention_rule) for name, s in billing.sources.items()}
    assert "file:" not in repr(dataset) and "postgres@" not in repr(dataset)


@pytest.mark.parametrize("case", list(CASES))
def test_every_named_person_gets_the_same_records(pair: tuple[BillingConnector, DatasetConnector],
                                                  population: Population, case: str) -> None:
    identifiers = person_ids(population, case)
    got = assert_same(*pair, identifiers)
    assert {(rec.source, rec.key) for rec in got} == truth(population, identifiers).refs  # and it is the truth


@pytest.mark.parametrize("kind", [T.CUSTOMER_ID, T.METERING_POINT_EIC, T.EMAIL, T.PHONE])
def test_each_identifier_type_alone(pair: tuple[BillingConnector, DatasetConnector], population: Population,
                                    kind: IdentityType) -> None:
    demo = population.case("demo")
    [customer] = population.customer_of(demo.key)
    value = {T.CUSTOMER_ID: str(customer.id), T.METERING_POINT_EIC: population.meters_of(customer.id)[0].eic,
             T.EMAIL: (demo.email or "").upper(), T.PHONE: demo.phone or ""}[kind]
    assert assert_same(*pair, [Identifier.of(kind, value)])


def test_a_latvian_code_in_every_written_form(pair: tuple[BillingConnector, DatasetConnector],
                                             population: Population) -> None:
    latvian = population.case("latvian").personal_code
    assert "-" in latvian
    for written in (latvian, latvian.replace("-", ""), f" {latvian.replace('-', ' ')} "):
        assert assert_same(*pair, [Identifier.of(T.PERSONAL_CODE, written)])


def test_an_impostor_claiming_a_strangers_customer_number(pair: tuple[BillingConnector, DatasetConnector],
                                                          population: Population) -> None:
    impostor, stranger = population.case("impostor"), population.case("stranger")
    [theirs] = population.customer_of(stranger.key)
    identifiers = [Identifier.anchor(impostor.personal_code), Identifier.claimed(T.CUSTOMER_ID, str(theirs.id)),
                   Identifier.claimed(T.EMAIL, stranger.email or "")]
    got = assert_same(*pair, identifiers)
    strangers = [rec for rec in got if rec.ref[1:] == ("customers", str(theirs.id)) or rec.parent == (
        "customers", str(theirs.id))]
    assert strangers and all(rec.strength is Strength.UNBOUND for rec in strangers)
    decided = classify(got, code(impostor.personal_code))
    assert all(decided[rec.ref] is not Disposition.RELEASE for rec in strangers)
