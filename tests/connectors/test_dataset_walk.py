"""The dataset connector's walk on PostgreSQL, MariaDB and SQLite, against a schema written to be awkward.

Table and column names that need quoting (`Person Data`, `Email`, `order`, `select`), a reference
cycle, a composite primary key read in keyset pages of two, identity values full of SQL
metacharacters, an identifier a row reveals (a phone another person shares) that must not be followed,
and an impostor who adds a stranger's account number: the stranger's rows are reached only through
that claim, so they carry it alone (unbound) and the pipeline's classification withholds them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from connectors.classification import Disposition, classify
from connectors.dataset import DatasetConnector, DatasetInvalid, load_plan
from connectors.dataset.watchdog import SharedDeadline
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, Strength
from connectors.retry import RetryPolicy
from connectors.sql.database import Timeouts
from tests.connectors.dataset_databases import BACKENDS, fresh_database

T = IdentityType
FAST = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05)
ANCHOR, STRANGER, QUOTED, NEIGHBOUR = "38001010014", "48002020025", "37003030036", "49004040047"
SHARED_PHONE = "+37255512345"


def field(name: str, category: str, **meta: Any) -> dict[str, Any]:
    return {"name": name, "data_categories": [category], "fides_meta": {"data_type": "string", **meta}}


def key(name: str = "id", category: str = "system.operations", **meta: Any) -> dict[str, Any]:
    return field(name, category, **{"primary_key": True, "data_type": "integer", **meta})


def ref(target: str, direction: str | None = None) -> list[dict[str, str]]:
    return [{"dataset": "awkward", "field": target, **({"direction": direction} if direction else {})}]


DATASET: dict[str, Any] = {"dataset": [{
    "fides_key": "awkward", "name": "Awkward CRM",
    "collections": [
        {"name": "Person Data", "fields": [
            key(),
            field("code", "user.government_id.national_identification_number", identity="personal_code"),
            field("Email", "user.contact.email", identity="email", dsar={"compare": "lower"}),
            field("phone", "user.contact.phone_number", dsar={"reveals": "phone_number"}),
            field("select", "user.name"),
        ]},
        {"name": "order", "fides_meta": {"dsar": {"parent": "person_id", "event_date": "placed"}}, "fields": [
            key(),
            field("person_id", "user.unique_id", data_type="integer", references=ref("Person Data.id")),
            field("placed", "user.behavior.purchase_history", dsar={"type": "date"}),
        ]},
        {"name": "line", "fides_meta": {"dsar": {"parent": "order_id", "event_date": "order_id.placed"}}, "fields": [
            key("order_id", references=ref("order.id", "from")),
            key("line_no"),
            field("amount", "user.financial", dsar={"type": "decimal", "scale": 2}),
        ]},
        {"name": "loop_a", "fields": [
            key(),
            field("person_id", "system.operations", data_type="integer", references=ref("Person Data.id", "from")),
            field("b_id", "system.operations", data_type="integer", references=ref("loop_b.id")),
        ]},
        {"name": "loop_b", "fields": [
            key(),
            field("a_id", "system.operations", data_type="integer", references=ref("loop_a.id")),
        ]},
        {"name": "account", "fides_meta": {"dsar": {"parent": "person_id"}}, "fields": [
            key("number", "user.unique_id", identity="customer_number"),
            field("person_id", "system.operations", data_type="integer", references=ref("Person Data.id")),
        ]},
    ]}]}


def create(url: str) -> None:
    metadata = sa.MetaData()
    text = sa.String(120)
    person = sa.Table("Person Data", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("code", text, index=True), sa.Column("Email", text, index=True),
                      sa.Column("phone", text), sa.Column("select", text))
    order = sa.Table("order", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("person_id", sa.Integer, index=True), sa.Column("placed", sa.Date))
    line = sa.Table("line", metadata, sa.Column("order_id", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("amount", sa.Numeric(10, 2)))
    loop_a = sa.Table("loop_a", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("person_id", sa.Integer, index=True), sa.Column("b_id", sa.Integer, index=True))
    loop_b = sa.Table("loop_b", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("a_id", sa.Integer, index=True))
    account = sa.Table("account", metadata, sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
                       sa.Column("person_id", sa.Integer, index=True))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(person.insert(), [
            {"id": 1, "code": ANCHOR, "Email": "Anna@Example.ee", "phone": SHARED_PHONE, "select": "Anna"},
            {"id": 2, "code": STRANGER, "Email": "stranger@example.ee", "phone": "+37255500002", "select": "Sten"},
            {"id": 3, "code": QUOTED, "Email": "O'Brien;--@Example.com", "phone": None, "select": "Ó Briain"},
            {"id": 4, "code": NEIGHBOUR, "Email": "neighbour@example.ee", "phone": SHARED_PHONE, "select": "Naaber"}])
        conn.execute(order.insert(), [{"id": i, "person_id": 1 if i <= 2 else 2, "placed": date(2025, i, 1)}
                                      for i in range(1, 5)])
        conn.execute(line.insert(), [{"order_id": o, "line_no": n, "amount": Decimal(f"{o}.{n}0")}
                                     for o in range(1, 5) for n in range(1, 4)])
        conn.execute(loop_a.insert(), [{"id": 1, "person_id": 1, "b_id": 1}, {"id": 2, "person_id": 2, "b_id": 2}])
        conn.execute(loop_b.insert(), [{"id": 1, "a_id": 1}, {"id": 2, "a_id": 2}])
        conn.execute(account.insert(), [{"number": 5001, "person_id": 1}, {"number": 5002, "person_id": 2}])
    engine.dispose()


@pytest.fixture(scope="module")
def dataset_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dataset") / "awkward.yml"
    path.write_text(yaml.safe_dump(DATASET, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(back end, URL to write with, URL the connector reads) of a database holding the awkward schema."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as (write_url, read_url):
        create(write_url)
        yield request.param, write_url, read_url


@pytest.fixture(scope="module")
def connector(database: tuple[str, str, str], dataset_file: Path) -> Iterator[DatasetConnector]:
    built = DatasetConnector.from_settings({"DSAR_AWKWARD_DATABASE_URL": database[2]}, dataset=dataset_file,
                                           policy=FAST, page_size=2)
    yield built
    built.close()


def refs(records: list[Any]) -> set[tuple[str, str]]:
    return {(rec.source, rec.key) for rec in records}


ANNAS = {("Person Data", "1"), ("order", "1"), ("order", "2"), *(("line", f"[{o}, {n}]") for o in (1, 2)
                                                                    for n in (1, 2, 3)),
         ("loop_a", "1"), ("loop_b", "1"), ("account", "5001")}
STRANGERS = {("Person Data", "2"), ("order", "3"), ("order", "4"), *(("line", f"[{o}, {n}]") for o in (3, 4)
                                                                     for n in (1, 2, 3)),
             ("loop_a", "2"), ("loop_b", "2"), ("account", "5002")}


def test_the_walk_follows_references_through_a_cycle_and_keyset_pages(connector: DatasetConnector) -> None:
    records = list(connector.collect([Identifier.anchor(ANCHOR)]))
    assert refs(records) == ANNAS
    assert len(records) == len(ANNAS), "a record was yielded twice"
    # Strength passes whole along `parent` references only: the loop tables declare none, so what is
    # reached through them waits for the DPO.
    assert {(rec.source, rec.strength) for rec in records} == {
        ("Person Data", Strength.STRONG), ("order", Strength.STRONG), ("line", Strength.STRONG),
        ("account", Strength.STRONG), ("loop_a", Strength.WEAK), ("loop_b", Strength.WEAK)}
    by_ref = {(rec.source, rec.key): rec for rec in records}
    person = by_ref[("Person Data", "1")]
    assert person.fields == {"id": 1, "code": ANCHOR, "Email": "Anna@Example.ee", "phone": SHARED_PHONE,
                             "select": "Anna"}
    assert person.categories["select"] == "user.name"
    line = by_ref[("line", "[2, 3]")]
    assert str(line.fields["amount"]) == "2.30" and line.parent == ("order", "2")
    assert line.event_date == by_ref[("order", "2")].fields["placed"] == by_ref[("order", "2")].event_date
    assert by_ref[("order", "1")].parent == ("Person Data", "1")
    assert connector.calls_made < 40  # bounded: each (collection, field, value) asked once


def test_a_revealed_identifier_is_reported_not_followed(connector: DatasetConnector) -> None:
    records = list(connector.collect([Identifier.anchor(ANCHOR)]))
    assert ("Person Data", "4") not in refs(records)  # the neighbour shares the phone: not reached
    revealed = {(i.type, i.value): i for i in connector.discover([Identifier.anchor(ANCHOR)])}
    phone = revealed[(T.PHONE, SHARED_PHONE)]
    assert phone.strength is Strength.WEAK and phone.via[-1] == "awkward.Person Data"
    assert revealed[(T.CUSTOMER_ID, "5001")].strength is Strength.STRONG
    assert revealed[(T.EMAIL, "anna@example.ee")].strength is Strength.WEAK


@pytest.mark.parametrize("value", ["1' OR '1'='1", "1; DROP TABLE \"order\"; --", "%", "\\' OR 1=1 #",
                                   "38001010014' UNION SELECT 1 --"])
def test_sql_metacharacters_in_an_identity_are_only_values(connector: DatasetConnector, value: str) -> None:
    assert list(connector.collect([Identifier.of(T.PERSONAL_CODE, value)])) == []
    assert list(connector.collect([Identifier.of(T.CUSTOMER_ID, value)])) == []
    assert refs(list(connector.collect([Identifier.anchor(ANCHOR)]))) == ANNAS  # every table still there


def test_an_email_full_of_metacharacters_finds_its_owner(connector: DatasetConnector) -> None:
    records = list(connector.collect([Identifier.of(T.EMAIL, "o'brien;--@EXAMPLE.com")]))
    assert refs(records) == {("Person Data", "3")}
    assert records[0].strength is Strength.WEAK


def test_an_impostors_claim_reaches_the_stranger_only_through_that_claim(connector: DatasetConnector) -> None:
    claim = Identifier.claimed(T.CUSTOMER_ID, "5002")
    records = list(connector.collect([Identifier.anchor(ANCHOR), claim]))
    assert refs(records) == ANNAS | STRANGERS
    for rec in records:
        if (rec.source, rec.key) in STRANGERS:
            assert rec.matched_by == (claim,) and rec.strength is Strength.UNBOUND, rec.ref
        else:
            loop = rec.source.startswith("loop_")  # reached through references that are not `parent` ones
            assert claim not in rec.matched_by and rec.strength is (Strength.WEAK if loop else Strength.STRONG), \
                rec.ref
    decided = classify(records, ANCHOR)
    assert decided[("awkward", "Person Data", "2")] is Disposition.OTHER_PERSON  # holds the stranger's code
    assert decided[("awkward", "order", "3")] is Disposition.OTHER_PERSON  # belongs to the stranger's row
    assert all(decided[("awkward", *ref)] is not Disposition.RELEASE for ref in STRANGERS)
    assert all(decided[("awkward", *ref)] is (Disposition.REVIEW if ref[0].startswith("loop_") else
                                              Disposition.RELEASE) for ref in ANNAS)
    stranger_reveals = {i for rec in records if (rec.source, rec.key) in STRANGERS for i in rec.reveals}
    assert stranger_reveals and all(not i.expandable for i in stranger_reveals)


def test_a_locked_table_is_a_bounded_failure_naming_no_value(database: tuple[str, str, str],
                                                              dataset_file: Path) -> None:
    """A writer holds the table: the walk gives up within its bounds (client deadline, busy timeout)."""
    backend, write_url, read_url = database
    impatient = DatasetConnector.from_settings(
        {"DSAR_AWKWARD_DATABASE_URL": read_url}, dataset=dataset_file, page_size=2,
        timeouts=Timeouts(connect_s=2.0, statement_s=30.0, sqlite_busy_s=0.2, deadline_s=0.5),
        policy=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02))
    engine = sa.create_engine(write_url, isolation_level="AUTOCOMMIT")
    holder = engine.connect()
    lock = {"sqlite": 'BEGIN EXCLUSIVE', "postgresql": 'BEGIN; LOCK TABLE "order" IN ACCESS EXCLUSIVE MODE',
            "mariadb": "LOCK TABLES `order` WRITE"}[backend]
    try:
        for statement in lock.split("; "):
            holder.exec_driver_sql(statement)
        started = time.monotonic()
        with pytest.raises(ConnectorError) as failed:
            list(impatient.collect([Identifier.anchor(ANCHOR)]))
        assert time.monotonic() - started < 10
        assert (failed.value.system == "awkward" and "timeout" in failed.value.cause.lower()) or \
            "lost" in failed.value.cause.lower()
        assert ANCHOR not in str(failed.value)
    finally:
        holder.exec_driver_sql({"sqlite": "ROLLBACK", "postgresql": "ROLLBACK", "mariadb": "UNLOCK TABLES"}[backend])
        holder.close()
        engine.dispose()
        impatient.close()
    assert refs(list(impatient.collect([Identifier.anchor(ANCHOR)]))) == ANNAS  # and it works again


def test_the_shared_watchdog_fires_each_deadline_once_and_never_a_finished_one() -> None:
    late, soon = SharedDeadline(0.3), SharedDeadline(0.05)
    with late, soon:
        time.sleep(0.15)
        assert soon.fired and not late.fired
    with SharedDeadline(0.05) as finished:
        pass
    time.sleep(0.4)
    assert not late.fired and not finished.fired


# -- validation (no database) ---------------------------------------------------------------------------------


def problems(tmp_path: Path, change: Any) -> list[str]:
    data = yaml.safe_load(yaml.safe_dump(DATASET))
    change(data["dataset"][0]["collections"])
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(DatasetInvalid) as caught:
        load_plan(path)
    return caught.value.problems


def test_a_dangling_reference_is_a_problem(tmp_path: Path) -> None:
    def dangle(collections: list[dict[str, Any]]) -> None:
        collections[1]["fields"][1]["fides_meta"]["references"] = ref("people.id")
    lines = problems(tmp_path, dangle)
    assert lines[0] == "order.person_id: dangling reference to 'people.id': no collection 'people'"


def test_an_unknown_category_is_a_problem(tmp_path: Path) -> None:
    def unknown(collections: list[dict[str, Any]]) -> None:
        collections[0]["fields"][4]["data_categories"] = ["user.shoe_size"]
    [line] = problems(tmp_path, unknown)
    assert line.startswith("Person Data.select: unknown data category 'user.shoe_size'")


def test_our_energy_categories_and_fidesland_ones_are_valid(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(DATASET))
    fields = data["dataset"][0]["collections"][0]["fields"]
    fields[4]["data_categories"] = ["user.energy.contract"]
    fields[3]["data_categories"] = ["user.contact.address.city"]  # fideslang's: recorded as its labelled parent
    path = tmp_path / "ok.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    plan = load_plan(path)
    assert plan.collections["Person Data"].field("phone").category == "user.contact.address"


def test_several_problems_are_one_line_each(tmp_path: Path) -> None:
    def break_many(collections: list[dict[str, Any]]) -> None:
        collections[0]["fields"][1]["fides_meta"]["identity"] = "shoe_size"
        collections[5]["fides_meta"]["dsar"]["parent"] = "number"  # a field without a reference
        collections[1]["fides_meta"]["dsar"]["retention_rule"] = "forever"
        collections[2]["fides_meta"]["dsar"]["typo"] = 1
    lines = problems(tmp_path, break_many)
    assert any(line.startswith("Person Data.code: unknown identity 'shoe_size'") for line in lines)
    assert "account: parent 'number' is not a field with a reference" in lines
    assert "order: unknown retention rule 'forever'" in lines
    assert any(line.startswith("line: fides_meta.dsar.typo") for line in lines)
    assert all("\n" not in line for line in lines)


def test_fideslangs_own_model_refuses_what_fides_refuses(tmp_path: Path) -> None:
    def bad_type(collections: list[dict[str, Any]]) -> None:
        collections[0]["fields"][1]["fides_meta"]["data_type"] = "varchar"
    [line] = problems(tmp_path, bad_type)
    assert line.startswith("collections.Person Data.fields.code.fides_meta.data_type")


def test_a_collection_without_a_primary_key_is_a_warning_not_a_problem(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(DATASET))
    data["dataset"][0]["collections"][4]["fields"][0]["fides_meta"]["primary_key"] = False
    path = tmp_path / "unkeyed.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    plan = load_plan(path)
    assert plan.collections["loop_b"].key == ()
    assert any(warning.startswith("loop_b: no primary key: read unpaged") for warning in plan.warnings)
