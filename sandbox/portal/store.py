"""What the self-service portal holds, indexed the way its API reads it, and each record's JSON shape.

Built once at start-up: look-ups are dictionary hits and every per-user list is pre-sorted by
(time, id), the order the API pages in. The ground-truth `person_key` never leaves this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sandbox import records as r
from sandbox.population import Population

Json = dict[str, Any]


class _UserRecord(Protocol):
    username: str
    id: int


T = TypeVar("T", bound=_UserRecord)
LOOKUPS = ("username", "email", "phone", "personal_code", "customer_id")
SUB_RESOURCES = ("logins", "consents", "cookie-consents", "messages", "documents")


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix, the API's one datetime format."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_json(u: r.PortalUser) -> Json:
    return {"username": u.username, "email": u.email, "phone": u.phone, "personal_code": u.personal_code,
            "customer_id": u.customer_id, "language": u.language, "created_at": iso(u.created_at)}


def login_json(e: r.LoginEvent) -> Json:
    return {"id": e.id, "at": iso(e.at), "ip": e.ip, "user_agent": e.user_agent, "method": e.method,
            "success": e.success}


def consent_json(c: r.PortalConsent) -> Json:
    return {"id": c.id, "purpose": c.purpose, "channel": c.channel, "granted": c.granted,
            "recorded_at": iso(c.recorded_at)}


def cookie_json(c: r.CookieConsent) -> Json:
    return {"id": c.id, "consent_id": c.consent_id, "recorded_at": iso(c.recorded_at),
            "categories": list(c.categories), "ip": c.ip}


def message_json(m: r.PortalMessage) -> Json:
    return {"id": m.id, "sent_at": iso(m.sent_at), "direction": m.direction, "subject": m.subject, "body": m.body}


def document_json(d: r.PortalDocument) -> Json:
    return {"id": d.id, "title": d.title, "kind": d.kind, "created_at": iso(d.created_at),
            "size_bytes": d.size_bytes}


def normalise(field_name: str, value: str) -> str:
    """The index form of a look-up value (already validated by the app)."""
    if field_name in ("username", "email"):
        return value.casefold()
    if field_name == "customer_id":
        return str(int(value))
    return value


def _by_user(records: Iterable[T], moment: Callable[[T], datetime],
             shape: Callable[[T], Json]) -> dict[str, list[Json]]:
    groups: dict[str, list[T]] = defaultdict(list)
    for rec in records:
        groups[rec.username.casefold()].append(rec)
    return {user: [shape(rec) for rec in sorted(recs, key=lambda x: (moment(x), x.id))]
            for user, recs in groups.items()}


class PortalStore:
    """Read-only indexes over the population's portal tables."""

    def __init__(self, pop: Population) -> None:
        users = sorted(pop.portal_users, key=lambda u: (u.created_at, u.username))
        self.users = {u.username.casefold(): user_json(u) for u in users}
        self.users_by: dict[str, dict[str, list[Json]]] = {name: defaultdict(list) for name in LOOKUPS}
        for u in users:
            for name, value in (("username", u.username), ("email", u.email), ("phone", u.phone),
                                ("personal_code", u.personal_code), ("customer_id", u.customer_id)):
                if value is not None and value != "":
                    self.users_by[name][normalise(name, str(value))].append(self.users[u.username.casefold()])
        self.children: dict[str, dict[str, list[Json]]] = {
            "logins": _by_user(pop.logins, lambda e: e.at, login_json),
            "consents": _by_user(pop.portal_consents, lambda c: c.recorded_at, consent_json),
            "cookie-consents": _by_user(pop.cookie_consents, lambda c: c.recorded_at, cookie_json),
            "messages": _by_user(pop.messages, lambda m: m.sent_at, message_json),
            "documents": _by_user(pop.documents, lambda d: d.created_at, document_json),
        }

    def user(self, username: str) -> Json | None:
        return self.users.get(username.casefold())

    def find_users(self, field_name: str, value: str) -> list[Json]:
        return self.users_by[field_name].get(normalise(field_name, value), [])

    def sub_resource(self, username: str, resource: str) -> list[Json]:
        return self.children[resource].get(username.casefold(), [])
