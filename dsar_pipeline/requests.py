"""A request as the pipeline carries it: the sealed ticket, and the facts the steps need.

The sensor seals the raw ticket into the work store under its opaque request id; the first asset
opens it again. Everything Dagster is shown comes from `public_facts` (controller, dates,
verification outcome, counts), never from the ticket's identities or contacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from dsar_pipeline.intake import Ticket, parse_ticket
from dsar_pipeline.intake.deadlines import controller_today, deadline_for_ticket
from dsar_pipeline.intake.verification import verify_ticket
from dsar_pipeline.package.envelope import decrypt_bytes, encrypt_bytes
from dsar_pipeline.package.keys import KeyProvider
from dsar_pipeline.workstore import WorkStore

TICKET_OBJECT = "ticket.sealed"


def seal_ticket(store: WorkStore, keys: KeyProvider, request_id: str, raw: bytes) -> str:
    return store.put(f"{request_id}/{TICKET_OBJECT}", encrypt_bytes(raw, keys, {"request": request_id,
                                                                              "asset": "ticket"}))


def open_ticket(store: WorkStore, keys: KeyProvider, request_id: str) -> Ticket:
    raw = decrypt_bytes(store.get(f"{request_id}/{TICKET_OBJECT}"), keys, {"request": request_id, "asset": "ticket"})
    return parse_ticket(raw)


@dataclass(frozen=True)
class RequestFacts:
    """What the steps need of one request (personal: travels only sealed)."""

    request_id: str
    subject_request_id: str
    controller: str
    language: str
    request_type: str
    identities: tuple[tuple[str, str], ...]  # (identity_type, value) as the ticket gives them
    delivery_email: str | None
    delivery_phone: str | None
    certificate_der: bytes | None
    received_date: date
    due_date: date
    verification: str  # verified | needs_manual_verification | rejected
    verification_reason: str | None
    callback_urls: tuple[str, ...]

    def public_facts(self, today: date | None = None) -> dict[str, Any]:
        """Non-personal facts for Dagster metadata and the DPO's overview."""
        today = today or controller_today(self.controller)
        return {"controller": self.controller, "request_type": self.request_type, "language": self.language,
                "received_date": self.received_date.isoformat(), "due_date": self.due_date.isoformat(),
                "days_left": (self.due_date - today).days, "verification": self.verification}


def request_facts(ticket: Ticket) -> RequestFacts:
    deadline = deadline_for_ticket(ticket.received_at, ticket.controller_id)
    verification = verify_ticket(ticket)
    extensions = ticket.extensions
    return RequestFacts(
        request_id=ticket.request_id, subject_request_id=ticket.subject_request_id,
        controller=ticket.controller_id, language=str(ticket.language),
        request_type=str(ticket.subject_request_type.value),
        identities=tuple((i.identity_type.value, i.identity_value) for i in ticket.subject_identities),
        delivery_email=extensions.delivery_contacts.email, delivery_phone=extensions.delivery_contacts.phone,
        certificate_der=extensions.certificate_der(), received_date=deadline.received_date,
        due_date=deadline.effective_due_date, verification=verification.status.value,
        verification_reason=verification.reason_code, callback_urls=tuple(ticket.status_callback_urls))
