"""Example tickets for sandbox people, so that a new user can try the pipeline end to end.

Why from the sandbox: the example must name a person the simulated systems actually hold, with a
valid personal code, so that ``dsar ticket example | dsar ticket check -`` and the demo run find
data. The sandbox module is imported lazily: it is only present where the sandbox is installed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

EXAMPLE_PEOPLE = {"EE": "demo", "LV": "latvian"}
"""Which named sandbox person stands for each controller country."""


class ExampleError(RuntimeError):
    """No example can be produced (sandbox missing, person missing, unknown controller)."""


@lru_cache(maxsize=1)
def _named_people() -> tuple[dict[str, Any], ...]:
    """The sandbox's named people; building the population takes seconds, so do it once."""
    try:
        from sandbox.people import named_people
    except ImportError as exc:
        raise ExampleError(f"the sandbox is not installed ({type(exc).__name__})") from None
    return tuple(named_people())


def example_person(country: str) -> dict[str, Any]:
    """The sandbox person used for examples in ``country`` ("EE" -> "demo", "LV" -> "latvian")."""
    name = EXAMPLE_PEOPLE.get(country)
    if name is None:
        raise ExampleError(f"no example person for country {country!r}")
    for person in _named_people():
        if person.get("name") == name:
            return dict(person)
    raise ExampleError(f"the sandbox has no person named {name!r}")


def example_ticket(controller_id: str = "enefit-ee", *, now: datetime | None = None) -> dict[str, Any]:
    """A valid ticket (as a dict) for the controller's example person."""
    from ..profiles import ProfileError, load_profile

    try:
        profile = load_profile(controller_id)
    except ProfileError as exc:
        raise ExampleError(str(exc)) from None
    person = example_person(profile.country)
    language = person.get("language")
    if language not in {"et", "lv", "ru", "en"}:
        language = profile.default_language
    submitted = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    identities: list[dict[str, str]] = [
        {
            "identity_type": "personal_code",
            "identity_value": str(person["personal_code"]),
            "identity_format": "raw",
            "identity_country": str(person.get("country") or profile.country),
        },
        {"identity_type": "email", "identity_value": str(person["email"]), "identity_format": "raw"},
        {"identity_type": "phone", "identity_value": str(person["phone"]), "identity_format": "raw"},
    ]
    if person.get("customer_id") is not None:
        identities.append(
            {"identity_type": "customer_number", "identity_value": str(person["customer_id"]), "identity_format": "raw"}
        )
    return {
        "subject_request_id": f"example-{controller_id}-{submitted:%Y%m%dT%H%M%S}",
        "subject_request_type": "access",
        "submitted_time": submitted.isoformat().replace("+00:00", "Z"),
        "api_version": "1.0",
        "subject_identities": identities,
        "status_callback_urls": [],
        "extensions": {
            "controller": controller_id,
            "language": language,
            "delivery_contacts": {"email": str(person["email"]), "phone": str(person["phone"])},
        },
    }


def example_ticket_json(controller_id: str = "enefit-ee", *, now: datetime | None = None) -> str:
    """The example ticket as pretty-printed JSON text."""
    return json.dumps(example_ticket(controller_id, now=now), indent=2, ensure_ascii=False) + "\n"


__all__ = ["EXAMPLE_PEOPLE", "ExampleError", "example_person", "example_ticket", "example_ticket_json"]
