"""Data categories: fideslang's taxonomy names, extended for energy and mobility data.

Every field a connector returns is tagged with one of these; the letter's "categories of personal
data concerned" (Art. 15(1)(b)) and the retention rules are driven by them.
"""

from __future__ import annotations

# fideslang data categories used here (https://ethyca.github.io/fideslang/taxonomy/data_categories/)
FIDESLANG: dict[str, str] = {
    "user.name": "name",
    "user.name.first": "first name",
    "user.name.last": "last name",
    "user.government_id.national_identification_number": "personal identification code",
    "user.contact.email": "e-mail address",
    "user.contact.phone_number": "phone number",
    "user.contact.address": "postal address",
    "user.account.username": "user name",
    "user.unique_id": "identifier assigned by us",
    "user.financial": "financial data",
    "user.financial.bank_account": "bank account",
    "user.financial.credit_card": "payment card (masked)",
    "user.device.ip_address": "IP address",
    "user.device.device_id": "device identifier",
    "user.device.cookie": "cookie consent record",
    "user.behavior.browsing_history": "browser and login history",
    "user.location.precise": "precise location",
    "user.content.public": "content you shared publicly",
    "user.content.private": "messages and content you sent us",
    "user.sensor.audio": "voice recording",
    "user.contact.phone_number.caller": "caller number",
    "user.privacy_preferences": "consents and preferences",
    "user.demographic.language": "language",
    "user.authorization.credentials": "login method",
    "user.behavior.purchase_history": "purchase history",
    "system.operations": "system records",
}

# Our extensions for energy and e-mobility (fideslang has none for these).
ENERGY: dict[str, str] = {
    "user.energy.metering_point_id": "metering point identifier (EIC)",
    "user.energy.customer_eic": "data hub customer identifier (EIC)",
    "user.energy.consumption_series": "electricity consumption and production readings",
    "user.energy.contract": "electricity contract",
    "user.energy.agreement": "supply and grid agreements in the data hub",
    "user.financial.invoice": "invoices",
    "user.financial.payment": "payments",
    "user.financial.debt": "debts and collection",
    "user.financial.credit_check": "credit checks and automated decisions",
    "user.mobility.charging_session": "EV charging sessions",
    "user.mobility.vehicle": "vehicle",
    "user.mobility.vehicle_mac_address": "vehicle MAC address",
    "user.account.external_login": "external login (Google account)",
    "user.content.call_metadata": "call and chat metadata",
    "user.content.chat_transcript": "chatbot transcript",
}

# Data about other people found inside the subject's records (Art. 15(4)): disclosed only redacted.
THIRD_PARTY: dict[str, str] = {
    "third_party.staff": "our staff member's identity (agent id and name)",
    "third_party.person": "another person's data",
}

CATEGORIES: dict[str, str] = {**FIDESLANG, **ENERGY, **THIRD_PARTY}


def check_category(name: str) -> str:
    """Return `name` if it is a known category; connectors call this when they declare fields."""
    if name not in CATEGORIES:
        raise KeyError(f"unknown data category {name!r}")
    return name
