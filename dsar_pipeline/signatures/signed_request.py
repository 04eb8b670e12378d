"""The signed request document: what the person signs is the request itself, field by field.

Why: a signature over "some file" proves only that the signer signed *something*. If the ticket's
identities, contacts or time could differ from what was signed, anyone could take their own
signed container, add a stranger's customer number to the ticket around it, and be verified.
So the container's one data file is a canonical JSON document of the request, and verification
compares it with the ticket; any difference rejects the request (`content_mismatch`).

The document (file name ``dsar-request.json``, UTF-8, keys sorted, no insignificant whitespace)::

    {"controller": "enefit-ee",
     "delivery_contacts": {"email": "mari@example.ee", "phone": "+37251234567"},   # phone may be null
     "format": "dsar-request/1",
     "id_card_certificate_sha256": null,            # or the hex SHA-256 of the DER certificate
     "request_type": "access",                       # or "portability"
     "subject_identities": [                          # sorted by type, then value
        {"country": "EE", "type": "personal_code", "value": "38001085718"},
        {"country": null, "type": "email", "value": "mari@example.ee"}],
     "submitted_time": "2026-03-02T09:15:00Z"}       # UTC, whole seconds

Identities and contacts are compared in their normalised form (the ticket's rules: E.164 phones,
canonical personal codes and EICs), so a document that writes a phone with spaces still matches;
`submitted_time` in its canonical form above; anything the ticket
has that the document lacks, or the reverse, is a mismatch. Mismatches are reported by field name
only, never by value.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsar_pipeline.intake.ticket import Ticket

DOCUMENT_NAME = "dsar-request.json"
DOCUMENT_FORMAT = "dsar-request/1"
MAX_DOCUMENT_BYTES = 64 * 1024
_FIELDS = ("controller", "delivery_contacts", "format", "id_card_certificate_sha256", "request_type",
           "subject_identities", "submitted_time")


def _utc_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_document(ticket: Ticket) -> dict[str, Any]:
    """The canonical request document of a (validated, normalised) ticket."""
    der = ticket.extensions.certificate_der()
    contacts = ticket.extensions.delivery_contacts
    return {
        "format": DOCUMENT_FORMAT,
        "controller": ticket.controller_id,
        "request_type": ticket.subject_request_type.value,
        "submitted_time": _utc_seconds(ticket.submitted_time),
        "subject_identities": _identities(
            (i.identity_type.value, i.identity_value, i.identity_country) for i in ticket.subject_identities),
        "delivery_contacts": {"email": contacts.email, "phone": contacts.phone},
        "id_card_certificate_sha256": hashlib.sha256(der).hexdigest() if der else None,
    }


def document_bytes(document: dict[str, Any]) -> bytes:
    """The exact bytes that are signed."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _identities(items: Any) -> list[dict[str, Any]]:
    return sorted(({"type": kind, "value": value, "country": country} for kind, value, country in items),
                  key=lambda i: (i["type"], i["value"]))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def mismatched_fields(data_files: dict[str, bytes], ticket: Ticket) -> list[str]:
    """The fields in which the signed document differs from the ticket ([] when it is this request).

    A container must hold exactly one data file, the request document; anything else is a
    mismatch too (``data_files``, ``document``)."""
    if list(data_files) != [DOCUMENT_NAME]:
        return ["data_files"]
    raw = data_files[DOCUMENT_NAME]
    try:
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ValueError("too large")
        signed = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ["document"]
    if not isinstance(signed, dict) or set(signed) != set(_FIELDS) or signed.get("format") != DOCUMENT_FORMAT:
        return ["document"]
    expected = request_document(ticket)
    problems = [name for name in ("controller", "request_type", "id_card_certificate_sha256")
                if signed[name] != expected[name]]
    if signed["submitted_time"] != expected["submitted_time"]:  # its canonical form: UTC, whole seconds, Z
        problems.append("submitted_time")
    if _normalised_identities(signed["subject_identities"], ticket) != expected["subject_identities"]:
        problems.append("subject_identities")
    problems += [f"delivery_contacts.{name}" for name in ("email", "phone")
                 if _contact(signed["delivery_contacts"], name) != expected["delivery_contacts"][name]]
    return sorted(problems)


def _normalised_identities(items: Any, ticket: Ticket) -> list[dict[str, Any]] | None:
    """The document's identities normalised by the ticket's own rules (None when they are not valid)."""
    from dsar_pipeline.intake.ticket import FieldProblem, SubjectIdentity, _normalise_identities

    if not isinstance(items, list) or len(items) > 16:
        return None
    try:
        parsed = [SubjectIdentity(identity_type=i["type"], identity_value=i["value"],
                                  identity_country=i.get("country")) for i in items]
        normalised = _normalise_identities(parsed, ticket.profile)
    except (FieldProblem, ValueError, TypeError, KeyError):
        return None
    return _identities((i.identity_type.value, i.identity_value, i.identity_country) for i in normalised)


def _contact(contacts: Any, name: str) -> str | bool | None:
    """A delivery contact of the document, normalised (False when it is not a valid one)."""
    from dsar_pipeline.identities import normalise as identities

    if not isinstance(contacts, dict) or set(contacts) != {"email", "phone"}:
        return False
    value = contacts[name]
    if value is None:
        return None
    if not isinstance(value, str):
        return False
    try:
        return identities.normalise_email(value) if name == "email" else identities.normalise_phone(value)
    except identities.IdentityError:
        return False


__all__ = ["DOCUMENT_FORMAT", "DOCUMENT_NAME", "document_bytes", "mismatched_fields", "request_document"]
