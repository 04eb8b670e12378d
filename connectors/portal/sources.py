"""What the portal holds, as the connector declares it: sources, field categories, retention rules.

One declaration per API resource. The record's own time (`at`, `recorded_at`, `sent_at`,
`created_at`) is the date retention counts from, so each source names that field too.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.contract import Source

ID = "system.operations"
NATIONAL_ID = "user.government_id.national_identification_number"


@dataclass(frozen=True)
class Resource:
    """One per-user list of the API: its path segment, our source name, and its time field."""

    path: str
    source: str
    time_field: str


USERS = Source(
    name="users",
    description="portal user account",
    fields={
        "username": "user.account.username",
        "email": "user.contact.email",
        "phone": "user.contact.phone_number",
        "personal_code": NATIONAL_ID,  # set once the user logged in with an eID; may be another person's
        "customer_id": "user.unique_id",
        "language": "user.demographic.language",
        "created_at": ID,
    },
    # The brief gives the account itself no rule of its own: it lives as long as the account does.
    retention_rule=None,
)

LOGINS = Source(
    name="logins",
    description="portal login history",
    fields={
        "id": ID,
        "at": "user.behavior.browsing_history",
        "ip": "user.device.ip_address",
        "user_agent": "user.behavior.browsing_history",
        "method": "user.authorization.credentials",
        "success": "user.behavior.browsing_history",
    },
    retention_rule="portal_activity",
)

CONSENTS = Source(
    name="consents",
    description="marketing consents and preferences given in the portal",
    fields={
        "id": ID,
        "purpose": "user.privacy_preferences",
        "channel": "user.privacy_preferences",
        "granted": "user.privacy_preferences",
        "recorded_at": "user.privacy_preferences",
    },
    retention_rule="consent",
)

COOKIE_CONSENTS = Source(
    name="cookie_consents",
    description="cookie-consent records of the portal",
    fields={
        "id": ID,
        "consent_id": "user.device.cookie",
        "recorded_at": "user.device.cookie",
        "categories": "user.device.cookie",
        "ip": "user.device.ip_address",
    },
    retention_rule="portal_activity",
)

MESSAGES = Source(
    name="messages",
    description="messages in the portal's inbox, both directions",
    fields={
        "id": ID,
        "sent_at": "user.content.private",
        "direction": "user.content.private",
        "subject": "user.content.private",
        "body": "user.content.private",
    },
    retention_rule="correspondence",
)

DOCUMENTS = Source(
    name="documents",
    description="documents offered in the portal (metadata only)",
    # No category fits "documents we hold for you" exactly; the nearest is content exchanged with us.
    fields={
        "id": ID,
        "title": "user.content.private",
        "kind": "user.content.private",
        "created_at": "user.content.private",
        "size_bytes": "user.content.private",
    },
    retention_rule="correspondence",
)

SOURCES: dict[str, Source] = {s.name: s for s in (USERS, LOGINS, CONSENTS, COOKIE_CONSENTS, MESSAGES, DOCUMENTS)}

# The per-user lists, in the order they are read.
RESOURCES: tuple[Resource, ...] = (
    Resource("logins", LOGINS.name, "at"),
    Resource("consents", CONSENTS.name, "recorded_at"),
    Resource("cookie-consents", COOKIE_CONSENTS.name, "recorded_at"),
    Resource("messages", MESSAGES.name, "sent_at"),
    Resource("documents", DOCUMENTS.name, "created_at"),
)
