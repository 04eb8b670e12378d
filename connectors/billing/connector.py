"""The billing connector: which customers the identifiers reach, then everything held on them.

A customer is a legal relationship, not a person: one person may be two customers (one per
controller, or a private and a sole-trader account), and one shared phone reaches every customer
of a household. So identifiers are first resolved to customer numbers, remembering which
identifiers reached which customer (`matched_by`): a personal code, customer number or metering
point EIC makes the match strong, an e-mail or phone alone leaves it weak. Classification (release,
review, someone else's) happens downstream; this connector reports every customer reached.

Per customer, records stream table by table, parents before children (customer, contacts,
contracts, metering points, invoices with their lines, payments, debts with their collection
steps, credit checks); each page of rows is a completed query before its records are yielded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from connectors.billing import queries as q
from connectors.billing.database import Database, Timeouts, create_billing_engine
from connectors.billing.sources import SOURCES
from connectors.contract import Record, Source, make_record
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, InvalidIdentifier, Strength, latvian_display, normalise
from connectors.retry import RetryPolicy

URL_SETTING = "DSAR_BILLING_DATABASE_URL"
MAX_CUSTOMER_NUMBER = 2**31 - 1  # customers.id is a 32-bit integer: larger numbers cannot exist
CONTACT_FIELD = {"email": "email", "phone": "phone", "address": "address"}
REVEALED_CONTACTS = {"email": IdentityType.EMAIL, "phone": IdentityType.PHONE}


@dataclass
class _Match:
    """One customer reached, and every identifier that reached it."""

    customer_id: int
    found_by: list[Identifier]

    @property
    def strength(self) -> Strength:
        return Strength.best(self.found_by)

    def via(self, table: str) -> tuple[str, ...]:
        """Path for what this customer reveals: the best identifier's path, then the table read."""
        best = min(self.found_by, key=lambda i: (-i.strength.rank, len(i.via)))
        return (*best.via, f"billing.{table}")


class BillingConnector:
    """Billing over SQL (PostgreSQL in production, SQLite in the embedded default)."""

    system: ClassVar[str] = "billing"
    accepts: ClassVar[frozenset[IdentityType]] = frozenset({
        IdentityType.PERSONAL_CODE, IdentityType.CUSTOMER_ID, IdentityType.EMAIL, IdentityType.PHONE,
        IdentityType.METERING_POINT_EIC})
    reveals: ClassVar[frozenset[IdentityType]] = frozenset({
        IdentityType.CUSTOMER_ID, IdentityType.PERSONAL_CODE, IdentityType.EMAIL, IdentityType.PHONE,
        IdentityType.METERING_POINT_EIC})
    sources: ClassVar[Mapping[str, Source]] = SOURCES

    def __init__(self, database: Database, page_size: int = 500) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.db = database
        self.page_size = page_size

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, policy: RetryPolicy | None = None,
                      connect_timeout_s: float | None = None, statement_timeout_s: float | None = None,
                      busy_timeout_s: float | None = None, deadline_s: float | None = None,
                      page_size: int = 500, pool_size: int = 2) -> BillingConnector:
        url = settings.get(URL_SETTING, "").strip()
        if not url:
            raise ValueError(f"billing: setting {URL_SETTING} is missing")
        defaults = Timeouts()
        timeouts = Timeouts(
            connect_s=defaults.connect_s if connect_timeout_s is None else connect_timeout_s,
            statement_s=defaults.statement_s if statement_timeout_s is None else statement_timeout_s,
            sqlite_busy_s=defaults.sqlite_busy_s if busy_timeout_s is None else busy_timeout_s,
            deadline_s=deadline_s)
        engine = create_billing_engine(url, timeouts, pool_size=pool_size)
        return cls(Database(engine, timeouts, policy or RetryPolicy()), page_size=page_size)

    def __repr__(self) -> str:  # never the URL: it may carry a password
        return f"BillingConnector(backend={self.db.backend})"

    @property
    def calls_made(self) -> int:
        return self.db.attempts

    def close(self) -> None:
        self.db.close()

    # -- identity ---------------------------------------------------------------------------------

    def discover(self, identifiers: Sequence[Identifier]) -> Iterator[Identifier]:
        """Customer numbers, personal codes, e-mails, phones and EICs of the customers reached."""
        matches = self._match(identifiers)
        if not matches:
            return
        ids = list(matches)
        found: dict[tuple[IdentityType, str], Identifier] = {}

        def add(match: _Match, kind: IdentityType, value: Any, table: str) -> None:
            if value is None:
                return
            try:
                identifier = Identifier.of(kind, str(value), via=match.via(table), source_strength=match.strength)
            except InvalidIdentifier:
                return  # a stored value that is not a usable identifier (e.g. a malformed phone)
            known = found.get((identifier.type, identifier.value))
            if known is None or identifier.outranks(known):
                found[(identifier.type, identifier.value)] = identifier

        for page in self._pages(q.CUSTOMERS, customer_ids=ids):
            for row in page:
                match = matches[row["id"]]
                add(match, IdentityType.CUSTOMER_ID, row["id"], "customers")
                add(match, IdentityType.PERSONAL_CODE, row["personal_code"], "customers")
        for page in self._pages(q.CONTACTS, customer_ids=ids):
            for row in page:
                if row["kind"] in REVEALED_CONTACTS:
                    add(matches[row["customer_id"]], REVEALED_CONTACTS[row["kind"]], row["value"], "contacts")
        owners = {}
        for page in self._pages(q.CONTRACTS, customer_ids=ids):
            owners.update({row["id"]: row["customer_id"] for row in page})
        for page in self._pages(q.METERING_POINTS, customer_ids=ids):
            for row in page:
                add(matches[owners[row["contract_id"]]], IdentityType.METERING_POINT_EIC, row["eic"],
                    "metering_points")
        yield from found.values()

    def _match(self, identifiers: Iterable[Identifier]) -> dict[int, _Match]:
        """Customer number -> the identifiers that reach it, in customer-number order."""
        wanted: dict[IdentityType, dict[str, Identifier]] = {}
        for identifier in identifiers:
            if identifier.type in self.accepts:
                same = wanted.setdefault(identifier.type, {})
                known = same.get(identifier.value)
                if known is None or identifier.outranks(known):
                    same[identifier.value] = identifier
        found: dict[int, dict[tuple[IdentityType, str], Identifier]] = {}
        for kind, by_value in wanted.items():
            for customer_id, identifier in self._lookup(kind, by_value):
                found.setdefault(customer_id, {})[(identifier.type, identifier.value)] = identifier
        return {cid: _Match(cid, list(found[cid].values())) for cid in sorted(found)}

    def _lookup(self, kind: IdentityType, by_value: dict[str, Identifier]) -> Iterator[tuple[int, Identifier]]:
        """(customer number, identifier) for every customer the identifiers of one type reach."""
        if kind is IdentityType.PERSONAL_CODE:
            # Stored "as issued": Latvian codes with their hyphen. Ask for both forms, compare normalised.
            codes = sorted({form for value in by_value for form in (value, latvian_display(value))})
            rows = self.db.fetch("customers by personal code", q.CUSTOMERS_BY_PERSONAL_CODE, {"codes": codes})
        elif kind is IdentityType.CUSTOMER_ID:
            numbers = sorted({int(value) for value in by_value if _customer_number(value) is not None})
            if not numbers:
                return
            rows = self.db.fetch("customers by customer number", q.CUSTOMERS_BY_ID, {"ids": numbers})
        elif kind is IdentityType.EMAIL:
            rows = self.db.fetch("contacts by e-mail", q.CUSTOMERS_BY_EMAIL, {"emails": sorted(by_value)})
        elif kind is IdentityType.PHONE:
            rows = self.db.fetch("contacts by phone", q.CUSTOMERS_BY_PHONE, {"phones": sorted(by_value)})
        else:
            rows = self.db.fetch("metering_points by EIC", q.CUSTOMERS_BY_EIC, {"eics": sorted(by_value)})
        for customer_id, stored in rows:
            identifier = by_value.get(_normalised(kind, stored))
            if identifier is not None:
                yield int(customer_id), identifier

    # -- records ----------------------------------------------------------------------------------

    def collect(self, identifiers: Sequence[Identifier]) -> Iterator[Record]:
        """Every record of every customer the identifiers reach, customer by customer."""
        matches = self._match(identifiers)
        if not matches:
            return
        customers: dict[int, dict[str, Any]] = {}
        for page in self._pages(q.CUSTOMERS, customer_ids=list(matches)):
            customers.update((row["id"], row) for row in page)
        for customer_id, match in matches.items():
            if customer_id in customers:  # gone between the two queries: nothing left to report
                yield from self._customer(customers[customer_id], match)

    def _customer(self, customer: dict[str, Any], match: _Match) -> Iterator[Record]:
        by = tuple(match.found_by)
        cid = customer["id"]
        ids = [cid]
        me = ("customers", str(cid))
        contracts = [row for page in self._pages(q.CONTRACTS, customer_ids=ids) for row in page]
        relationship_end = _relationship_end(customer, contracts)
        now = _now()
        yield self._record("customers", customer, by, now, event_date=relationship_end,
                           reveals=self._reveals(match, "customers", (IdentityType.CUSTOMER_ID, cid),
                                                 (IdentityType.PERSONAL_CODE, customer["personal_code"])))
        for page in self._pages(q.CONTACTS, customer_ids=ids):
            now = _now()
            for row in page:
                fields = {k: val for k, val in row.items() if k != "value"}
                if row["kind"] not in CONTACT_FIELD:  # the schema's CHECK allows no other: the schema changed
                    raise ConnectorError(self.system, "contacts: a contact kind the documented schema does not have")
                fields[CONTACT_FIELD[row["kind"]]] = row["value"]
                kind = REVEALED_CONTACTS.get(row["kind"])
                reveals = self._reveals(match, "contacts", (kind, row["value"])) if kind else ()
                yield self._record("contacts", fields, by, now, event_date=relationship_end, parent=me,
                                   reveals=reveals)
        now = _now()
        contract_end = {row["id"]: row["end_date"] for row in contracts}
        for row in contracts:
            yield self._record("contracts", row, by, now, event_date=row["end_date"], parent=me)
        for page in self._pages(q.METERING_POINTS, customer_ids=ids):
            now = _now()
            for row in page:
                yield self._record("metering_points", row, by, now, event_date=contract_end.get(row["contract_id"]),
                                   parent=("contracts", str(row["contract_id"])),
                                   reveals=self._reveals(match, "metering_points",
                                                         (IdentityType.METERING_POINT_EIC, row["eic"])))
        yield from self._invoices(ids, by, me)
        for page in self._pages(q.PAYMENTS, customer_ids=ids):
            now = _now()
            for row in page:
                yield self._record("payments", row, by, now, event_date=_day(row["paid_at"]), parent=me)
        debt_since: dict[int, date | None] = {}
        for page in self._pages(q.DEBTS, customer_ids=ids):
            now = _now()
            for row in page:
                debt_since[row["id"]] = row["since"]
                yield self._record("debts", row, by, now, event_date=row["since"], parent=me)
        if debt_since:
            for page in self._pages(q.COLLECTION_STEPS, customer_ids=ids):
                now = _now()
                for row in page:  # a step is kept as long as its debt: counted from the debt's start
                    yield self._record("collection_steps", row, by, now, event_date=debt_since.get(row["debt_id"]),
                                       parent=("debts", str(row["debt_id"])))
        for page in self._pages(q.CREDIT_CHECKS, customer_ids=ids):
            now = _now()
            for row in page:
                yield self._record("credit_checks", row, by, now, event_date=_day(row["checked_at"]), parent=me)

    def _invoices(self, ids: list[int], by: tuple[Identifier, ...], me: tuple[str, str]) -> Iterator[Record]:
        """Invoices a page at a time, each page followed by its lines (streamed in pages too)."""
        for page in self._pages(q.INVOICES, customer_ids=ids):
            now = _now()
            issued = {row["id"]: row["issue_date"] for row in page}
            for row in page:
                yield self._record("invoices", row, by, now, event_date=row["issue_date"], parent=me)
            for lines in self._pages(q.INVOICE_LINES, invoice_ids=list(issued)):
                now = _now()
                for row in lines:
                    yield self._record("invoice_lines", row, by, now, event_date=issued.get(row["invoice_id"]),
                                       parent=("invoices", str(row["invoice_id"])))

    def _record(self, source: str, fields: dict[str, Any], by: tuple[Identifier, ...], retrieved_at: datetime,
                **extra: Any) -> Record:
        return make_record(self, source, str(fields["id"]), fields, by, retrieved_at, **extra)

    def _reveals(self, match: _Match, table: str,
                 *items: tuple[IdentityType, Any]) -> tuple[Identifier, ...]:
        out = []
        for kind, value in items:
            if value is None:
                continue
            try:
                out.append(Identifier.of(kind, str(value), via=match.via(table), source_strength=match.strength))
            except InvalidIdentifier:
                continue
        return tuple(out)

    def _pages(self, reader: q.Reader, **params: list[int]) -> Iterator[list[dict[str, Any]]]:
        """The reader's rows in keyset pages; each page comes from one completed (retried) query."""
        after = q.FIRST_ID
        while True:
            rows = self.db.fetch(reader.source, reader.statement, {**params, "after": after, "limit": self.page_size})
            if rows:
                yield [reader.fields(row) for row in rows]
            if len(rows) < self.page_size:
                return
            after = rows[-1][0]


def _customer_number(value: str) -> int | None:
    """The customer number a canonical decimal string names, or None (no query for anything else)."""
    if not (value.isascii() and value.isdigit()) or str(int(value)) != value:
        return None
    number = int(value)
    return number if 0 < number <= MAX_CUSTOMER_NUMBER else None


def _normalised(kind: IdentityType, stored: Any) -> str | None:
    try:
        return normalise(kind, str(stored))
    except InvalidIdentifier:
        return None


def _relationship_end(customer: dict[str, Any], contracts: list[dict[str, Any]]) -> date | None:
    """Customer data is kept from the end of the last contract; an account without any, from its opening."""
    if not contracts:
        return _day(customer["created_at"])
    ends = [row["end_date"] for row in contracts]
    if any(end is None for end in ends):
        return None
    return max(ends)


def _day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.date()


def _now() -> datetime:
    return datetime.now(UTC)
