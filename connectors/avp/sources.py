"""What the hub holds on a person, as sources with their fields' data categories, and the mapping
from the hub's documents (customer.yml, meteringPoint.yml, agreement.yml) to record fields.

Only attributes the hub actually sends become fields (optional properties are often absent).
The free-form blocks of a metering point (its technical attributes and electricity
characteristics) are kept whole as objects: they are the hub's data about the person's connection
and the export shows them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.contract import Source

NAME, FIRST, LAST = "user.name", "user.name.first", "user.name.last"
CODE = "user.government_id.national_identification_number"
EMAIL, PHONE, ADDRESS = "user.contact.email", "user.contact.phone_number", "user.contact.address"
BANK, FINANCIAL = "user.financial.bank_account", "user.financial"
CUSTOMER_EIC, METER_EIC = "user.energy.customer_eic", "user.energy.metering_point_id"
AGREEMENT, SERIES, OPERATIONS = "user.energy.agreement", "user.energy.consumption_series", "system.operations"

# customer.yml metadataType -> (field, category)
METADATA: dict[str, tuple[str, str]] = {
    "FIRST_NAME": ("first_name", FIRST),
    "LAST_NAME": ("last_name", LAST),
    "COMPANY_NAME": ("company_name", NAME),
    "ORGANIZATION_NAME": ("organization_name", NAME),
    "EMAIL": ("email", EMAIL),
    "PHONE": ("phone", PHONE),
    "MOBILE_PHONE": ("mobile_phone", PHONE),
    "BILLING_ADDRESS": ("billing_address", ADDRESS),
    "BILLING_BANK_NAME": ("billing_bank_name", BANK),
    "BILLING_BANK_ACCOUNT": ("billing_bank_account", BANK),
    "BILLING_METHOD": ("billing_method", FINANCIAL),
}
# meteringPoint.yml location -> (field)
LOCATION: dict[str, str] = {"adrId": "address_id", "streetAddress": "street_address", "locality": "locality",
                            "municipality": "municipality", "county": "county", "postcode": "postcode",
                            "comment": "location_comment"}

CUSTOMER = Source(
    name="customer",
    description="the person as the data hub knows them: identities (personal code, customer EIC) and metadata",
    retention_rule="customer_relationship",
    fields={
        "customer_eic": CUSTOMER_EIC,
        "personal_code": CODE,
        "customer_type": OPERATIONS,
        "other_identities": "user.unique_id",
        **{name: category for name, category in METADATA.values()},
    },
)
METERING_POINTS = Source(
    name="metering_points",
    description="metering points the person holds or held in the data hub, with their location",
    retention_rule="contract",
    fields={
        "meter_eic": METER_EIC,
        "customer_eic": CUSTOMER_EIC,
        "metering_point": METER_EIC,  # the hub's technical attributes (type, metering, version)
        "electricity_characteristics": METER_EIC,  # resolution, production, connection state, ...
        **{name: ADDRESS for name in LOCATION.values()},
        "coordinates": "user.location.precise",
    },
)
AGREEMENTS = Source(
    name="agreements",
    description="supply and grid agreements of the person's metering points registered in the data hub",
    retention_rule="contract",
    fields={
        "agreement_id": AGREEMENT,
        "agreement_type": AGREEMENT,
        "meter_eic": METER_EIC,
        "customer_eic": CUSTOMER_EIC,
        "customer_name": NAME,
        "service_provider_eic": AGREEMENT,
        "service_provider_name": AGREEMENT,
        "commodity_type": AGREEMENT,
        "preliminary_termination_fee": AGREEMENT,
        "valid_from": AGREEMENT,
        "valid_to": AGREEMENT,
    },
)
METER_DATA = Source(
    name="meter_data",
    description="interval consumption and production of a metering point, one record per hub page "
                "(rows: interval_start_utc, resolution, direction, kwh, quality, reading_time_utc)",
    retention_rule="metering_data",
    fields={
        "metering_point_eic": METER_EIC,
        "period_start": OPERATIONS,
        "period_end": OPERATIONS,
        "page": OPERATIONS,
        "intervals": SERIES,
    },
)
SOURCES: Mapping[str, Source] = {s.name: s for s in (CUSTOMER, METERING_POINTS, AGREEMENTS, METER_DATA)}


def customer_fields(identity: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of an identityEntity; several values of one metadata type are joined with "; "."""
    fields: dict[str, Any] = {}
    others = []
    for item in _objects(identity.get("customerIdentities")):
        kind, value = item.get("identityType"), item.get("identityValue")
        if not isinstance(value, str):
            continue
        if kind == "EIC":
            fields.setdefault("customer_eic", value)
        elif kind == "PERSONAL_ID":
            fields.setdefault("personal_code", value)
        else:
            others.append({"identity_type": str(kind), "identity_value": value})
    if others:
        fields["other_identities"] = others
    if isinstance(identity.get("customerType"), str):
        fields["customer_type"] = identity["customerType"]
    for item in _objects(identity.get("customerMetadata")):
        target, value = METADATA.get(item.get("metadataType", "")), item.get("metadataValue")
        if target and isinstance(value, str):
            name = target[0]
            fields[name] = f"{fields[name]}; {value}" if name in fields else value
    return fields


def meter_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of a meterMetadataResponse."""
    point = entry.get("meteringPoint") if isinstance(entry.get("meteringPoint"), dict) else {}
    fields: dict[str, Any] = {"meter_eic": point.get("meterEic")}
    if isinstance(entry.get("customerEic"), str):
        fields["customer_eic"] = entry["customerEic"]
    attributes = {k: plain(v) for k, v in point.items() if k != "meterEic"}
    if attributes:
        fields["metering_point"] = attributes
    if isinstance(entry.get("electricityCharacteristics"), dict):
        fields["electricity_characteristics"] = plain(entry["electricityCharacteristics"])
    location = entry.get("location") if isinstance(entry.get("location"), dict) else {}
    for key, name in LOCATION.items():
        if location.get(key) is not None:
            fields[name] = plain(location[key])
    if isinstance(location.get("coordinates"), dict):
        fields["coordinates"] = plain(location["coordinates"])
    return fields


def agreement_fields(agreement: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of a meterAgreement."""
    provider = agreement.get("serviceProvider") if isinstance(agreement.get("serviceProvider"), dict) else {}
    party = agreement.get("customer") if isinstance(agreement.get("customer"), dict) else {}
    values = {
        "agreement_id": agreement.get("agreementId"),
        "agreement_type": agreement.get("agreementType"),
        "meter_eic": agreement.get("meterEic"),
        "customer_eic": party.get("customerEic"),
        "customer_name": party.get("customerName"),
        "service_provider_eic": provider.get("serviceProviderEic"),
        "service_provider_name": provider.get("serviceProviderName"),
        "commodity_type": agreement.get("commodityType"),
        "preliminary_termination_fee": agreement.get("preliminaryTerminationFee"),
        "valid_from": agreement.get("validFrom"),
        "valid_to": agreement.get("validTo"),
    }
    return {name: value for name, value in values.items() if value is not None}


def plain(value: Any) -> Any:
    """JSON-ready copy: the transport parses numbers as Decimal (for kWh); attributes such as a
    production capacity are descriptive, so they become int or float like any JSON number."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
