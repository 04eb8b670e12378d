"""What each of the five systems can hold: its data categories and retention rules.

Why a static table: a controller profile must say, for every data category a system it runs can
produce, which purposes that category serves, and give a period for every retention rule of those
systems — otherwise a letter could list a category without a purpose or a period. The profile
schema test checks profiles against this table, and a second test checks this table against the
connectors' own source declarations (``Connector.sources``), so a connector that starts producing
a new category fails the tests until the profiles say what it is for.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.categories import CATEGORIES

from ..profiles import SystemName

SYSTEMS: tuple[SystemName, ...] = ("billing", "volt", "recordings", "portal", "avp")
"""The built-in systems tabled below; a system added by configuration is read from its declarations."""

_COMMON_PERSON = frozenset({"user.unique_id", "user.contact.email", "user.contact.phone_number"})

SYSTEM_CATEGORIES: Mapping[str, frozenset[str]] = {
    "billing": _COMMON_PERSON | {
        "user.government_id.national_identification_number", "user.name", "user.name.first", "user.name.last",
        "user.demographic.language", "user.contact.address", "user.energy.contract",
        "user.energy.metering_point_id", "user.financial.invoice", "user.financial.payment",
        "user.financial.bank_account", "user.financial.debt", "user.financial.credit_check",
    },
    "volt": _COMMON_PERSON | {
        "user.account.external_login", "user.name", "user.mobility.vehicle", "user.mobility.vehicle_mac_address",
        "user.financial.credit_card", "user.mobility.charging_session", "user.location.precise",
        "user.privacy_preferences",
    },
    # The recordings connector declares the call metadata; the audio itself is an attachment, which
    # `FoundData` reports as `user.sensor.audio`. Caller number and language are kept for sidecars
    # that tag them with their own categories.
    "recordings": _COMMON_PERSON | {
        "user.sensor.audio", "user.contact.phone_number.caller", "user.content.call_metadata",
        "user.content.chat_transcript", "user.demographic.language",
    },
    "portal": _COMMON_PERSON | {
        "user.account.username", "user.government_id.national_identification_number", "user.demographic.language",
        "user.behavior.browsing_history", "user.device.ip_address", "user.authorization.credentials",
        "user.privacy_preferences", "user.device.cookie", "user.content.private",
    },
    "avp": _COMMON_PERSON | {
        "user.energy.customer_eic", "user.government_id.national_identification_number", "user.name",
        "user.name.first", "user.name.last", "user.contact.address", "user.financial.bank_account",
        "user.financial", "user.energy.metering_point_id", "user.location.precise", "user.energy.agreement",
        "user.energy.consumption_series",
    },
}
"""Personal data categories (as named in ``connectors.categories``) each system can produce: a superset
of what its connector declares (checked by the tests), plus categories derived from attachments."""

SYSTEM_RULES: Mapping[str, frozenset[str]] = {
    "billing": frozenset({"customer_relationship", "contract", "accounting", "debt", "credit_check"}),
    "volt": frozenset({"volt_signup", "app_account", "consent"}),
    "recordings": frozenset({"call_recording"}),
    "portal": frozenset({"portal_activity", "consent", "correspondence"}),
    "avp": frozenset({"customer_relationship", "contract", "metering_data"}),
}
"""Retention rules (keys of ``connectors.retention_rules.RULES``) the sources of each system carry."""

DEFAULT_RULE: Mapping[str, str] = {"recordings": "call_recording"}
"""The rule of a system's records when its connector declares none for their source."""


def is_listed(category: str) -> bool:
    """True for categories a letter lists as the person's data.

    Bookkeeping (``system.operations``) is not data about the person, and ``third_party.*`` is data
    about others that the copy redacts (it is accounted for under Art. 15(4), not Art. 15(1)(b)).
    """
    return category in CATEGORIES and category != "system.operations" and not category.startswith("third_party.")


def declared_sources() -> dict[str, Mapping[str, object]]:
    """Each configured system's ``Connector.sources`` (source name -> ``Source``), where importable.

    A connector that is not written yet (or cannot be imported) is skipped: the static tables above
    stand in for it.
    """
    from connectors.registry import systems

    found: dict[str, Mapping[str, object]] = {}
    for name, entry in systems().items():
        try:  # the registry's class: a system described by a dataset file declares what its file says
            sources = getattr(entry.connector_class(), "sources", None)
        except ImportError:
            continue
        if isinstance(sources, Mapping):
            found[name] = sources
    return found


def rules_of_source() -> dict[tuple[str, str], str]:
    """(system, source) -> retention rule, from the connectors' declarations."""
    rules: dict[tuple[str, str], str] = {}
    for system, sources in declared_sources().items():
        for name, source in sources.items():
            rule = getattr(source, "retention_rule", None)
            if rule:
                rules[(system, name)] = rule
    return rules


__all__ = [
    "DEFAULT_RULE",
    "SYSTEMS",
    "SYSTEM_CATEGORIES",
    "SYSTEM_RULES",
    "SystemName",
    "declared_sources",
    "is_listed",
    "rules_of_source",
]
