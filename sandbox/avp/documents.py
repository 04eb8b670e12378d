"""JSON bodies of the hub's answers, shaped as in the published OpenAPI files.

Only attributes the population actually has are filled in; everything else the schema allows is
left out rather than invented (a connector must cope with optional properties being absent).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sandbox import records as r
from sandbox.avp.protocol import format_instant
from sandbox.avp.registry import GRID_OPERATOR_EIC, GRID_OPERATOR_NAME, HubMeter
from sandbox.avp.series import utc_midnight

# city -> (county, municipality, first postcode, number of postcodes)
PLACES = {
    "Tallinn": ("Harju maakond", "Tallinn", 10111, 3400),
    "Tartu": ("Tartu maakond", "Tartu linn", 50050, 960),
    "Pärnu": ("Pärnu maakond", "Pärnu linn", 80010, 40),
}
SUPPLIER_NAME = "Enefit AS"


def _stable(text: str, modulus: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") % modulus


def customer_identity(customer: r.HubCustomer) -> dict[str, object]:
    """identityEntity of customer.yml: the person's identities (personal code, customer EIC) and metadata."""
    metadata = [{"metadataType": "FIRST_NAME", "metadataValue": customer.first_name},
                {"metadataType": "LAST_NAME", "metadataValue": customer.last_name}]
    if customer.email:
        metadata.append({"metadataType": "EMAIL", "metadataValue": customer.email})
    if customer.phone:
        metadata.append({"metadataType": "MOBILE_PHONE", "metadataValue": customer.phone})
    return {
        "customerType": "PHYSICAL_PERSON",
        "customerMetadata": metadata,
        "customerIdentities": [
            {"identityType": "PERSONAL_ID", "identityValue": customer.personal_code,
             "identityExtension": [{"extensionType": "COUNTRY", "extensionValue": "EE"}]},
            {"identityType": "EIC", "identityValue": customer.customer_eic},
        ],
    }


def _location(meter: r.MeteringPoint) -> dict[str, object]:
    street, _, city = meter.address.rpartition(", ")
    location: dict[str, object] = {"adrId": 2_000_000 + _stable(meter.eic + ":adr", 1_500_000),
                                   "streetAddress": street or meter.address}
    if city:
        location["locality"] = city
    if city in PLACES:
        county, municipality, first, span = PLACES[city]
        location.update(county=county, municipality=municipality,
                        postcode=f"{first + _stable(meter.eic + ':post', span):05d}")
    return location


def meter_metadata(entry: HubMeter) -> dict[str, object]:
    """meterMetadataResponse of meteringPoint.yml for one metering point."""
    meter = entry.meter
    characteristics: dict[str, object] = {
        "consumptionScale": "SMALL",
        "connectionState": "CONNECTED",
        "resolution": "PT15M",
        "customerType": "MICRO" if meter.has_production else "CONSUMER",
        "production": meter.has_production,
        "apartmentAssociation": False,
        "chargingPoint": False,
    }
    if meter.has_production:
        characteristics["productionSource"] = "SOLAR"
    return {
        "meteringPoint": {"meterEic": meter.eic, "commodityType": "ELECTRICITY", "meteringType": "REMOTE_READING",
                          "meteringPointType": "REGULAR", "sourceType": ["AGREEMENT"], "version": 1},
        "location": _location(meter),
        "electricityCharacteristics": characteristics,
        "customerEic": entry.customer.customer_eic,
    }


def meter_agreements(entry: HubMeter, supplier_eic: str) -> dict[str, object]:
    """meteringPoint of agreement.yml: the supply and the grid agreement of one meter.

    Validity is half-open: `validFrom` is local midnight of the contract's first day, `validTo`
    (only for ended contracts) local midnight after its last day, both written in UTC.
    """
    contract, customer = entry.contract, entry.customer
    valid: dict[str, str] = {"validFrom": format_instant(utc_midnight(contract.start_date))}
    if contract.end_date is not None:
        valid["validTo"] = format_instant(utc_midnight(contract.end_date + timedelta(days=1)))
    party = {"customerEic": customer.customer_eic, "customerName": f"{customer.first_name} {customer.last_name}"}
    agreements = []
    for kind, provider_eic, provider_name in (("SUPPLY", supplier_eic, SUPPLIER_NAME),
                                              ("GRID", GRID_OPERATOR_EIC, GRID_OPERATOR_NAME)):
        agreements.append({
            "agreementId": f"{kind[0]}-{contract.number}-{entry.meter.id}",
            "meterEic": entry.meter.eic,
            "agreementType": kind,
            "serviceProvider": {"serviceProviderEic": provider_eic, "serviceProviderName": provider_name},
            "customer": party,
            "commodityType": "ELECTRICITY",
            **valid,
        })
    return {"meterEic": entry.meter.eic, "agreements": agreements}
