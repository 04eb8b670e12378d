"""What a dataset's shape could leak, tried as an attacker would (an attacker's review of issue 15).

Each database is a small SQLite file holding the anchor's rows and another person's. The request's
identifiers go through identity resolution (`expand`) and collection as the pipeline runs them, and
the classification decides. The other person's rows must never be released, and what they reveal
must never be searched.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from stdnum.eu import eic

from connectors.classification import Disposition, classify
from connectors.contract import Record
from connectors.dataset import DatasetConnector
from connectors.errors import ConnectorError
from connectors.identity import Identifier, Strength
from connectors.resolution import expand

ANCHOR, OTHER = "38001010014", "48002020025"
EIC = "38ZEE-00000001-" + eic.calc_check_digit("38ZEE-00000001-")


def field(name: str, category: str, **meta: Any) -> dict[str, Any]:
    return {"name": name, "data_categories": [category], "fides_meta": {"data_type": "string", **meta}}


def key(name: str = "id") -> dict[str, Any]:
    return field(name, "system.operations", primary_key=True, data_type="integer")


def code() -> dict[str, Any]:
    return field("code", "user.government_id.national_identification_number", identity="personal_code")


def ref(target: str, direction: str | None = None) -> list[dict[str, str]]:
    return [{"dataset": "x", "field": target, **({"direction": direction} if direction else {})}]


def connector(tmp_path: Path, schema: str, collections: list[dict[str, Any]]) -> Any:
    database = tmp_path / "x.sqlite3"
    with sqlite3.connect(database) as conn:  # a fixed script of this test, with the test's values put in
        conn.executescript(schema.replace("$ANCHOR", ANCHOR).replace("$OTHER", OTHER).replace("$EIC", EIC))
    dataset = tmp_path / "x.yml"
    dataset.write_text(yaml.safe_dump({"dataset": [{"fides_key": "x", "name": "x", "collections": collections}]}))
    return DatasetConnector.from_settings({"DSAR_X_DATABASE_URL": f"sqlite:///{database}"}, dataset=dataset,
                                          system="x")


def pipeline(built: Any) -> tuple[dict[tuple[str, str], Record], dict[tuple[str, str, str], Disposition], Any]:
    """Identity resolution, then collection with the searchable identifiers, then the classification."""
    graph = expand([Identifier.anchor(ANCHOR)], {"x": built})
    records = list(built.collect([i for i in graph.identifiers.values() if i.expandable]))
    return {(r.source, r.key): r for r in records}, classify(records, ANCHOR), graph


def test_a_previous_tenant_behind_a_shared_metering_point_is_neither_released_nor_searched(tmp_path: Path) -> None:
    """The meter's EIC is the anchor's and also the previous tenant's: their rows are reached through it,
    strongly, but hold their own personal code, so nothing of theirs is released and nothing they reveal
    (their customer number, their e-mail) is searched in any system."""
    built = connector(tmp_path, """
        create table persons(id integer primary key, code text, email text);
        create table contracts(id integer primary key, person_id integer);
        create table points(id integer primary key, contract_id integer, eic text, address text);
        create table notes(id integer primary key, person_id integer, text text);
        insert into persons values (10, '$ANCHOR', 'anna@example.ee'), (11, '$OTHER', 'bert@example.ee');
        insert into contracts values (1, 10), (2, 11);
        insert into points values (100, 1, '$EIC', 'Flat 7'), (101, 2, '$EIC', 'Flat 7, B''s meter notes');
        insert into notes values (500, 11, 'B private note');
    """, [
        {"name": "persons", "fields": [key(), code(), field("email", "user.contact.email", dsar={"reveals": "email"})]},
        {"name": "contracts", "fides_meta": {"dsar": {"parent": "person_id"}}, "fields": [
            key(), field("person_id", "user.unique_id", data_type="integer", references=ref("persons.id"),
                         dsar={"reveals": "customer_id"})]},
        {"name": "points", "fides_meta": {"dsar": {"parent": "contract_id"}}, "fields": [
            key(), field("contract_id", "system.operations", data_type="integer", references=ref("contracts.id")),
            field("eic", "user.energy.metering_point_id", identity="metering_point_eic"),
            field("address", "user.contact.address")]},
        {"name": "notes", "fides_meta": {"dsar": {"parent": "person_id"}}, "fields": [
            key(), field("person_id", "system.operations", data_type="integer", references=ref("persons.id", "from")),
            field("text", "user.content.private")]},
    ])
    records, decided, graph = pipeline(built)
    theirs = {("persons", "11"), ("contracts", "2"), ("points", "101"), ("notes", "500")}
    assert theirs <= set(records), "the walk does reach them: the classification must stop them"
    assert all(decided[("x", *ref)] is Disposition.OTHER_PERSON for ref in theirs)
    assert all(decided[("x", *ref)] is Disposition.RELEASE for ref in set(records) - theirs)
    for value in (OTHER, "bert@example.ee", "11"):
        found = [i for i in graph.identifiers.values() if i.value == value]
        assert found and all(not i.expandable and i.strength is not Strength.STRONG for i in found), value
    mine = {i.value: i for i in graph.identifiers.values()}
    assert mine["anna@example.ee"].expandable and mine[EIC].expandable and mine["10"].expandable


def test_a_flatmate_behind_a_shared_address_waits_for_the_dpo(tmp_path: Path) -> None:
    """A reference that is not a `parent` one (persons → their shared address, followed both ways, the
    Fides default) passes strength as weak: the flatmate, who has no personal code on file, and their
    orders are held for review, never released as the anchor's."""
    built = connector(tmp_path, """
        create table addresses(id integer primary key, street text);
        create table persons(id integer primary key, code text, name text, address_id integer);
        create table orders(id integer primary key, person_id integer, item text);
        insert into addresses values (1, 'Shared street 1');
        insert into persons values (10, '$ANCHOR', 'Anna', 1), (11, NULL, 'Flatmate C', 1);
        insert into orders values (100, 10, 'A order'), (101, 11, 'C private order');
    """, [
        {"name": "persons", "fields": [key(), code(), field("name", "user.name"),
                                       field("address_id", "system.operations", data_type="integer",
                                             references=ref("addresses.id"))]},
        {"name": "addresses", "fields": [key(), field("street", "user.contact.address")]},
        {"name": "orders", "fides_meta": {"dsar": {"parent": "person_id"}}, "fields": [
            key(), field("person_id", "system.operations", data_type="integer", references=ref("persons.id", "from")),
            field("item", "user.content.private")]},
    ])
    records, decided, _ = pipeline(built)
    assert {("persons", "11"), ("orders", "101")} <= set(records)
    assert decided[("x", "persons", "11")] is decided[("x", "orders", "101")] is Disposition.REVIEW
    assert decided[("x", "persons", "10")] is decided[("x", "orders", "100")] is Disposition.RELEASE


def test_composite_keys_that_join_to_the_same_text_stay_two_records(tmp_path: Path) -> None:
    built = connector(tmp_path, """
        create table accounts(owner text, seq text, code text, email text, note text, primary key(owner, seq));
        insert into accounts values ('x/y', 'z', '$ANCHOR', 'home@example.ee', 'anchor row');
        insert into accounts values ('x', 'y/z', '$OTHER', 'home@example.ee', 'flatmate row');
    """, [{"name": "accounts", "fields": [
        field("owner", "system.operations", primary_key=True), field("seq", "system.operations", primary_key=True),
        code(), field("email", "user.contact.email", identity="email"), field("note", "user.content.private")]}])
    records, decided, _ = pipeline(built)
    assert len(records) == 2
    by_note = {r.fields["note"]: decided[r.ref] for r in records.values()}
    assert by_note == {"anchor row": Disposition.RELEASE, "flatmate row": Disposition.OTHER_PERSON}


def test_a_text_reference_to_an_integer_key_still_names_its_parent(tmp_path: Path) -> None:
    """'0002' in a text column references contract 2: the record's parent is that contract, so the
    previous tenant's meter row shares the contract's verdict."""
    built = connector(tmp_path, """
        create table persons(id integer primary key, code text);
        create table contracts(id integer primary key, person_id integer);
        create table points(id integer primary key, contract_id text, eic text, address text);
        insert into persons values (10, '$ANCHOR'), (11, '$OTHER');
        insert into contracts values (1, 10), (2, 11);
        insert into points values (100, '1', '$EIC', 'Flat 1'), (101, '0002', '$EIC', 'B meter notes');
    """, [
        {"name": "persons", "fields": [key(), code()]},
        {"name": "contracts", "fides_meta": {"dsar": {"parent": "person_id"}}, "fields": [
            key(), field("person_id", "system.operations", data_type="integer", references=ref("persons.id"))]},
        {"name": "points", "fides_meta": {"dsar": {"parent": "contract_id"}}, "fields": [
            key(), field("contract_id", "system.operations", references=ref("contracts.id")),
            field("eic", "user.energy.metering_point_id", identity="metering_point_eic"),
            field("address", "user.contact.address")]},
    ])
    records, decided, _ = pipeline(built)
    assert records[("points", "101")].parent == ("contracts", "2")
    assert decided[("x", "points", "101")] is Disposition.OTHER_PERSON
    assert decided[("x", "points", "100")] is Disposition.RELEASE


def record(source: str, key_: str, parent: tuple[str, str] | None, strength: Strength,
           held: str | None = None) -> Record:
    identifier = Identifier(Identifier.anchor(ANCHOR).type, ANCHOR, strength, ("request", "anchor"))
    fields = {"code": held} if held else {}
    categories = {"code": "user.government_id.national_identification_number"} if held else {}
    return Record(system="x", source=source, key=key_, fields=fields, categories=categories, matched_by=(identifier,),
                  retrieved_at=datetime.now(UTC), parent=parent)


def test_the_classification_does_not_depend_on_the_order_of_records() -> None:
    """A grandchild listed before its parent still gets the grandparent's other-person verdict."""
    records = [record("points", "101", ("contracts", "2"), Strength.STRONG),
               record("contracts", "2", ("persons", "11"), Strength.STRONG),
               record("persons", "11", None, Strength.STRONG, held=OTHER)]
    for ordered in (records, list(reversed(records))):
        assert set(classify(ordered, ANCHOR).values()) == {Disposition.OTHER_PERSON}


def test_the_classification_fails_closed() -> None:
    missing_parent = record("points", "1", ("contracts", "404"), Strength.STRONG)
    assert classify([missing_parent], ANCHOR)[missing_parent.ref] is Disposition.REVIEW
    cycle = [record("a", "1", ("b", "1"), Strength.STRONG), record("b", "1", ("a", "1"), Strength.STRONG)]
    assert set(classify(cycle, ANCHOR).values()) == {Disposition.REVIEW}
    twins = [record("a", "1", None, Strength.STRONG), record("a", "1", None, Strength.STRONG, held=OTHER)]
    assert classify(twins, ANCHOR)[twins[0].ref] is Disposition.OTHER_PERSON


def test_free_text_in_a_typed_column_fails_without_quoting_it(tmp_path: Path) -> None:
    """Someone who can write to the source puts a note where a timestamp belongs: the walk fails naming
    the field, never the value (it may name a person)."""
    built = connector(tmp_path, """
        create table persons(id integer primary key, code text, seen_at text);
        insert into persons values (10, '$ANCHOR', 'Called by Mari Maasikas 49004040047 re: debt');
    """, [{"name": "persons", "fields": [key(), code(), field("seen_at", "system.operations",
                                                              dsar={"type": "timestamp"})]}])
    with pytest.raises(ConnectorError) as failed:
        list(built.collect([Identifier.anchor(ANCHOR)]))
    assert failed.value.system == "x" and "persons.seen_at" in str(failed.value)
    assert "Maasikas" not in str(failed.value) and "49004040047" not in str(failed.value)
    assert failed.value.__cause__ is None and failed.value.__context__ is None
