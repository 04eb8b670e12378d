"""What the Volt app holds, source by source: each field's data category and retention rule.

Field names are the API's own (`sandbox/volt/app.py` documents the objects), so a record's fields
are what the app holds, not our paraphrase of it. Sub-resources of an account (vehicles, cards,
sessions, consents) are separate sources because they are kept for different reasons and for
different periods, and the letter names their categories separately.
"""

from __future__ import annotations

from connectors.contract import Source

ACCOUNTS = "accounts"
VEHICLES = "vehicles"
PAYMENT_CARDS = "payment_cards"
CHARGING_SESSIONS = "charging_sessions"
CONSENTS = "consents"
SIGNUPS = "signups"

SOURCES: dict[str, Source] = {
    ACCOUNTS: Source(
        ACCOUNTS,
        {"id": "user.unique_id", "email": "user.contact.email", "phone": "user.contact.phone_number",
         "google_sub": "user.account.external_login", "display_name": "user.name",
         "customer_id": "user.unique_id", "created_at": "system.operations", "status": "system.operations"},
        "app accounts (GET /v1/accounts); event date = account creation",
        retention_rule="app_account"),
    VEHICLES: Source(
        VEHICLES,
        {"id": "user.unique_id", "account_id": "user.unique_id", "make": "user.mobility.vehicle",
         "model": "user.mobility.vehicle", "mac_address": "user.mobility.vehicle_mac_address",
         "added_at": "user.mobility.vehicle"},
        "vehicles registered in the app; event date = when added",
        retention_rule="app_account"),
    PAYMENT_CARDS: Source(
        PAYMENT_CARDS,
        {"id": "user.unique_id", "account_id": "user.unique_id", "brand": "user.financial.credit_card",
         "masked_pan": "user.financial.credit_card", "expiry": "user.financial.credit_card",
         "added_at": "user.financial.credit_card"},
        "payment cards (masked by the app); event date = when added",
        retention_rule="app_account"),
    CHARGING_SESSIONS: Source(
        CHARGING_SESSIONS,
        {"id": "user.unique_id", "account_id": "user.unique_id", "vehicle_id": "user.unique_id",
         "station_id": "user.mobility.charging_session", "station_name": "user.mobility.charging_session",
         "latitude": "user.location.precise", "longitude": "user.location.precise",
         "started_at": "user.mobility.charging_session", "ended_at": "user.mobility.charging_session",
         "energy_kwh": "user.mobility.charging_session", "price_eur": "user.mobility.charging_session"},
        "charging sessions with the station's position; event date = session start",
        retention_rule="app_account"),
    CONSENTS: Source(
        CONSENTS,
        {"id": "user.unique_id", "account_id": "user.unique_id", "purpose": "user.privacy_preferences",
         "granted": "user.privacy_preferences", "recorded_at": "user.privacy_preferences"},
        "consents given or refused in the app; event date = when recorded",
        retention_rule="consent"),
    SIGNUPS: Source(
        SIGNUPS,
        {"id": "user.unique_id", "email": "user.contact.email", "phone": "user.contact.phone_number",
         "started_at": "system.operations", "step_reached": "system.operations"},
        "unfinished sign-ups (the app's policy: deleted after 48 h); event date = start of the sign-up",
        retention_rule="volt_signup"),
}

# API path segment of each account sub-resource -> our source name.
SUB_RESOURCES: dict[str, str] = {
    "vehicles": VEHICLES,
    "payment-cards": PAYMENT_CARDS,
    "charging-sessions": CHARGING_SESSIONS,
    "consents": CONSENTS,
}

# The field each source's retention period counts from.
EVENT_FIELD: dict[str, str] = {
    ACCOUNTS: "created_at",
    VEHICLES: "added_at",
    PAYMENT_CARDS: "added_at",
    CHARGING_SESSIONS: "started_at",
    CONSENTS: "recorded_at",
    SIGNUPS: "started_at",
}

DATETIME_FIELDS = frozenset({"created_at", "added_at", "started_at", "ended_at", "recorded_at"})
