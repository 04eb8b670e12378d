"""A dataset written the way Fides users write them, read unchanged: the legacy `fidesops_meta` key,
references with `direction: to` and `from`, e-mail as the identity of several collections, a collection
without a primary key, no `data_type` on most fields, no extension of ours. On all three back ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.dataset import DatasetConnector
from connectors.identity import Identifier, IdentityType, Strength
from tests.connectors.dataset_databases import BACKENDS, fresh_database

SHOP = """\
dataset:
  - fides_key: shop_db
    name: Shop database
    collections:
      - name: address
        fields:
          - name: city
            data_categories: [user.contact.address.city]
          - name: id
            data_categories: [system.operations]
            fides_meta:
              primary_key: True
          - name: street
            data_categories: [user.contact.address.street]
      - name: customer
        fields:
          - name: address_id
            data_categories: [system.operations]
            fidesops_meta:
              references:
                - dataset: shop_db
                  field: address.id
                  direction: to
          - name: email
            data_categories: [user.contact.email]
            fidesops_meta:
              identity: email
              data_type: string
          - name: id
            data_categories: [user.unique_id]
            fidesops_meta:
              primary_key: True
          - name: name
            data_categories: [user.name]
            fidesops_meta:
              data_type: string
              length: 40
      - name: orders
        fields:
          - name: customer_id
            data_categories: [user.unique_id]
            fidesops_meta:
              references:
                - dataset: shop_db
                  field: customer.id
                  direction: from
          - name: id
            data_categories: [system.operations]
            fidesops_meta:
              primary_key: True
      - name: visit
        fields:
          - name: email
            data_categories: [user.contact.email]
            fidesops_meta:
              identity: email
              data_type: string
          - name: last_visit
            data_categories: [system.operations]
"""


def create(url: str) -> None:
    metadata = sa.MetaData()
    text = sa.String(120)
    address = sa.Table("address", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                       sa.Column("city", text), sa.Column("street", text))
    customer = sa.Table("customer", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                        sa.Column("address_id", sa.Integer), sa.Column("email", text, index=True),
                        sa.Column("name", text))
    orders = sa.Table("orders", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("customer_id", sa.Integer, index=True))
    visit = sa.Table("visit", metadata, sa.Column("email", text, index=True), sa.Column("last_visit", text))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(address.insert(), [{"id": 1, "city": "Tartu", "street": "Riia 1"},
                                        {"id": 2, "city": "Rīga", "street": "Brīvības 2"}])
        conn.execute(customer.insert(), [{"id": 10, "address_id": 1, "email": "mari@example.ee", "name": "Mari"},
                                         {"id": 11, "address_id": 2, "email": "janis@example.lv", "name": "Jānis"}])
        conn.execute(orders.insert(), [{"id": 100, "customer_id": 10}, {"id": 101, "customer_id": 10},
                                       {"id": 102, "customer_id": 11}])
        conn.execute(visit.insert(), [{"email": "mari@example.ee", "last_visit": "2025-01-02"},
                                      {"email": "mari@example.ee", "last_visit": "2025-03-04"},
                                      {"email": "janis@example.lv", "last_visit": "2025-05-06"}])
    engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetConnector]:
    path: Path = tmp_path_factory.mktemp("shop") / "shop.yml"
    path.write_text(SHOP, encoding="utf-8")
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as (write_url, read_url):
        create(write_url)
        built = DatasetConnector.from_settings({"DSAR_SHOP_DB_DATABASE_URL": read_url}, dataset=path)
        yield built
        built.close()


def test_a_fides_dataset_is_read_unchanged(shop: DatasetConnector) -> None:
    assert shop.system == "shop_db" and shop.accepts == {IdentityType.EMAIL}
    assert any("visit: no primary key" in warning for warning in shop.plan.warnings)
    records = list(shop.collect([Identifier.of(IdentityType.EMAIL, "Mari@Example.ee")]))
    found = {(rec.source, rec.key) for rec in records if not rec.key.startswith("sha256:")}
    assert found == {("customer", "10"), ("address", "1"), ("orders", "100"), ("orders", "101")}
    visits = sorted(rec.fields["last_visit"] for rec in records if rec.source == "visit")
    assert visits == ["2025-01-02", "2025-03-04"]
    assert all(rec.strength is Strength.WEAK for rec in records)  # e-mail alone: weak, for the DPO
    address = next(rec for rec in records if rec.source == "address")
    assert address.categories == {"city": "user.contact.address", "id": "system.operations",
                                  "street": "user.contact.address"}
