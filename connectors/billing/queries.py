"""The SQL the connector sends: fixed statements with bound parameters, nothing pasted into the text.

Plain table names work on both back ends (PostgreSQL finds them through the URL's search path).
Lookups follow the documented indexes: `customers(personal_code)`, `contacts(lower(value)) WHERE
kind = 'email'`, `contacts(value) WHERE kind = 'phone'`, `metering_points(eic)`, and the foreign
keys for the walk from a customer. Every walk is read in keyset pages (`id > :after ORDER BY id
LIMIT :limit`): each page is one complete query, so a failed page is retried alone and memory stays
bounded however many invoices a customer has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import TextClause

from connectors.billing import values as v

FIRST_ID = -(2**31)  # below any integer key: the `after` of the first page


def _expanding(sql: str, *names: str) -> TextClause:
    return sa.text(sql).bindparams(*(sa.bindparam(name, expanding=True) for name in names))


# -- which customers do the identifiers reach? (key, matched value) ------------------------------------

CUSTOMERS_BY_PERSONAL_CODE = _expanding(
    "SELECT id, personal_code FROM customers WHERE personal_code IN :codes", "codes")
CUSTOMERS_BY_ID = _expanding("SELECT id, id FROM customers WHERE id IN :ids", "ids")
CUSTOMERS_BY_EMAIL = _expanding(
    "SELECT customer_id, value FROM contacts WHERE kind = 'email' AND lower(value) IN :emails", "emails")
CUSTOMERS_BY_PHONE = _expanding(
    "SELECT customer_id, value FROM contacts WHERE kind = 'phone' AND value IN :phones", "phones")
CUSTOMERS_BY_EIC = _expanding(
    "SELECT c.customer_id, m.eic FROM metering_points m JOIN contracts c ON c.id = m.contract_id "
    "WHERE m.eic IN :eics", "eics")


# -- the walk from a customer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """One source read in pages: `SELECT <columns> FROM <tables> WHERE <filter>` plus the keyset clause.

    The first selected column is the row id (the keyset); `filter` names one expanding parameter.
    """

    source: str
    tables: str
    columns: tuple[tuple[str, str, v.Converter], ...]  # (SQL expression, field name, converter)
    filter: str
    parameter: str
    statement: TextClause = field(init=False, repr=False)

    def __post_init__(self) -> None:
        key = self.columns[0][0]
        select = ", ".join(expression for expression, _, _ in self.columns)
        sql = (f"SELECT {select} FROM {self.tables} WHERE {self.filter} "  # noqa: S608 (our own constants)
               f"AND {key} > :after ORDER BY {key} LIMIT :limit")
        object.__setattr__(self, "statement", _expanding(sql, self.parameter))

    def fields(self, row: Any) -> dict[str, Any]:
        return {name: convert(value) for (_, name, convert), value in zip(self.columns, row, strict=True)}


def _columns(prefix: str, *spec: tuple[str, v.Converter]) -> tuple[tuple[str, str, v.Converter], ...]:
    return tuple((f"{prefix}{name}", name, convert) for name, convert in spec)


CUSTOMERS = Reader(
    "customers", "customers",
    _columns("", ("id", v.integer), ("kind", v.text), ("legal_entity", v.text), ("personal_code", v.text),
             ("first_name", v.text), ("last_name", v.text), ("business_name", v.text),
             ("business_reg_code", v.text), ("language", v.text), ("created_at", v.timestamp)),
    "id IN :customer_ids", "customer_ids")

CONTACTS = Reader(
    "contacts", "contacts",
    # `value` is renamed per kind by the connector (email | phone | address)
    _columns("", ("id", v.integer), ("customer_id", v.integer), ("kind", v.text), ("value", v.text),
             ("is_primary", v.flag), ("valid_from", v.day)),
    "customer_id IN :customer_ids", "customer_ids")

CONTRACTS = Reader(
    "contracts", "contracts",
    _columns("", ("id", v.integer), ("customer_id", v.integer), ("number", v.text), ("product", v.text),
             ("start_date", v.day), ("end_date", v.day), ("status", v.text)),
    "customer_id IN :customer_ids", "customer_ids")

METERING_POINTS = Reader(
    "metering_points", "metering_points m JOIN contracts c ON c.id = m.contract_id",
    _columns("m.", ("id", v.integer), ("contract_id", v.integer), ("eic", v.text), ("address", v.text),
             ("country", v.text), ("time_zone", v.text), ("grid_operator", v.text), ("has_production", v.flag)),
    "c.customer_id IN :customer_ids", "customer_ids")

INVOICES = Reader(
    "invoices", "invoices",
    _columns("", ("id", v.integer), ("customer_id", v.integer), ("contract_id", v.integer), ("number", v.text),
             ("issue_date", v.day), ("due_date", v.day), ("period_start", v.day), ("period_end", v.day),
             ("total_eur", v.money), ("status", v.text)),
    "customer_id IN :customer_ids", "customer_ids")

INVOICE_LINES = Reader(
    "invoice_lines", "invoice_lines",
    _columns("", ("id", v.integer), ("invoice_id", v.integer), ("description", v.text),
             ("quantity", v.decimal(3)), ("unit", v.text), ("unit_price_eur", v.decimal(4)),
             ("amount_eur", v.money)),
    "invoice_id IN :invoice_ids", "invoice_ids")

PAYMENTS = Reader(
    "payments", "payments",
    _columns("", ("id", v.integer), ("invoice_id", v.integer), ("customer_id", v.integer),
             ("paid_at", v.timestamp), ("amount_eur", v.money), ("method", v.text),
             ("payer_account_masked", v.text)),
    "customer_id IN :customer_ids", "customer_ids")

DEBTS = Reader(
    "debts", "debts",
    _columns("", ("id", v.integer), ("customer_id", v.integer), ("invoice_id", v.integer),
             ("amount_eur", v.money), ("since", v.day), ("status", v.text)),
    "customer_id IN :customer_ids", "customer_ids")

COLLECTION_STEPS = Reader(
    "collection_steps", "collection_steps s JOIN debts d ON d.id = s.debt_id",
    _columns("s.", ("id", v.integer), ("debt_id", v.integer), ("step", v.text), ("taken_at", v.day),
             ("agency", v.text)),
    "d.customer_id IN :customer_ids", "customer_ids")

CREDIT_CHECKS = Reader(
    "credit_checks", "credit_checks",
    _columns("", ("id", v.integer), ("customer_id", v.integer), ("bureau", v.text), ("checked_at", v.timestamp),
             ("score", v.integer), ("decision", v.text), ("automated", v.flag), ("logic", v.text)),
    "customer_id IN :customer_ids", "customer_ids")
