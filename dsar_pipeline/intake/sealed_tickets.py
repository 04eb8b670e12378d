"""A request as the pipeline carries it: the sealed ticket, and the facts the steps need.

The sensor verifies the ticket's evidence once, at intake, and seals the raw ticket and that
verdict into the work store under its opaque request id; the first asset opens both again (a
verdict is never recomputed later against another clock or another replay registry). Everything
Dagster is shown comes from `public_facts` (controller, dates, verification outcome, counts),
never from the ticket's identities or contacts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.identity import Identifier, IdentityType
from dsar_pipeline.intake import Ticket, parse_ticket
from dsar_pipeline.intake.deadlines import deadline_for_ticket
from dsar_pipeline.sealing.envelope import decrypt_bytes, encrypt_bytes
from dsar_pipeline.sealing.keys import KeyProvider
from dsar_pipeline.sealing.workstore import WorkStore
from dsar_pipeline.signatures.verification import VerificationResult

TICKET_OBJECT = "ticket.sealed"
VERIFICATION_OBJECT = "verification.sealed"


def seal_ticket(store: WorkStore, keys: KeyProvider, request_id: str, raw: bytes,
                verification: VerificationResult) -> str:
    """The raw ticket and the verdict of its evidence, sealed; the verdict first, so a ticket never
    rests without the verdict it was accepted with."""
    text = json.dumps(verification.to_dict(), sort_keys=True).encode()
    store.put(f"{request_id}/{VERIFICATION_OBJECT}",
              encrypt_bytes(text, keys, {"request": request_id, "asset": "verification"}))
    return store.put(f"{request_id}/{TICKET_OBJECT}", encrypt_bytes(raw, keys, {"request": request_id,
                                                                              "asset": "ticket"}))


def open_ticket(store: WorkStore, keys: KeyProvider, request_id: str) -> tuple[Ticket, VerificationResult]:
    raw = decrypt_bytes(store.get(f"{request_id}/{TICKET_OBJECT}"), keys, {"request": request_id, "asset": "ticket"})
    verdict = decrypt_bytes(store.get(f"{request_id}/{VERIFICATION_OBJECT}"), keys,
                            {"request": request_id, "asset": "verification"})
    return parse_ticket(raw), VerificationResult.from_dict(json.loads(verdict))


@dataclass(frozen=True)
class RequestFacts:
    """What the steps need of one request (personal: travels only sealed)."""

    request_id: str
    subject_request_id: str
    controller: str
    language: str
    request_type: str
    identifiers: tuple[Identifier, ...]  # the anchor and the claims, as the ticket built them
    delivery_email: str | None
    delivery_phone: str | None
    certificate_der: bytes | None
    received_date: date
    due_date: date
    verification: str  # verified | needs_manual_verification | rejected
    verification_reason: str | None
    callback_urls: tuple[str, ...]

    @property
    def anchor(self) -> str | None:
        """The request's personal code in identifier form: every record is judged against it."""
        return next((i.value for i in self.identifiers if i.type is IdentityType.PERSONAL_CODE), None)

    @property
    def identity_verified(self) -> bool:
        return self.verification == "verified"

    def public_facts(self) -> dict[str, Any]:
        """Non-personal facts for Dagster metadata and the DPO's overview. No days left: stored, that
        figure would freeze at intake; the worklist and the deadline watch compute it when shown."""
        return {"controller": self.controller, "request_type": self.request_type, "language": self.language,
                "received_date": self.received_date.isoformat(), "due_date": self.due_date.isoformat(),
                "verification": self.verification,
                "reason_code": self.verification_reason or ""}


def request_facts(ticket: Ticket, verification: VerificationResult) -> RequestFacts:
    """The facts of a ticket, with the verdict its evidence got at intake."""
    deadline = deadline_for_ticket(ticket.received_at, ticket.controller_id)
    extensions = ticket.extensions
    return RequestFacts(
        request_id=ticket.request_id, subject_request_id=ticket.subject_request_id,
        controller=ticket.controller_id, language=str(ticket.language),
        request_type=str(ticket.subject_request_type.value),
        identifiers=ticket.identifiers,
        delivery_email=extensions.delivery_contacts.email, delivery_phone=extensions.delivery_contacts.phone,
        certificate_der=extensions.certificate_der(), received_date=deadline.received_date,
        due_date=deadline.effective_due_date, verification=verification.status.value,
        verification_reason=verification.reason_code, callback_urls=tuple(ticket.status_callback_urls))
