"""What the Volt back end holds, indexed the way its API reads it, and the JSON shape of each record.

Everything is built once at start-up from the population: look-ups are dictionary hits and every
list is pre-sorted by (time, id), the order the API pages in. The ground-truth link between a
record and a person (`person_key`) is the sandbox's own and never leaves this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sandbox import records as r
from sandbox.population import Population
from sandbox.volt.cursor import SortKey

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Json = dict[str, Any]
T = TypeVar("T")


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix, the API's one datetime format."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass(slots=True)
class Listing:
    """Items in API order with their sort keys (parallel lists, ascending)."""

    keys: list[SortKey] = field(default_factory=list)
    items: list[Json] = field(default_factory=list)

    @classmethod
    def of(cls, records: Iterable[T], moment: Callable[[T], datetime], ident: Callable[[T], str],
           shape: Callable[[T], Json]) -> Listing:
        ordered = sorted(records, key=lambda rec: (micros(moment(rec)), ident(rec)))
        return cls([(micros(moment(rec)), ident(rec)) for rec in ordered], [shape(rec) for rec in ordered])


def account_json(a: r.VoltAccount) -> Json:
    return {"id": a.id, "email": a.email, "phone": a.phone, "google_sub": a.google_sub,
            "display_name": a.display_name, "customer_id": a.customer_id, "created_at": iso(a.created_at),
            "status": a.status}


def signup_json(s: r.VoltSignup) -> Json:
    return {"id": s.id, "email": s.email, "phone": s.phone, "started_at": iso(s.started_at),
            "step_reached": s.step_reached}


def vehicle_json(v: r.Vehicle) -> Json:
    return {"id": v.id, "account_id": v.account_id, "make": v.make, "model": v.model,
            "mac_address": v.mac_address, "added_at": iso(v.added_at)}


def card_json(c: r.PaymentCard) -> Json:
    return {"id": c.id, "account_id": c.account_id, "brand": c.brand, "masked_pan": c.masked_pan,
            "expiry": c.expiry, "added_at": iso(c.added_at)}


def session_json(s: r.ChargingSession) -> Json:
    return {"id": s.id, "account_id": s.account_id, "vehicle_id": s.vehicle_id, "station_id": s.station_id,
            "station_name": s.station_name, "latitude": s.latitude, "longitude": s.longitude,
            "started_at": iso(s.started_at), "ended_at": iso(s.ended_at), "energy_kwh": s.energy_kwh,
            "price_eur": s.price_eur}


def consent_json(c: r.AppConsent) -> Json:
    return {"id": c.id, "account_id": c.account_id, "purpose": c.purpose, "granted": c.granted,
            "recorded_at": iso(c.recorded_at)}


def _group(records: Iterable[T], key: Callable[[T], str | None]) -> dict[str, list[T]]:
    groups: dict[str, list[T]] = defaultdict(list)
    for rec in records:
        value = key(rec)
        if value:
            groups[value].append(rec)
    return groups


def _listings(groups: dict[str, list[T]], moment: Callable[[T], datetime], ident: Callable[[T], str],
              shape: Callable[[T], Json]) -> dict[str, Listing]:
    return {k: Listing.of(v, moment, ident, shape) for k, v in groups.items()}


class VoltStore:
    """Read-only indexes over the population's Volt tables."""

    SUB_RESOURCES = ("vehicles", "payment-cards", "charging-sessions", "consents")

    def __init__(self, pop: Population) -> None:
        self.accounts = {a.id: a for a in pop.volt_accounts}
        by_time = (lambda a: a.created_at, lambda a: a.id, account_json)
        self.accounts_by = {
            "email": _listings(_group(pop.volt_accounts, lambda a: a.email.casefold()), *by_time),
            "phone": _listings(_group(pop.volt_accounts, lambda a: a.phone), *by_time),
            "google_sub": _listings(_group(pop.volt_accounts, lambda a: a.google_sub), *by_time),
            "customer_id": _listings(_group(pop.volt_accounts, lambda a: _text(a.customer_id)), *by_time),
        }
        signup_order = (lambda s: s.started_at, lambda s: s.id, signup_json)
        self.signups_by = {
            "email": _listings(_group(pop.volt_signups, lambda s: s.email.casefold()), *signup_order),
            "phone": _listings(_group(pop.volt_signups, lambda s: s.phone), *signup_order),
        }
        self.children: dict[str, dict[str, Listing]] = {
            "vehicles": _listings(_group(pop.vehicles, lambda v: v.account_id),
                                  lambda v: v.added_at, lambda v: v.id, vehicle_json),
            "payment-cards": _listings(_group(pop.payment_cards, lambda c: c.account_id),
                                       lambda c: c.added_at, lambda c: c.id, card_json),
            "charging-sessions": _listings(_group(pop.charging_sessions, lambda s: s.account_id),
                                           lambda s: s.started_at, lambda s: s.id, session_json),
            "consents": _listings(_group(pop.app_consents, lambda c: c.account_id),
                                  lambda c: c.recorded_at, lambda c: c.id, consent_json),
        }

    def account(self, account_id: str) -> Json | None:
        account = self.accounts.get(account_id)
        return account_json(account) if account else None

    def find_accounts(self, field_name: str, value: str) -> Listing:
        return self.accounts_by[field_name].get(_normalise(field_name, value), Listing())

    def find_signups(self, field_name: str, value: str) -> Listing:
        return self.signups_by[field_name].get(_normalise(field_name, value), Listing())

    def sub_resource(self, account_id: str, resource: str) -> Listing:
        return self.children[resource].get(account_id, Listing())


def _normalise(field_name: str, value: str) -> str:
    if field_name == "customer_id":
        return str(int(value))  # "007" is customer 7
    return value.casefold() if field_name == "email" else value


def _text(number: int | None) -> str | None:
    return None if number is None else str(number)
