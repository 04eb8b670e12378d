"""The self-service portal connector: portal users found by any identifier, and all they hold.

The portal is keyed by username; a person is found by username, e-mail, phone, personal code or
customer number. One phone may reach several users (households share phones), and a user found
only through e-mail or phone may be someone else, personal code included: such a user is still
collected (the DPO decides) but everything it reveals carries the weak strength, so resolution does
not expand it, and its `personal_code` field stays in the record, so classification can withhold it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import httpx

from connectors.contract import Record, Source, make_record
from connectors.errors import ConnectorError
from connectors.http import DEFAULT_TIMEOUT
from connectors.identity import Identifier, IdentityType, InvalidIdentifier, Strength
from connectors.portal.api import MAX_PER_PAGE, PREFIX, SYSTEM, Json, PortalApi
from connectors.portal.lookup import FILTERS, matches, query_values
from connectors.portal.sources import RESOURCES, SOURCES, USERS
from connectors.retry import RetryPolicy

log = logging.getLogger(__name__)

BASE_URL_SETTING = "DSAR_PORTAL_BASE_URL"
API_KEY_SETTING = "DSAR_PORTAL_API_KEY"
VIA = "portal.users"
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass
class _FoundUser:
    """A portal user and every identifier that found it (in the order they did)."""

    user: Json
    matched_by: list[Identifier] = field(default_factory=list)

    @property
    def strength(self) -> Strength:
        return Strength.best(self.matched_by)

    @property
    def via(self) -> tuple[str, ...]:
        """The look-up path through the strongest identifier that found the user."""
        best = max(self.matched_by, key=lambda i: i.strength.rank)  # the first of the strongest
        return (*best.via, VIA)


class PortalConnector:
    """Reads the portal's back-office API v1 (API key, page-number pagination with totals)."""

    system: ClassVar[str] = SYSTEM
    accepts: ClassVar[frozenset[IdentityType]] = frozenset(FILTERS)
    reveals: ClassVar[frozenset[IdentityType]] = frozenset(FILTERS)
    sources: ClassVar[Mapping[str, Source]] = SOURCES

    def __init__(self, base_url: str, api_key: str, *, policy: RetryPolicy | None = None,
                 timeout: httpx.Timeout | float | None = None, per_page: int = MAX_PER_PAGE) -> None:
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        elif not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout)
        self.base_url = base_url
        self.api = PortalApi(base_url, api_key, policy=policy, timeout=timeout, per_page=per_page)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, policy: RetryPolicy | None = None,
                      timeout: httpx.Timeout | float | None = None, per_page: int = MAX_PER_PAGE) -> PortalConnector:
        missing = [name for name in (BASE_URL_SETTING, API_KEY_SETTING) if not settings.get(name)]
        if missing:
            raise ConnectorError(SYSTEM, f"setting{'s' * (len(missing) > 1)} missing: {', '.join(missing)}")
        return cls(settings[BASE_URL_SETTING], settings[API_KEY_SETTING], policy=policy, timeout=timeout,
                   per_page=per_page)

    def __repr__(self) -> str:
        return f"PortalConnector(base_url={self.base_url!r})"

    # -- the Connector protocol -------------------------------------------------------------------

    def discover(self, identifiers: Sequence[Identifier]) -> Iterator[Identifier]:
        """The identifiers on the users found: look-ups only, no per-user lists."""
        revealed: dict[tuple[IdentityType, str], Identifier] = {}
        for found in self._find(identifiers).values():
            for identifier in _reveals(found):
                known = revealed.get((identifier.type, identifier.value))
                if known is None or identifier.outranks(known):
                    revealed[(identifier.type, identifier.value)] = identifier
        yield from revealed.values()

    def collect(self, identifiers: Sequence[Identifier]) -> Iterator[Record]:
        """Each user found, then its logins, consents, cookie consents, messages and documents."""
        for found in self._find(identifiers).values():
            username = str(found.user["username"])
            matched_by = tuple(found.matched_by)
            yield make_record(self, USERS.name, username, _declared(USERS, found.user, f"GET {PREFIX}/users"),
                              matched_by, datetime.now(UTC), reveals=tuple(_reveals(found)),
                              event_date=_date(found.user.get("created_at")))
            for resource in RESOURCES:
                operation = f"GET {PREFIX}/users/{{username}}/{resource.path}"
                source = SOURCES[resource.source]
                for item in self.api.user_list(username, resource.path):
                    if item.get("id") is None:
                        raise ConnectorError(SYSTEM, f"{operation}: an item has no id")
                    yield make_record(self, source.name, f"{username}/{item['id']}",
                                      _declared(source, item, operation), matched_by, datetime.now(UTC),
                                      event_date=_date(item.get(resource.time_field)),
                                      parent=(USERS.name, username))

    def close(self) -> None:
        self.api.close()

    @property
    def calls_made(self) -> int:
        return self.api.calls

    # -- look-ups ---------------------------------------------------------------------------------

    def _find(self, identifiers: Sequence[Identifier]) -> dict[str, _FoundUser]:
        """Users reached by any of `identifiers`, by username, each with every identifier that reached it."""
        found: dict[str, _FoundUser] = {}
        for identifier in identifiers:
            if identifier.type not in FILTERS:
                continue
            name = FILTERS[identifier.type]
            for value in query_values(identifier):
                for user in self.api.find_users(name, value):
                    if not isinstance(user.get("username"), str) or not matches(user, identifier):
                        log.warning("portal: a look-up by %s answered a user not carrying it; ignored", name)
                        continue
                    entry = found.setdefault(user["username"].casefold(), _FoundUser(user))
                    if identifier not in entry.matched_by:
                        entry.matched_by.append(identifier)
        return found


def _reveals(found: _FoundUser) -> Iterator[Identifier]:
    """The user's identifiers, as strong as the match that found the user (weak: not expanded)."""
    for kind, name in FILTERS.items():
        value = found.user.get(name)
        if value is None or value == "":
            continue
        try:
            yield Identifier.of(kind, str(value), via=found.via, source_strength=found.strength)
        except InvalidIdentifier:
            log.warning("portal: a user's %s could not be normalised; not revealed", name)


def _declared(source: Source, item: Json, operation: str) -> dict[str, Any]:
    """The item's fields, refusing any the connector has not classified (it would go unreported)."""
    unknown = set(item) - set(source.fields)
    if unknown:
        names = sorted(n for n in unknown if FIELD_NAME.fullmatch(n))  # odd keys are counted, never shown
        raise ConnectorError(SYSTEM, f"{operation}: answer has {len(unknown)} field(s) without a declared data "
                                     f"category: {', '.join(names) or '(unprintable names)'}")
    return dict(item)


def _date(value: Any) -> date | None:
    """The UTC calendar date of an API datetime (`...Z`), or None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()
