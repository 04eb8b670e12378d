"""The Volt charging app's connector: finds a person's app accounts and everything under them.

Matching rules (why they are what they are):
- An account found through the electricity customer number the user linked in the app, or through
  its own account id, is strong. One found only through an e-mail address or a phone number is
  weak (households share phones). One found only through a Google subject id is weak too: a Google
  login proves control of a Google account, not who holds it, so for Volt it is never stronger
  than the e-mail it stands for; the identifier is recorded in `matched_by` as weak.
- All look-ups run before the first record is yielded, so an account reached by several
  identifiers is one record listing all of them. Its vehicles, cards, sessions and consents inherit
  that `matched_by` and name the account as `parent`; they are streamed page by page.
- Unfinished sign-ups are found by e-mail and phone only, so they are always weak.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, ClassVar

import httpx

from connectors.contract import Record, Source, make_record
from connectors.errors import ConnectorError
from connectors.http import DEFAULT_TIMEOUT, ClientCredentials
from connectors.identity import Identifier, IdentityType, InvalidIdentifier, Strength
from connectors.matching import Found
from connectors.retry import MinIntervalLimiter, RetryPolicy, client_pacer
from connectors.volt.api import MAX_PAGE_SIZE, SYSTEM, Json, VoltApi
from connectors.volt.sources import (
    ACCOUNTS,
    DATETIME_FIELDS,
    EVENT_FIELD,
    SIGNUPS,
    SOURCES,
    SUB_RESOURCES,
)

RATE_SETTING = "DSAR_VOLT_MAX_REQUESTS_PER_SECOND"
SCOPE = "accounts:read"

# Identity type -> the look-up filter of `GET /v1/accounts`.
ACCOUNT_FILTERS: dict[IdentityType, str] = {
    IdentityType.EMAIL: "email",
    IdentityType.PHONE: "phone",
    IdentityType.GOOGLE_SUBJECT: "google_sub",
    IdentityType.CUSTOMER_ID: "customer_id",
}
SIGNUP_FILTERS: dict[IdentityType, str] = {IdentityType.EMAIL: "email", IdentityType.PHONE: "phone"}
# Identity types that, on their own, only make a Volt match weak (beyond the inherently weak ones).
WEAK_FOR_VOLT = frozenset({IdentityType.GOOGLE_SUBJECT})
# Account field -> identity type it reveals.
REVEALED_FIELDS: dict[str, IdentityType] = {
    "id": IdentityType.VOLT_ACCOUNT_ID,
    "email": IdentityType.EMAIL,
    "phone": IdentityType.PHONE,
    "google_sub": IdentityType.GOOGLE_SUBJECT,
}


class VoltConnector:
    """Volt app accounts, their vehicles, payment cards, charging sessions and consents, and sign-ups."""

    system: ClassVar[str] = SYSTEM
    accepts: ClassVar[frozenset[IdentityType]] = frozenset({
        IdentityType.EMAIL, IdentityType.PHONE, IdentityType.GOOGLE_SUBJECT, IdentityType.CUSTOMER_ID,
        IdentityType.VOLT_ACCOUNT_ID})
    reveals: ClassVar[frozenset[IdentityType]] = frozenset({
        IdentityType.VOLT_ACCOUNT_ID, IdentityType.EMAIL, IdentityType.PHONE, IdentityType.GOOGLE_SUBJECT})
    sources: ClassVar[Mapping[str, Source]] = SOURCES

    def __init__(self, api: VoltApi) -> None:
        self.api = api

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, policy: RetryPolicy | None = None,
                      timeout: httpx.Timeout | float | None = None, page_size: int = MAX_PAGE_SIZE,
                      credentials: ClientCredentials | None = None) -> VoltConnector:
        """Build from the DSAR_VOLT_* settings; keyword overrides are for tests and tuning."""
        missing = [name for name in ("DSAR_VOLT_BASE_URL", "DSAR_VOLT_TOKEN_URL", "DSAR_VOLT_CLIENT_ID",
                                     "DSAR_VOLT_CLIENT_SECRET") if not settings.get(name)]
        if missing:
            raise ValueError(f"volt: missing settings: {', '.join(missing)}")
        credentials = credentials or ClientCredentials(settings["DSAR_VOLT_TOKEN_URL"], settings["DSAR_VOLT_CLIENT_ID"],
                                                       settings["DSAR_VOLT_CLIENT_SECRET"], scope=SCOPE)
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        elif not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout)
        api = VoltApi(settings["DSAR_VOLT_BASE_URL"], credentials, policy=policy,
                      limiter=_limiter(settings, settings.get(RATE_SETTING)), timeout=timeout, page_size=page_size)
        return cls(api)

    # -- the contract -----------------------------------------------------------------------------

    @property
    def calls_made(self) -> int:
        return self.api.calls

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> VoltConnector:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def discover(self, identifiers: Sequence[Identifier]) -> Iterator[Identifier]:
        """The account ids, e-mail addresses, phones and Google subjects of the accounts found."""
        best: dict[tuple[IdentityType, str], Identifier] = {}
        for found in self._accounts(identifiers).values():
            for identifier in _revealed(found):
                key = (identifier.type, identifier.value)
                if key not in best or identifier.outranks(best[key]):
                    best[key] = identifier
        yield from best.values()

    def collect(self, identifiers: Sequence[Identifier]) -> Iterator[Record]:
        """Accounts (each followed by its sub-resources, streamed page by page), then sign-ups."""
        for account_id, found in self._accounts(identifiers).items():
            matched_by = found.identifiers
            yield self._record(ACCOUNTS, found.item, matched_by, reveals=tuple(_revealed(found)))
            for resource, source in SUB_RESOURCES.items():
                for item in self.api.sub_resource(account_id, resource):
                    yield self._record(source, item, matched_by, parent=(ACCOUNTS, account_id))
        for found in self._signups(identifiers).values():
            yield self._record(SIGNUPS, found.item, found.identifiers)

    # -- look-ups ---------------------------------------------------------------------------------

    def _accounts(self, identifiers: Sequence[Identifier]) -> dict[str, Found]:
        """Every account any identifier finds, by account id, in first-found order."""
        found: dict[str, Found] = {}
        for identifier in _accepted(identifiers, self.accepts):
            matcher = _as_volt_match(identifier)
            if identifier.type is IdentityType.VOLT_ACCOUNT_ID:
                account = self.api.account(identifier.value)
                hits: Iterator[Json] = iter([account] if account else [])
            else:
                hits = self.api.find_accounts(ACCOUNT_FILTERS[identifier.type], identifier.value)
            for item in hits:
                found.setdefault(item["id"], Found(item)).add(matcher)
        return found

    def _signups(self, identifiers: Sequence[Identifier]) -> dict[str, Found]:
        found: dict[str, Found] = {}
        for identifier in _accepted(identifiers, frozenset(SIGNUP_FILTERS)):
            for item in self.api.find_signups(SIGNUP_FILTERS[identifier.type], identifier.value):
                found.setdefault(item["id"], Found(item)).add(identifier)
        return found

    # -- records ----------------------------------------------------------------------------------

    def _record(self, source: str, item: Json, matched_by: Sequence[Identifier], **extra: Any) -> Record:
        declared = self.sources[source].fields
        fields = {name: _value(source, name, item.get(name)) for name in declared}
        moment = fields[EVENT_FIELD[source]]
        event_date: date | None = moment.date() if isinstance(moment, datetime) else None
        return make_record(self, source, str(item["id"]), fields, matched_by, datetime.now(UTC),
                           event_date=event_date, **extra)


def _accepted(identifiers: Sequence[Identifier], types: frozenset[IdentityType]) -> Iterator[Identifier]:
    """The identifiers of `types`, each (type, value) once: the strongest path to it wins."""
    best: dict[tuple[IdentityType, str], Identifier] = {}
    for identifier in identifiers:
        key = (identifier.type, identifier.value)
        if identifier.type in types and (key not in best or identifier.outranks(best[key])):
            best[key] = identifier
    yield from best.values()


def _as_volt_match(identifier: Identifier) -> Identifier:
    """The identifier as Volt evidence: a Google subject on its own never makes a match strong."""
    if identifier.type in WEAK_FOR_VOLT and identifier.is_strong:
        return dataclasses.replace(identifier, strength=Strength.WEAK)
    return identifier


def _revealed(found: Found) -> Iterator[Identifier]:
    """The account's own identifiers, as strong as the match that found the account."""
    via = (*found.path, f"{SYSTEM}.{ACCOUNTS}")
    for name, kind in REVEALED_FIELDS.items():
        value = found.item.get(name)
        if not value:
            continue
        try:
            yield Identifier.of(kind, str(value), via=via, source_strength=found.strength)
        except InvalidIdentifier:
            continue  # a value the app holds but we cannot normalise cannot be searched with anyway


def _value(source: str, name: str, raw: Any) -> Any:
    """API values as Python values: datetimes become aware `datetime`s, the rest stays as sent."""
    if name not in DATETIME_FIELDS or raw is None:
        return raw
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise ConnectorError(SYSTEM, f"{source}.{name}: not an ISO 8601 datetime") from None


def _limiter(settings: Mapping[str, str], raw: str | None) -> MinIntervalLimiter | None:
    """Client-side pacing from DSAR_VOLT_MAX_REQUESTS_PER_SECOND (absent or empty: none), shared by
    every connector of the same Volt client (`retry.client_pacer`)."""
    if raw is None or not raw.strip():
        return None
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"{RATE_SETTING} must be a number of requests per second") from None
    if rate <= 0:
        raise ValueError(f"{RATE_SETTING} must be greater than 0")
    return client_pacer(SYSTEM, settings["DSAR_VOLT_BASE_URL"], settings["DSAR_VOLT_CLIENT_ID"], 1.0 / rate)
