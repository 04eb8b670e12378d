"""The retailer's billing database: tables, keys, indexes — the reference for the billing connector.

Billing is spoken to over SQL. `dsar sandbox up` prints (and exports as `DSAR_BILLING_DATABASE_URL`)
an SQLAlchemy URL for one of two back ends:

* PostgreSQL (production-like; `--billing-url postgresql+psycopg://…`): the tables live in their own
  schema ``billing`` and the URL sets ``options=-csearch_path=billing``, so both ``billing.customers``
  and plain ``customers`` work. If you pass your own libpq ``options`` in ``connect_args`` you replace
  that search path: then qualify the names. Money is ``numeric`` (Python ``Decimal``), timestamps are
  ``timestamptz`` (aware datetimes), dates are ``date``, flags are ``boolean``. Table and column
  comments (``\\d+ billing.customers``, ``obj_description``/``col_description``) repeat this page.
* SQLite (the embedded default): one database file opened read-only through a URI URL
  (``sqlite:///file:/…/billing.sqlite3?mode=ro&uri=true``). There are no schemas: use the plain table
  names. SQLite stores dates as text ``YYYY-MM-DD``, timestamps as text ``YYYY-MM-DD HH:MM:SS.ffffff``
  in UTC (no offset), money as REAL (round to cents), flags as 0/1.

Plain table names therefore work on both back ends; write parameterised SQL (``:name`` binds with
SQLAlchemy ``text()``), never values pasted into the SQL text. The database is a replica for reading:
do not write to it (the SQLite URL is read-only; PostgreSQL is not, but nothing may rely on writes).

Who is who: a customer is a legal relationship, not a person. A private person has a row per
controller (Enefit AS in Estonia, Enefit SIA in Latvia); a sole trader (FIE) is a customer of kind
``sole_trader`` registered under the owner's own personal code. Contacts (e-mails, phones, postal
addresses) hang off customers; several members of one household may share a phone number, so a match
by phone or e-mail alone is weak. Identifiers that are strong: ``customers.personal_code``,
``customers.id`` (the customer number printed on invoices) and a metering point's ``eic`` taken from
the customer's own contract.

Tables (``PK`` primary key, ``FK`` foreign key, ``?`` nullable; every table has an integer ``id`` PK):

``customers`` — one row per customer account.
    id (customer number, 6 digits from 100001), kind (``private`` | ``sole_trader``),
    legal_entity (the controller: ``enefit-ee`` = Enefit AS, ``enefit-lv`` = Enefit SIA),
    personal_code (as issued: Estonian isikukood 11 digits ``GYYMMDDSSSC``; Latvian personas kods
    ``DDMMYY-CNNNN`` with its hyphen), first_name, last_name, business_name? (sole traders' trade
    name, e.g. ``… FIE``), business_reg_code? (sole traders' business register code),
    language (correspondence language ``et`` | ``lv`` | ``ru`` | ``en``), created_at (timestamp).
``contacts`` — e-mail addresses, phone numbers and postal addresses of a customer.
    id, customer_id (FK customers), kind (``email`` | ``phone`` | ``address``), value (e-mail as the
    customer typed it — compare case-insensitively; phone in E.164 ``+3725…``/``+3712…``; address one
    line ``street no-flat, city``), is_primary (flag), valid_from (date).
``contracts`` — supply contracts, active and ended.
    id, customer_id (FK customers), number (contract number ``L-NNNNNNN``, unique), product,
    start_date, end_date? (null while active), status (``active`` | ``ended``).
``metering_points`` — the metering points a contract supplies.
    id, contract_id (FK contracts), eic (16-character EIC of the metering point, type Z, e.g.
    ``38ZEE-00007001-X``; exact, upper case), address, country (``EE`` | ``LV``), time_zone (IANA,
    ``Europe/Tallinn`` | ``Europe/Riga``), grid_operator, has_production (flag: also feeds into the
    grid, e.g. solar panels).
``invoices`` — monthly invoices, at most 7 years back (accounting retention).
    id, customer_id (FK customers), contract_id (FK contracts), number (invoice number, unique),
    issue_date, due_date, period_start, period_end (first and last day of the billed month, both
    inclusive), total_eur (money), status (``paid`` | ``unpaid``).
``invoice_lines`` — the lines of an invoice.
    id, invoice_id (FK invoices), description, quantity (3 decimals), unit (``kWh`` | ``pcs``),
    unit_price_eur (4 decimals), amount_eur (money).
``payments`` — payments received against invoices.
    id, invoice_id (FK invoices), customer_id (FK customers), paid_at (timestamp), amount_eur (money),
    method (``e-invoice`` | ``direct debit`` | ``bank transfer`` | ``card``), payer_account_masked
    (the payer's bank account, masked, e.g. ``EE**12****3456``).
``debts`` — overdue amounts.
    id, customer_id (FK customers), invoice_id (FK invoices: the first unpaid invoice),
    amount_eur (money), since (date it became overdue), status (``open`` | ``in_collection`` |
    ``settled``).
``collection_steps`` — what was done to collect a debt.
    id, debt_id (FK debts), step (``reminder`` | ``final_notice`` | ``collection_agency``),
    taken_at (date), agency? (the collection agency the debt was handed to: a recipient of the data).
``credit_checks`` — credit checks at contract signing; automated decisions (GDPR Art. 22).
    id, customer_id (FK customers), bureau (the credit bureau asked: a source of the data),
    checked_at (timestamp), score (integer), decision (``approved`` | ``deposit_required`` |
    ``declined``), automated (flag: decided without a person), logic (plain-language description of
    the decision logic, for Art. 15(1)(h)).

Indexes (what a DSAR lookup needs; every foreign key column is indexed too):
    ``customers(personal_code)``, ``customers(business_reg_code)``;
    e-mail: ``contacts(lower(value)) WHERE kind = 'email'`` — query it as
    ``WHERE kind = 'email' AND lower(value) = lower(:email)``;
    phone: ``contacts(value) WHERE kind = 'phone'`` — ``WHERE kind = 'phone' AND value = :phone``;
    ``metering_points(eic)``; unique ``contracts(number)`` and ``invoices(number)``.

Timeouts and faults: give PostgreSQL a ``connect_timeout`` (URL query) and a ``statement_timeout``
(``SET statement_timeout = …`` per session, or another ``-c`` in ``options`` next to the search
path), and keep a client-side deadline too, because a server that stops answering never reaches a
server-side timeout. On SQLite the busy timeout (``connect_args={"timeout": s}``) bounds a wait for a
lock. The sandbox's injected faults, as a client sees them, are described in
``sandbox/billing/proxy.py`` (PostgreSQL: latency, error, ratelimit, timeout, truncate, down) and
``sandbox/billing/sqlite_faults.py`` (SQLite: down, timeout).

A typical walk: customers by personal code → contacts, contracts by customer_id → metering_points by
contract_id → invoices (→ invoice_lines), payments, debts (→ collection_steps), credit_checks by
customer_id. Invoices and lines are the large tables (about 50 invoices per customer, 4 lines each):
fetch them per customer, not whole.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
)

SCHEMA = "billing"
"""The schema name the tables are declared in; `translate_map` maps it to the real one per back end."""

metadata = MetaData(schema=SCHEMA, naming_convention={
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
})


def _money(name: str, comment: str) -> Column[object]:
    return Column(name, Numeric(12, 2), nullable=False, comment=comment)


def _one_of(table: str, column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"ck_{table}_{column}")


def _id(what: str) -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=False, comment=what)


def _timestamp(name: str, comment: str) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=False, comment=comment)


customers = Table(
    "customers", metadata,
    _id("Customer number (printed on invoices); a strong identifier."),
    Column("kind", Text, nullable=False, comment="private | sole_trader"),
    Column("legal_entity", Text, nullable=False,
           comment="The controller: enefit-ee = Enefit AS (Estonia), enefit-lv = Enefit SIA (Latvia)."),
    Column("personal_code", Text, nullable=False,
           comment="National personal code as issued: EE isikukood 11 digits; LV personas kods DDMMYY-CNNNN."),
    Column("first_name", Text, nullable=False, comment="Given name."),
    Column("last_name", Text, nullable=False, comment="Family name."),
    Column("business_name", Text, comment="Trade name of a sole trader (FIE); null for private customers."),
    Column("business_reg_code", Text, comment="Business register code of a sole trader; null otherwise."),
    Column("language", Text, nullable=False, comment="Correspondence language: et | lv | ru | en."),
    _timestamp("created_at", "When the customer account was opened."),
    _one_of("customers", "kind", ("private", "sole_trader")),
    _one_of("customers", "legal_entity", ("enefit-ee", "enefit-lv")),
    comment="Customer accounts: one per person (or sole trader) and controller.",
)

contacts = Table(
    "contacts", metadata,
    _id("Contact row id."),
    Column("customer_id", Integer, ForeignKey(customers.c.id), nullable=False, comment="The customer."),
    Column("kind", Text, nullable=False, comment="email | phone | address"),
    Column("value", Text, nullable=False,
           comment="E-mail as typed (compare case-insensitively); phone in E.164; address on one line."),
    Column("is_primary", Boolean, nullable=False, comment="The customer's primary contact of this kind."),
    Column("valid_from", Date, nullable=False, comment="Since when the contact is on record."),
    _one_of("contacts", "kind", ("email", "phone", "address")),
    comment="E-mail addresses, phone numbers and postal addresses of customers (phones may be shared).",
)

contracts = Table(
    "contracts", metadata,
    _id("Contract row id."),
    Column("customer_id", Integer, ForeignKey(customers.c.id), nullable=False, comment="The customer."),
    Column("number", Text, nullable=False, unique=True, comment="Contract number L-NNNNNNN."),
    Column("product", Text, nullable=False, comment="Price product of the contract."),
    Column("start_date", Date, nullable=False, comment="First day of supply."),
    Column("end_date", Date, comment="Last day of supply; null while active."),
    Column("status", Text, nullable=False, comment="active | ended"),
    _one_of("contracts", "status", ("active", "ended")),
    comment="Electricity supply contracts, active and ended.",
)

metering_points = Table(
    "metering_points", metadata,
    _id("Metering point row id."),
    Column("contract_id", Integer, ForeignKey(contracts.c.id), nullable=False, comment="The supply contract."),
    Column("eic", Text, nullable=False, comment="16-character EIC of the metering point (type Z), upper case."),
    Column("address", Text, nullable=False, comment="Where the metering point is."),
    Column("country", Text, nullable=False, comment="EE | LV"),
    Column("time_zone", Text, nullable=False, comment="IANA time zone: Europe/Tallinn | Europe/Riga."),
    Column("grid_operator", Text, nullable=False, comment="Distribution system operator."),
    Column("has_production", Boolean, nullable=False, comment="Also feeds into the grid (e.g. solar panels)."),
    comment="Metering points supplied under a contract.",
)

invoices = Table(
    "invoices", metadata,
    _id("Invoice row id."),
    Column("customer_id", Integer, ForeignKey(customers.c.id), nullable=False, comment="The customer billed."),
    Column("contract_id", Integer, ForeignKey(contracts.c.id), nullable=False, comment="The contract billed."),
    Column("number", Text, nullable=False, unique=True, comment="Invoice number."),
    Column("issue_date", Date, nullable=False, comment="Date of issue."),
    Column("due_date", Date, nullable=False, comment="Payment due date."),
    Column("period_start", Date, nullable=False, comment="First day of the billed month."),
    Column("period_end", Date, nullable=False, comment="Last day of the billed month (inclusive)."),
    _money("total_eur", "Invoice total in euros."),
    Column("status", Text, nullable=False, comment="paid | unpaid"),
    _one_of("invoices", "status", ("paid", "unpaid")),
    comment="Monthly invoices, at most 7 years back (accounting retention).",
)

invoice_lines = Table(
    "invoice_lines", metadata,
    _id("Invoice line row id."),
    Column("invoice_id", Integer, ForeignKey(invoices.c.id), nullable=False, comment="The invoice."),
    Column("description", Text, nullable=False, comment="What is charged."),
    Column("quantity", Numeric(14, 3), nullable=False, comment="Quantity (3 decimals)."),
    Column("unit", Text, nullable=False, comment="kWh | pcs"),
    Column("unit_price_eur", Numeric(12, 4), nullable=False, comment="Unit price in euros (4 decimals)."),
    _money("amount_eur", "Line amount in euros."),
    comment="Lines of invoices.",
)

payments = Table(
    "payments", metadata,
    _id("Payment row id."),
    Column("invoice_id", Integer, ForeignKey(invoices.c.id), nullable=False, comment="The invoice paid."),
    Column("customer_id", Integer, ForeignKey(customers.c.id), nullable=False, comment="The customer."),
    _timestamp("paid_at", "When the payment was received."),
    _money("amount_eur", "Amount paid in euros."),
    Column("method", Text, nullable=False, comment="e-invoice | direct debit | bank transfer | card"),
    Column("payer_account_masked", Text, nullable=False, comment="Payer's bank account, masked."),
    comment="Payments received against invoices.",
)

debts = Table(
    "debts", metadata,
    _id("Debt row id."),
    Column("customer_id", Integer, ForeignKey(customers.c.id), nullable=False, comment="The debtor."),
    Column("invoice_id", Integer, ForeignKey(invoices.c.id), nullable=False,
           comment="The first unpaid invoice of the debt."),
    _money("amount_eur", "Amount owed in euros."),
    Column("since", Date, nullable=False, comment="Date the amount became overdue."),
    Column("status", Text, nullable=False, comment="open | in_collection | settled"),
    _one_of("debts", "status", ("open", "in_collection", "settled")),
    comment="Overdue amounts (kept up to 10 years while unpaid).",
)

collection_steps = Table(
    "collection_steps", metadata,
    _id("Collection step row id."),
    Column("debt_id", Integer, ForeignKey(debts.c.id), nullable=False, comment="The debt."),
    Column("step", Text, nullable=False, comment="reminder | final_notice | collection_agency"),
    Column("taken_at", Date, nullable=False, comment="Date of the step."),
    Column("agency", Text, comment="Collection agency the debt was handed to (a recipient); null otherwise."),
    _one_of("collection_steps", "step", ("reminder", "final_notice", "collection_agency")),
    comment="Steps taken to collect a debt.",
)

credit_checks = Table(
    "credit_checks", metadata,
    _id("Credit check row id."),
    Column("customer_id", Integer, ForeignKey(customers.c.id), nullable=False, comment="The customer checked."),
    Column("bureau", Text, nullable=False, comment="Credit bureau asked (a source of the data)."),
    _timestamp("checked_at", "When the check was made."),
    Column("score", Integer, nullable=False, comment="Score returned by the bureau."),
    Column("decision", Text, nullable=False, comment="approved | deposit_required | declined"),
    Column("automated", Boolean, nullable=False, comment="Decided without human involvement (GDPR Art. 22)."),
    Column("logic", Text, nullable=False, comment="Plain-language logic of the decision (Art. 15(1)(h))."),
    _one_of("credit_checks", "decision", ("approved", "deposit_required", "declined")),
    comment="Credit checks and the automated decisions taken on them.",
)

# -- lookups a DSAR needs, plus every foreign key ---------------------------------------------------
Index("ix_customers_personal_code", customers.c.personal_code)
Index("ix_customers_business_reg_code", customers.c.business_reg_code)
Index("ix_contacts_email_lower", func.lower(contacts.c.value),
      postgresql_where=contacts.c.kind == "email", sqlite_where=contacts.c.kind == "email")
Index("ix_contacts_phone", contacts.c.value,
      postgresql_where=contacts.c.kind == "phone", sqlite_where=contacts.c.kind == "phone")
Index("ix_metering_points_eic", metering_points.c.eic)


def _index_foreign_keys() -> None:
    """PostgreSQL does not index referencing columns by itself; every walk from a customer needs them."""
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            Index(f"ix_{table.name}_{fk.parent.name}", fk.parent)


_index_foreign_keys()

TABLES: tuple[Table, ...] = tuple(metadata.sorted_tables)
"""All tables, parents before children (the order to load them in)."""


def translate_map(dialect_name: str, schema: str = SCHEMA) -> dict[str | None, str | None]:
    """`schema_translate_map` execution option: the real schema on PostgreSQL, none on SQLite."""
    return {SCHEMA: None if dialect_name == "sqlite" else schema}
