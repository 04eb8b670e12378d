"""Fixtures for the intake tests: a valid ticket to start from, and a test PKI."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from .asic_builder import CertificateAuthority, make_issuing_ca, make_root

EE_CODE = "38001085718"
LV_CODE = "161175-19997"
EMAIL = "mari.maasikas@example.ee"
PHONE = "+372 5123 4567"
PHONE_E164 = "+37251234567"
PERSONAL_VALUES = (EE_CODE, LV_CODE, "16117519997", EMAIL, "51234567", "5123 4567", PHONE_E164)

BASE_TICKET: dict[str, Any] = {
    "subject_request_id": "helpdesk-2026-000123",
    "subject_request_type": "access",
    "submitted_time": "2026-03-02T09:15:00Z",
    "api_version": "1.0",
    "subject_identities": [
        {"identity_type": "personal_code", "identity_value": EE_CODE, "identity_format": "raw"},
        {"identity_type": "email", "identity_value": EMAIL, "identity_format": "raw"},
        {"identity_type": "phone", "identity_value": PHONE, "identity_format": "raw"},
    ],
    "status_callback_urls": ["https://helpdesk.example.ee/opendsr/callbacks"],
    "extensions": {
        "controller": "enefit-ee",
        "language": "et",
        "delivery_contacts": {"email": EMAIL, "phone": PHONE},
    },
}

FIXED_NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def ticket_dict() -> dict[str, Any]:
    """A fresh deep copy of a valid Estonian ticket."""
    return copy.deepcopy(BASE_TICKET)


@pytest.fixture
def to_bytes() -> Callable[[dict[str, Any]], bytes]:
    """Serialise a ticket dict to UTF-8 JSON bytes."""
    return lambda data: json.dumps(data, ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="session")
def pki() -> dict[str, CertificateAuthority]:
    """A test root CA with an issuing CA, plus an unrelated CA that nobody trusts."""
    root = make_root()
    issuing = make_issuing_ca(root)
    rogue_root = make_root("TEST rogue root")
    rogue = make_issuing_ca(rogue_root, "TEST rogue issuing CA")
    return {"root": root, "issuing": issuing, "rogue": rogue}
