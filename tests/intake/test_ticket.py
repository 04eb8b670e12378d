"""Valid tickets: parsing, normalisation, defaults and the opaque request id."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from dsar_pipeline.intake import IdentityType, TicketError, parse_ticket
from dsar_pipeline.intake.request_ids import derive_request_id, is_request_id

from .asic_builder import NOW, make_signer
from .conftest import EE_CODE, FIXED_NOW, PERSONAL_VALUES, PHONE_E164

KEY = b"test-request-id-key-0123456789"


def test_valid_estonian_ticket_is_normalised(ticket_dict, to_bytes):
    ticket = parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW)
    assert ticket.controller_id == "enefit-ee"
    assert ticket.personal_code == ("EE", EE_CODE)
    assert ticket.identities_of(IdentityType.PHONE) == [PHONE_E164]
    assert ticket.extensions.delivery_contacts.phone == PHONE_E164
    assert ticket.subject_identities[0].identity_country == "EE"
    assert ticket.language == "et"
    assert ticket.received_at.isoformat() == "2026-03-02T09:15:00+00:00"


def test_language_defaults_to_controller_first_language(ticket_dict, to_bytes):
    del ticket_dict["extensions"]["language"]
    assert parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW).language == "et"
    ticket_dict["extensions"]["controller"] = "enefit-lv"
    ticket_dict["subject_identities"] = [{"identity_type": "email", "identity_value": "a@example.lv"}]
    assert parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW).language == "lv"


@pytest.mark.parametrize("value", ["161175-19997", "16117519997"])
def test_latvian_code_normalised_with_hyphen(ticket_dict, to_bytes, value):
    ticket_dict["extensions"]["controller"] = "enefit-lv"
    ticket_dict["subject_identities"][0]["identity_value"] = value
    ticket = parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW)
    assert ticket.personal_code == ("LV", "161175-19997")


def test_new_format_latvian_code_is_accepted(ticket_dict, to_bytes):
    ticket_dict["subject_identities"][0].update(identity_value="32867300679", identity_country="LV")
    assert parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW).personal_code == ("LV", "328673-00679")


def test_lithuanian_code_needs_explicit_country(ticket_dict, to_bytes):
    ticket_dict["subject_identities"][0].update(identity_value="33309240064", identity_country="LT")
    assert parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW).personal_code == ("LT", "33309240064")


def test_email_domain_is_normalised(ticket_dict, to_bytes):
    ticket_dict["subject_identities"][1]["identity_value"] = "Mari.Maasikas@EXAMPLE.EE"
    ticket = parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW)
    assert ticket.identities_of(IdentityType.EMAIL) == ["Mari.Maasikas@example.ee"]


def test_opendsr_property_ids_and_version_01_accepted(ticket_dict, to_bytes):
    ticket_dict["api_version"] = "0.1"
    ticket_dict["property_ids"] = ["enefit-portal"]
    assert parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW).api_version == "0.1"


def test_phone_optional_with_id_card_certificate(ticket_dict, to_bytes, pki):
    signer = make_signer(pki["issuing"], f"PNOEE-{EE_CODE}", non_repudiation=False, key_encipherment=True)
    from cryptography.hazmat.primitives.serialization import Encoding

    der = signer.cert.public_bytes(Encoding.DER)
    del ticket_dict["extensions"]["delivery_contacts"]["phone"]
    ticket_dict["extensions"]["id_card_certificate"] = base64.b64encode(der).decode()
    ticket = parse_ticket(to_bytes(ticket_dict), now=NOW)
    assert ticket.extensions.certificate_der() == der


def test_id_card_certificate_of_someone_else_is_refused(ticket_dict, to_bytes, pki):
    from cryptography.hazmat.primitives.serialization import Encoding

    other = make_signer(pki["issuing"], "PNOEE-49403136526", non_repudiation=False, key_encipherment=True)
    ticket_dict["extensions"]["id_card_certificate"] = base64.b64encode(other.cert.public_bytes(Encoding.DER)).decode()
    with pytest.raises(TicketError) as info:
        parse_ticket(to_bytes(ticket_dict), now=NOW)
    assert "different person" in str(info.value)
    assert "49403136526" not in str(info.value)


def test_request_id_is_opaque_deterministic_and_keyed(ticket_dict, to_bytes):
    raw = to_bytes(ticket_dict)
    first = parse_ticket(raw, now=FIXED_NOW, request_id_key=KEY)
    second = parse_ticket(raw, now=FIXED_NOW, request_id_key=KEY)
    assert first.request_id == second.request_id
    assert is_request_id(first.request_id) and len(first.request_id) == 28
    other_key = parse_ticket(raw, now=FIXED_NOW, request_id_key=b"another-key-0123456789")
    assert other_key.request_id != first.request_id
    ticket_dict["subject_request_id"] = EE_CODE  # a helpdesk numbering tickets by personal code
    leaky = parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW, request_id_key=KEY)
    assert all(value not in leaky.request_id for value in PERSONAL_VALUES)
    assert leaky.request_id == derive_request_id("enefit-ee", EE_CODE, KEY)


def test_request_id_differs_per_controller():
    assert derive_request_id("enefit-ee", "t-1", KEY) != derive_request_id("enefit-lv", "t-1", KEY)


def test_public_summary_has_no_personal_values(ticket_dict, to_bytes):
    summary = parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW).public_summary()
    text = repr(summary)
    assert all(value not in text for value in PERSONAL_VALUES)
    assert summary["identity_types"] == ["email", "personal_code", "phone"]


def test_future_submitted_time_is_refused(ticket_dict, to_bytes):
    ticket_dict["submitted_time"] = (FIXED_NOW + timedelta(hours=1)).isoformat()
    with pytest.raises(TicketError, match="submitted_time: is in the future"):
        parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW)


def test_offset_times_are_kept_aware(ticket_dict, to_bytes):
    ticket_dict["submitted_time"] = "2026-03-02T01:30:00+02:00"
    ticket = parse_ticket(to_bytes(ticket_dict), now=FIXED_NOW)
    assert ticket.received_at.utcoffset() == timedelta(hours=2)
