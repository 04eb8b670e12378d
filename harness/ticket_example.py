"""Example tickets for sandbox people, signed with the sandbox eID: try the pipeline end to end.

Why from the sandbox: the example must name a person the simulated systems actually hold, with a
valid personal code, and carry the signature a real person would make with their ID card over
exactly this request (the canonical request document, :mod:`.signed_request`). So any request a
person could sign with their own card can be made here, extra identities and other delivery
contacts included: that is how impersonation attempts are tried against the pipeline.

It works on its own: the population is rebuilt from the default seed and size, and the container
is signed offline with the eID of the demo's sandbox state (``.sandbox/demo``), whose CA, OCSP
responder and time-stamping authority `dsar demo` trusts. The sandbox module is imported lazily:
it is only present where the sandbox is installed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

EXAMPLE_PEOPLE = {"EE": "demo", "LV": "latvian"}
"""Which named sandbox person stands for each controller country."""

DEMO_STATE = Path(".sandbox/demo")
"""The sandbox state `dsar demo` runs with: its eID signs the examples."""

Signer = Callable[[str, bytes], bytes]
"""(data file name, data) -> a signed ASiC-E container."""


class ExampleError(RuntimeError):
    """No example can be produced (sandbox missing, person missing, unknown controller, bad option)."""


@lru_cache(maxsize=1)
def _named_people() -> tuple[dict[str, Any], ...]:
    """The sandbox's named people; building the population takes seconds, so do it once."""
    try:
        from sandbox.people import named_people
    except ImportError as exc:
        raise ExampleError(f"the sandbox is not installed ({type(exc).__name__})") from None
    return tuple(named_people())


def example_person(country: str, name: str | None = None) -> dict[str, Any]:
    """The named sandbox person `name`, or the one that stands for `country` ("EE" -> "demo")."""
    wanted = name or EXAMPLE_PEOPLE.get(country)
    if wanted is None:
        raise ExampleError(f"no example person for country {country!r}")
    for person in _named_people():
        if person.get("name") == wanted:
            return dict(person)
    known = ", ".join(str(p.get("name")) for p in _named_people())
    raise ExampleError(f"the sandbox has no person named {wanted!r} (known: {known})")


def ticket_for(person: dict[str, Any], controller_id: str, *, now: datetime, language: str | None = None,
               identities: Sequence[tuple[str, str]] = (), email: str | None = None,
               phone: str | None = None) -> dict[str, Any]:
    """An unsigned access ticket as the web form files it for `person`, with extra identities and
    other delivery contacts when given."""
    from dsar_pipeline.profiles import load_profile

    profile = load_profile(controller_id)
    chosen = language or person.get("language")
    if chosen not in {"et", "lv", "ru", "en"}:
        chosen = profile.default_language
    submitted = now.astimezone(UTC).replace(microsecond=0)
    items: list[dict[str, str]] = [{
        "identity_type": "personal_code", "identity_value": str(person["personal_code"]),
        "identity_format": "raw", "identity_country": str(person.get("country") or profile.country)}]
    for kind in ("email", "phone"):
        if person.get(kind):
            items.append({"identity_type": kind, "identity_value": str(person[kind]), "identity_format": "raw"})
    if person.get("customer_id") is not None:
        items.append({"identity_type": "customer_number", "identity_value": str(person["customer_id"]),
                      "identity_format": "raw"})
    items += [{"identity_type": kind, "identity_value": value, "identity_format": "raw"} for kind, value in identities]
    contacts = {"email": email or person.get("email"), "phone": phone or person.get("phone")}
    return {
        "subject_request_id": f"example-{person['name']}-{submitted:%Y%m%dT%H%M%S}",
        "subject_request_type": "access",
        "submitted_time": submitted.isoformat().replace("+00:00", "Z"),
        "api_version": "1.0",
        "subject_identities": items,
        "status_callback_urls": [],
        "extensions": {"controller": controller_id, "language": chosen,
                       "delivery_contacts": {k: v for k, v in contacts.items() if v}},
    }


def sign_ticket(ticket: dict[str, Any], sign: Signer) -> dict[str, Any]:
    """The ticket with its evidence: a container signed over this very request's document."""
    from dsar_pipeline.intake.errors import TicketError
    from dsar_pipeline.intake.parse import parse_ticket
    from dsar_pipeline.signatures.signed_request import DOCUMENT_NAME, document_bytes, request_document

    try:
        parsed = parse_ticket(json.dumps(ticket, ensure_ascii=False).encode())
    except TicketError as exc:
        raise ExampleError(f"the request is not a valid ticket: {exc}") from None
    container = sign(DOCUMENT_NAME, document_bytes(request_document(parsed)))
    signed = dict(ticket)
    signed["extensions"] = {**ticket["extensions"], "verification_evidence": {
        "type": "signed_container", "container": base64.b64encode(container).decode(),
        "file_name": "request.asice"}}
    return signed


def local_signer(person: dict[str, Any], state_dir: Path = DEMO_STATE) -> Signer:
    """Sign as `person` with the eID of a sandbox state directory, in this process (no server)."""
    try:
        from sandbox.eid import EidError, SandboxEid
    except ImportError as exc:
        raise ExampleError(f"the sandbox is not installed ({type(exc).__name__})") from None
    holder = SimpleNamespace(first_name=person["first_name"], last_name=person["last_name"],
                             personal_code=person["personal_code"], country=person["country"])

    def sign(name: str, data: bytes) -> bytes:
        try:
            return SandboxEid(state_dir).sign_container([(name, data)], holder)
        except EidError as exc:
            raise ExampleError(f"the sandbox eID cannot sign: {exc}") from None

    return sign


def example_ticket(controller_id: str = "enefit-ee", *, person: str | None = None, language: str | None = None,
                   identities: Sequence[tuple[str, str]] = (), email: str | None = None, phone: str | None = None,
                   now: datetime | None = None, state_dir: Path = DEMO_STATE) -> dict[str, Any]:
    """A ticket signed by the sandbox eID of `person` (default: the controller's sandbox person)."""
    from dsar_pipeline.profiles import ProfileError, load_profile

    try:
        profile = load_profile(controller_id)
    except ProfileError as exc:
        raise ExampleError(str(exc)) from None
    who = example_person(profile.country, person)
    ticket = ticket_for(who, controller_id, now=now or datetime.now(UTC), language=language,
                        identities=identities, email=email, phone=phone)
    return sign_ticket(ticket, local_signer(who, state_dir))


def example_ticket_json(controller_id: str = "enefit-ee", **options: Any) -> str:
    """The example ticket as pretty-printed JSON text."""
    return json.dumps(example_ticket(controller_id, **options), indent=2, ensure_ascii=False) + "\n"


__all__ = ["DEMO_STATE", "EXAMPLE_PEOPLE", "ExampleError", "example_person", "example_ticket",
           "example_ticket_json", "local_signer", "sign_ticket", "ticket_for"]
