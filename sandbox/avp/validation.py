"""Checks of request bodies, done by hand (the sandbox must run without the dev-only openapi-core).

Schema violations are 400 `VALIDATION_ERROR`; a market participant other than the token's is 403.
Unknown properties are ignored, as the published schemas do not forbid them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from flask import request

from sandbox.avp.protocol import Problem

EIC = re.compile(r"\d{2}[XYZWTVA][A-Z0-9\-]{12}[A-Z0-9]")
ROLES = {"OPEN_SUPPLIER", "GRID_OPERATOR", "LINE_OPERATOR", "CLOSED_DISTRIBUTION_NETWORK", "PRODUCER_OPERATOR",
         "CHARGING_POINT_OPERATOR", "AGGREGATOR", "ENERGY_SERVICE_PROVIDER"}
COMMODITIES = {"ELECTRICITY", "NATURAL_GAS"}


def invalid(message: str) -> Problem:
    return Problem(400, "VALIDATION_ERROR", message)


def json_body() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise invalid("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    return body


def field(container: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """A required property of the expected JSON type."""
    path = f"{where}.{name}" if where else name
    if name not in container:
        raise invalid(f"{path} is required")
    value = container[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise invalid(f"{path} has the wrong type")
    return value


def eic(value: Any, path: str) -> str:
    if not isinstance(value, str) or not EIC.fullmatch(value):
        raise invalid(f"{path} is not an EIC code (16 characters)")
    return value


def zoned_datetime(value: Any, path: str) -> datetime:
    """An ISO 8601 date-time with a zone offset (the schemas' `dateTime`)."""
    if not isinstance(value, str):
        raise invalid(f"{path} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"{path} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise invalid(f"{path} needs a zone offset (e.g. Z or +02:00)")
    return parsed


def market_participant(body: dict[str, Any], supplier_eic: str) -> str:
    """Check `marketParticipantContext`; the caller may act only as the retailer it is. Returns the commodity."""
    context = field(body, "marketParticipantContext", dict)
    party = eic(field(context, "marketParticipantIdentification", str, "marketParticipantContext"),
                "marketParticipantContext.marketParticipantIdentification")
    role = field(context, "marketParticipantRole", str, "marketParticipantContext")
    if role not in ROLES:
        raise invalid("marketParticipantContext.marketParticipantRole is not a known role")
    commodity = field(context, "commodityType", str, "marketParticipantContext")
    if commodity not in COMMODITIES:
        raise invalid("marketParticipantContext.commodityType must be ELECTRICITY or NATURAL_GAS")
    if party != supplier_eic:
        raise Problem(403, "FORBIDDEN", "the client may act only as its own market participant")
    if role != "OPEN_SUPPLIER":
        raise Problem(403, "FORBIDDEN", "the client is registered as OPEN_SUPPLIER only")
    return commodity
