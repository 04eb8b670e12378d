"""One person's records from all five systems, with values as the sandbox's systems send them.

Every field every connector declares is present (the language tests then see every label), with
the awkward values a real package meets: ISO 8601 strings ending in `Z` (portal, hub), hub
constants (`PHYSICAL_PERSON`, `REMOTE_READING`), nested hub documents, snake_case enumerations
(`to_customer`, `sole_trader`), a chat transcript naming the agent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connectors.contract import Record
from tests.package.test_export import DECLARED, EIC_EE, interval_rows, meter_page, rec

AGENT = "Jelena Ivanova"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def records() -> list[Record]:
    transcript = [
        {"speaker": "customer", "text": "Tere! Mul on küsimus arve kohta.", "role": "customer"},
        {"speaker": "bot", "text": "Thank you. Let me check that for you.", "role": "bot"},
        {"speaker": f"agent {AGENT}", "text": f"Hello, this is {AGENT}.", "role": "agent", "agent_name": AGENT,
         "agent_id": "A-103"},
    ]
    billing: list[Record] = [
        rec("billing", "customers", "100001", {
            "id": 100001, "kind": "sole_trader", "legal_entity": "enefit-ee", "personal_code": "34612092502",
            "first_name": "Jevgeni", "last_name": "Lillemets", "business_name": "Jevgeni Lillemets FIE",
            "business_reg_code": "18478923", "language": "ru", "created_at": _at(2023, 8, 21, 9)}),
        rec("billing", "contacts", "1", {"id": 1, "customer_id": 100001, "kind": "email",
                                         "email": "jevgeni.lillemets27@hot.ee", "phone": None, "address": None,
                                         "is_primary": True, "valid_from": date(2023, 8, 21)}),
        rec("billing", "contacts", "3", {"id": 3, "customer_id": 100001, "kind": "address", "email": None,
                                         "phone": None, "address": "Pärnu mnt 87-70, Tallinn", "is_primary": True,
                                         "valid_from": date(2023, 8, 21)}),
        rec("billing", "contracts", "5001", {"id": 5001, "customer_id": 100001, "number": "L-8078673",
                                             "product": "Fixed price 12 m", "start_date": date(2023, 8, 21),
                                             "end_date": None, "status": "active"}),
        rec("billing", "metering_points", "1", {"id": 1, "contract_id": 5001, "eic": EIC_EE,
                                                "address": "Pärnu mnt 87-70, Tallinn", "country": "EE",
                                                "time_zone": "Europe/Tallinn", "grid_operator": "Elektrilevi OÜ",
                                                "has_production": True}),
        rec("billing", "invoices", "1", {"id": 1, "customer_id": 100001, "contract_id": 5001,
                                         "number": "23080000001", "issue_date": date(2023, 9, 5),
                                         "due_date": date(2023, 9, 19), "period_start": date(2023, 8, 1),
                                         "period_end": date(2023, 8, 31), "total_eur": Decimal("194.60"),
                                         "status": "unpaid"}),
        rec("billing", "invoice_lines", "1", {"id": 1, "invoice_id": 1, "description": "Network fee",
                                              "quantity": Decimal("878.140"), "unit": "kWh",
                                              "unit_price_eur": Decimal("0.0512"), "amount_eur": Decimal("44.96")}),
        rec("billing", "invoice_lines", "4", {"id": 4, "invoice_id": 1, "description": "Monthly fee",
                                              "quantity": Decimal("1.000"), "unit": "pcs",
                                              "unit_price_eur": Decimal("2.9900"), "amount_eur": Decimal("2.99")}),
        rec("billing", "payments", "1", {"id": 1, "invoice_id": 1, "customer_id": 100001,
                                         "paid_at": _at(2023, 9, 17, 21, 18), "amount_eur": Decimal("194.60"),
                                         "method": "direct debit", "payer_account_masked": "EE**38****8359"}),
        rec("billing", "debts", "1", {"id": 1, "customer_id": 100001, "invoice_id": 1,
                                      "amount_eur": Decimal("158.35"), "since": date(2026, 9, 19),
                                      "status": "in_collection"}),
        rec("billing", "collection_steps", "3", {"id": 3, "debt_id": 1, "step": "collection_agency",
                                                 "taken_at": date(2026, 11, 18), "agency": "Julianus Inkasso OÜ"}),
        rec("billing", "credit_checks", "1", {"id": 1, "customer_id": 100001, "bureau": "Creditinfo Eesti AS",
                                              "checked_at": _at(2024, 11, 1), "score": 342,
                                              "decision": "deposit_required", "automated": True,
                                              "logic": "Score below 400: a deposit is required."}),
    ]
    volt: list[Record] = [
        rec("volt", "accounts", "a1", {"id": "21813d25-6552-48a6-83ff-50113d1a85dd",
                                       "email": "jevgeni.lillemets27@hot.ee", "phone": "+37252458591",
                                       "google_sub": "720897170828502922731", "display_name": "Jevgeni",
                                       "customer_id": 100001, "created_at": _at(2024, 11, 28), "status": "active"}),
        rec("volt", "vehicles", "v1", {"id": "c07a30f2", "account_id": "21813d25", "make": "Škoda",
                                       "model": "Enyaq", "mac_address": "26:04:EA:33:25:6D",
                                       "added_at": _at(2024, 11, 28, 1)}),
        rec("volt", "payment_cards", "p1", {"id": "eeea163e", "account_id": "21813d25", "brand": "Mastercard",
                                            "masked_pan": "**** **** **** 2127", "expiry": "04/29",
                                            "added_at": _at(2024, 11, 28, 1)}),
        rec("volt", "charging_sessions", "s1", {"id": "430f801d", "account_id": "21813d25", "vehicle_id": "c07a30f2",
                                                "station_id": "EE-TLN-001", "station_name": "Ülemiste keskus",
                                                "latitude": 59.4219, "longitude": 24.7994,
                                                "started_at": _at(2024, 11, 30, 18, 5),
                                                "ended_at": _at(2024, 11, 30, 18, 50), "energy_kwh": 23.346,
                                                "price_eur": 9.1}),
        rec("volt", "consents", "c1", {"id": "0200b1f0", "account_id": "21813d25",
                                       "purpose": "location_while_charging", "granted": False,
                                       "recorded_at": _at(2024, 11, 28)}),
        rec("volt", "signups", "g1", {"id": "f0458043", "email": "jevgeni.lillemets27@hot.ee",
                                      "phone": "+37252458591", "started_at": _at(2026, 4, 15),
                                      "step_reached": "email_entered"}),
    ]
    recordings: list[Record] = [
        rec("recordings", "calls", "call-1", {"call_id": "ad66a1bd", "channel": "chatbot",
                                              "caller_number": "+37252458591", "customer_id": 100001,
                                              "agent_id": "A-103", "agent_name": AGENT,
                                              "started_at": _at(2024, 1, 10, 21, 21),
                                              "ended_at": _at(2024, 1, 10, 21, 28), "duration_s": 424,
                                              "queue": "outages", "language": "et", "transcript": transcript}),
    ]
    portal: list[Record] = [
        rec("portal", "users", "u1", {"username": "jevgenilillem296", "email": "jevgeni.lillemets27@hot.ee",
                                      "phone": "+37252458591", "personal_code": "34612092502",
                                      "customer_id": 100001, "language": "et", "created_at": "2025-11-06T00:00:00Z"}),
        rec("portal", "logins", "14", {"id": 14, "at": "2025-10-26T00:30:00Z", "ip": "199.84.7.183",
                                       "user_agent": UA, "method": "smart-id", "success": False}),
        rec("portal", "consents", "1", {"id": 1, "purpose": "newsletter", "channel": "sms", "granted": True,
                                        "recorded_at": "2025-11-06T00:00:00Z"}),
        rec("portal", "cookie_consents", "2", {"id": 2, "consent_id": "b6aae05b-13d5-42f7-b09b-7d97464c04af",
                                               "recorded_at": "2026-02-24T23:10:45Z",
                                               "categories": ["necessary", "analytics"], "ip": "18.109.121.214"}),
        rec("portal", "messages", "1", {"id": 1, "sent_at": "2026-03-16T10:19:33Z", "direction": "to_customer",
                                        "subject": "Arve", "body": "Teie arve on tasutud."}),
        rec("portal", "documents", "1", {"id": 1, "title": "Electricity supply contract", "kind": "contract",
                                         "created_at": "2025-11-06T00:00:00Z", "size_bytes": 112547}),
    ]
    avp: list[Record] = [
        rec("avp", "customer", "38X", {
            "customer_eic": "38X-EE-0030001-B", "personal_code": "34612092502", "customer_type": "PHYSICAL_PERSON",
            "other_identities": [{"identity_type": "DOCUMENT_ID", "identity_value": "KA1234567"}],
            "first_name": "Jevgeni", "last_name": "Lillemets", "company_name": "Jevgeni Lillemets FIE",
            "organization_name": "Lillemets OÜ", "email": "jevgeni.lillemets27@hot.ee", "phone": "+3726123456",
            "mobile_phone": "+37252458591", "billing_address": "Pärnu mnt 87-70, Tallinn",
            "billing_bank_name": "Swedbank", "billing_bank_account": "EE382200221020145685",
            "billing_method": "EMAIL"}),
        rec("avp", "metering_points", EIC_EE, {
            "meter_eic": EIC_EE, "customer_eic": "38X-EE-0030001-B",
            "metering_point": {"commodityType": "ELECTRICITY", "meteringType": "REMOTE_READING",
                               "meteringPointType": "REGULAR", "sourceType": ["AGREEMENT"], "version": 1},
            "electricity_characteristics": {"consumptionScale": "SMALL", "connectionState": "CONNECTED",
                                            "resolution": "PT15M", "customerType": "MICRO", "production": True,
                                            "apartmentAssociation": False, "chargingPoint": False,
                                            "productionSource": "SOLAR", "productionCapacity": 10.5},
            "address_id": 2132193, "street_address": "Pärnu mnt 87-70", "locality": "Tallinn",
            "municipality": "Tallinn", "county": "Harju maakond", "postcode": "11534",
            "location_comment": "Elektrikilp trepikojas",
            "coordinates": {"coordinateSystem": "WGS84", "latitude": 59.42, "longitude": 24.75}}),
        rec("avp", "agreements", "S-L-8078673-1", {
            "agreement_id": "S-L-8078673-1", "agreement_type": "SUPPLY", "meter_eic": EIC_EE,
            "customer_eic": "38X-EE-0030001-B", "customer_name": "Jevgeni Lillemets",
            "service_provider_eic": "38X-EE-0000001-W", "service_provider_name": "Enefit AS",
            "commodity_type": "ELECTRICITY", "preliminary_termination_fee": 25,
            "valid_from": "2023-08-20T21:00:00Z", "valid_to": "2024-03-30T22:00:00Z"}),
        meter_page(EIC_EE, interval_rows(_at(2025, 1, 31, 22), 96)),
    ]
    return billing + volt + recordings + portal + avp


def declared_fields() -> set[tuple[str, str, str]]:
    return {(system, source, name) for system, sources in DECLARED.items()
            for source, declared in sources.items() for name in declared.fields}


def present_fields(found: list[Record]) -> set[tuple[str, str, str]]:
    return {(r.system, r.source, name) for r in found for name in r.fields}


def summary() -> dict[str, Any]:
    return {name: {"status": "complete", "records": 1} for name in DECLARED}
