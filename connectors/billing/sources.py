"""What billing holds, table by table: every column the connector returns and its data category.

The contacts table keeps e-mails, phones and postal addresses in one `value` column; a record says
which by carrying it as `email`, `phone` or `address`, so each value is tagged with its own
category (the letter then lists "e-mail address", "phone number", "postal address").
Row ids and foreign keys to rows are bookkeeping (`system.operations`); the customer number is
an identifier we assign (`user.unique_id`) wherever it appears.
"""

from __future__ import annotations

from types import MappingProxyType

from connectors.contract import Source

OPS = "system.operations"
CUSTOMER_NUMBER = "user.unique_id"
CONTRACT = "user.energy.contract"
INVOICE = "user.financial.invoice"
PAYMENT = "user.financial.payment"
DEBT = "user.financial.debt"
CREDIT_CHECK = "user.financial.credit_check"

_SOURCES = (
    Source("customers", {
        "id": CUSTOMER_NUMBER,
        "kind": OPS,
        "legal_entity": OPS,
        "personal_code": "user.government_id.national_identification_number",
        "first_name": "user.name.first",
        "last_name": "user.name.last",
        "business_name": "user.name",
        # No category for a business register code exists; it identifies the sole trader's business.
        "business_reg_code": CUSTOMER_NUMBER,
        "language": "user.demographic.language",
        "created_at": OPS,
    }, "customer accounts (one per person or sole trader and controller)", "customer_relationship"),
    Source("contacts", {
        "id": OPS,
        "customer_id": CUSTOMER_NUMBER,
        "kind": OPS,
        "email": "user.contact.email",
        "phone": "user.contact.phone_number",
        "address": "user.contact.address",
        "is_primary": OPS,
        "valid_from": OPS,
    }, "e-mail addresses, phone numbers and postal addresses", "customer_relationship"),
    Source("contracts", {
        "id": OPS,
        "customer_id": CUSTOMER_NUMBER,
        "number": CONTRACT,
        "product": CONTRACT,
        "start_date": CONTRACT,
        "end_date": CONTRACT,
        "status": CONTRACT,
    }, "electricity supply contracts, active and ended", "contract"),
    Source("metering_points", {
        "id": OPS,
        "contract_id": OPS,
        "eic": "user.energy.metering_point_id",
        "address": "user.contact.address",
        "country": CONTRACT,
        "time_zone": CONTRACT,
        "grid_operator": CONTRACT,
        "has_production": CONTRACT,
    }, "metering points supplied under a contract", "contract"),
    Source("invoices", {
        "id": OPS,
        "customer_id": CUSTOMER_NUMBER,
        "contract_id": OPS,
        "number": INVOICE,
        "issue_date": INVOICE,
        "due_date": INVOICE,
        "period_start": INVOICE,
        "period_end": INVOICE,
        "total_eur": INVOICE,
        "status": INVOICE,
    }, "monthly invoices", "accounting"),
    Source("invoice_lines", {
        "id": OPS,
        "invoice_id": OPS,
        "description": INVOICE,
        "quantity": INVOICE,
        "unit": INVOICE,
        "unit_price_eur": INVOICE,
        "amount_eur": INVOICE,
    }, "lines of invoices", "accounting"),
    Source("payments", {
        "id": OPS,
        "invoice_id": OPS,
        "customer_id": CUSTOMER_NUMBER,
        "paid_at": PAYMENT,
        "amount_eur": PAYMENT,
        "method": PAYMENT,
        "payer_account_masked": "user.financial.bank_account",
    }, "payments received against invoices", "accounting"),
    Source("debts", {
        "id": OPS,
        "customer_id": CUSTOMER_NUMBER,
        "invoice_id": OPS,
        "amount_eur": DEBT,
        "since": DEBT,
        "status": DEBT,
    }, "overdue amounts", "debt"),
    Source("collection_steps", {
        "id": OPS,
        "debt_id": OPS,
        "step": DEBT,
        "taken_at": DEBT,
        "agency": DEBT,
    }, "steps taken to collect a debt (agency: a recipient of the data)", "debt"),
    Source("credit_checks", {
        "id": OPS,
        "customer_id": CUSTOMER_NUMBER,
        "bureau": CREDIT_CHECK,
        "checked_at": CREDIT_CHECK,
        "score": CREDIT_CHECK,
        "decision": CREDIT_CHECK,
        "automated": CREDIT_CHECK,
        "logic": CREDIT_CHECK,
    }, "credit checks and the automated decisions taken on them (Art. 22)", "credit_check"),
)

SOURCES = MappingProxyType({source.name: source for source in _SOURCES})
