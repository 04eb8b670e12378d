"""The AVP / e-elering data hub's connector: a person's hub identity, metering points, agreements
and interval data, read as the retailer (open supplier) over the hub's market-participant API.

The hub's flow, as published (../shared/specs/elering-avp/):
1. `POST /api/v1/customer/search` — personal code (PERSONAL_ID, country EE) or customer EIC ->
   the person's identities (among them the customer EIC) and metadata (names, contacts);
2. `POST /api/v1/meter/search/customer` — customer EIC -> metering points (ended ones too);
3. `POST /api/v1/agreement/search/meter` — metering points -> supply and grid agreements;
4. `POST /api/v1/meter-data/search` — one meter, one period, one page per call (see `planning`).

Matching rules (why they are what they are):
- Only Estonian customers are in the hub, so only valid Estonian personal codes (`stdnum.ee.ik`:
  birth date and check digit) are sent: a Latvian code would be disclosed to a third party for
  nothing. A code the hub does not know is a 404: "no data held", not an error.
- A metering point belongs to the subject when the hub lists it under one of the subject's customer
  EICs; an agreement only when it names one of them as its customer. Agreements of a meter naming
  someone else (the previous or next occupant) are left out, and so is their consumption: the
  series of a meter is fetched only within the subject's own agreement periods (at most 84 months
  back, up to now). A metering point EIC on its own (say, from billing) therefore never reveals
  a customer EIC and yields nothing unless one of the subject's customer EICs is known: the
  hub's customer of that meter today may be another person.
- `matched_by`: a customer record lists the identifiers that found it; its metering points
  inherit that (plus the meter's own EIC when it was given) and name the customer as `parent`;
  agreements and meter-data pages inherit their metering point's and name it as `parent`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import httpx
from stdnum.ee import ik
from stdnum.eu import eic as eic_code

from connectors.avp.hub import SYSTEM, HubClient, Json
from connectors.avp.meterdata import Page, parse_page
from connectors.avp.meterdata_fast import fast_page
from connectors.avp.planning import HUB_TZ, CallPlan, MeterWindow, history_start, merge, plan
from connectors.avp.sources import SOURCES, agreement_fields, customer_fields, meter_fields
from connectors.contract import Record, Source, make_record
from connectors.errors import ConnectorError
from connectors.http import DEFAULT_TIMEOUT, ClientCredentials
from connectors.identity import Identifier, IdentityType
from connectors.matching import Found
from connectors.retry import MinIntervalLimiter, RetryPolicy, client_pacer

CUSTOMER_SEARCH = "/api/v1/customer/search"
METER_SEARCH = "/api/v1/meter/search/customer"
AGREEMENT_SEARCH = "/api/v1/agreement/search/meter"
METER_DATA = "/api/v1/meter-data/search"
AGREEMENT_BATCH = 50  # metering points per agreement search
# Meter-data calls in flight at once. The pacer spaces sends by the hub's interval whatever this
# is. One worker already overlaps the next call with the caller's handling of the previous page;
# more only help a hub that serves calls in parallel (the sandbox hub is one CPU-bound Python
# process: with 2-3 workers it got slower and refused more calls as its admissions jittered).
WORKERS = 1
REQUIRED_SETTINGS = ("DSAR_AVP_BASE_URL", "DSAR_AVP_TOKEN_URL", "DSAR_AVP_CLIENT_ID", "DSAR_AVP_CLIENT_SECRET",
                     "DSAR_AVP_MARKET_PARTICIPANT_EIC", "DSAR_AVP_MAX_PERIOD_DAYS", "DSAR_AVP_MAX_PAGE_SIZE",
                     "DSAR_AVP_MIN_CALL_INTERVAL_SECONDS")


@dataclasses.dataclass
class _Holdings:
    """What the look-ups found: customers and meters by EIC, the subject's agreements per meter."""

    customers: dict[str, Found] = dataclasses.field(default_factory=dict, repr=False)
    meters: dict[str, Found] = dataclasses.field(default_factory=dict, repr=False)
    agreements: dict[str, list[Json]] = dataclasses.field(default_factory=dict, repr=False)


class AvpConnector:
    """The data hub: the person's hub identity, metering points, agreements and interval data."""

    system: ClassVar[str] = SYSTEM
    accepts: ClassVar[frozenset[IdentityType]] = frozenset({
        IdentityType.PERSONAL_CODE, IdentityType.CUSTOMER_EIC, IdentityType.METERING_POINT_EIC})
    reveals: ClassVar[frozenset[IdentityType]] = frozenset({
        IdentityType.CUSTOMER_EIC, IdentityType.METERING_POINT_EIC})
    sources: ClassVar[Mapping[str, Source]] = SOURCES

    def __init__(self, hub: HubClient, market_participant_eic: str, *, max_period_days: int, max_page_size: int,
                 clock: Callable[[], datetime] | None = None, workers: int = WORKERS) -> None:
        if max_period_days < 1 or max_page_size < 1 or workers < 1:
            raise ValueError("avp: the period and page limits and the workers must be at least 1")
        self.workers = workers
        self.hub = hub
        self.context = {"marketParticipantIdentification": market_participant_eic,
                        "marketParticipantRole": "OPEN_SUPPLIER", "commodityType": "ELECTRICITY"}
        self.max_period_days = max_period_days
        self.max_page_size = max_page_size
        self.clock = clock or (lambda: datetime.now(UTC))
        self.last_plan: list[CallPlan] = []  # the meter-data calls of the latest `collect`

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, policy: RetryPolicy | None = None,
                      timeout: httpx.Timeout | float | None = None, clock: Callable[[], datetime] | None = None,
                      transport: httpx.BaseTransport | None = None, workers: int = WORKERS) -> AvpConnector:
        """Build from the DSAR_AVP_* settings; keyword overrides are for tests and tuning."""
        missing = [name for name in REQUIRED_SETTINGS if not settings.get(name)]
        if missing:
            raise ValueError(f"avp: missing settings: {', '.join(missing)}")
        try:
            period, page = int(settings["DSAR_AVP_MAX_PERIOD_DAYS"]), int(settings["DSAR_AVP_MAX_PAGE_SIZE"])
            interval = float(settings["DSAR_AVP_MIN_CALL_INTERVAL_SECONDS"])
        except ValueError:
            raise ValueError("avp: the DSAR_AVP_MAX_* and DSAR_AVP_MIN_CALL_INTERVAL_SECONDS settings must be "
                             "numbers") from None
        if interval < 0:
            raise ValueError("avp: DSAR_AVP_MIN_CALL_INTERVAL_SECONDS must not be negative")
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        elif not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout)
        credentials = ClientCredentials(settings["DSAR_AVP_TOKEN_URL"], settings["DSAR_AVP_CLIENT_ID"],
                                        settings["DSAR_AVP_CLIENT_SECRET"])
        limiter = shared_limiter(settings["DSAR_AVP_BASE_URL"], settings["DSAR_AVP_CLIENT_ID"], interval)
        hub = HubClient(settings["DSAR_AVP_BASE_URL"], credentials, policy=policy, limiter=limiter,
                        base_interval_s=interval,
                        timeout=timeout, transport=transport, max_connections=workers + 1)
        return cls(hub, settings["DSAR_AVP_MARKET_PARTICIPANT_EIC"], max_period_days=period, max_page_size=page,
                   clock=clock, workers=workers)

    # -- the contract ---------------------------------------------------------------------------------

    @property
    def calls_made(self) -> int:
        return self.hub.calls

    @property
    def meter_data_calls(self) -> int:
        return self.hub.calls_by_path[METER_DATA]

    @property
    def refused_calls(self) -> int:
        """Calls the hub refused with 429 (pacing keeps this at 0 unless the hub's limit is not ours)."""
        return self.hub.refused

    @property
    def slow_reads(self) -> int:
        """Meter-data answers the Arrow reading could not vouch for, read by `parse_page` instead: a
        well-formed hub keeps this at 0, so anything else is worth a look (and costs ~3x the CPU)."""
        return self.hub.slow_reads

    def discover(self, identifiers: Sequence[Identifier]) -> Iterator[Identifier]:
        """Customer EICs of the person's hub identities and the EICs of their metering points."""
        holdings = self._look_up(identifiers, agreements=False)
        for customer_eic, customer in holdings.customers.items():
            yield customer.reveal(IdentityType.CUSTOMER_EIC, customer_eic, f"{SYSTEM}.customer")
        for meter_eic, meter in holdings.meters.items():
            yield meter.reveal(IdentityType.METERING_POINT_EIC, meter_eic, f"{SYSTEM}.metering_points")

    def collect(self, identifiers: Sequence[Identifier]) -> Iterator[Record]:
        now = self._now()
        holdings = self._look_up(identifiers, agreements=True)
        retrieved = datetime.now(UTC)
        ends = {eic: _last_day(holdings.agreements.get(eic, [])) for eic in holdings.meters}
        for customer_eic, customer in holdings.customers.items():
            owned = [ends[m] for m, meter in holdings.meters.items() if meter.item.get("customerEic") == customer_eic]
            yield make_record(self, "customer", customer_eic, customer_fields(customer.item), customer.identifiers,
                              retrieved, event_date=_latest(owned),
                              reveals=(customer.reveal(IdentityType.CUSTOMER_EIC, customer_eic, f"{SYSTEM}.customer"),))
        for meter_eic, meter in holdings.meters.items():
            owner = meter.item.get("customerEic")
            yield make_record(self, "metering_points", meter_eic, meter_fields(meter.item), meter.identifiers,
                              retrieved, event_date=ends[meter_eic],
                              parent=("customer", owner) if isinstance(owner, str) else None,
                              reveals=(meter.reveal(IdentityType.METERING_POINT_EIC, meter_eic,
                                                    f"{SYSTEM}.metering_points"),))
        for meter_eic, agreements in holdings.agreements.items():
            for agreement in agreements:
                key = f"{meter_eic}/{agreement.get('agreementId') or agreement.get('agreementType')}"
                yield make_record(self, "agreements", key, agreement_fields(agreement),
                                  holdings.meters[meter_eic].identifiers, retrieved,
                                  event_date=_last_day([agreement]), parent=("metering_points", meter_eic))
        self.last_plan = self.plan(self.windows(holdings.agreements, now))
        meters = {eic: found.identifiers for eic, found in holdings.meters.items()}
        yield from self._series(self.last_plan, meters)

    def close(self) -> None:
        self.hub.close()

    # -- planning (also for the benchmark) --------------------------------------------------------------

    def plan(self, windows: Sequence[MeterWindow]) -> list[CallPlan]:
        """The meter-data calls for `windows` under the configured limits; the pages summed are the floor."""
        return plan(windows, self.max_period_days, self.max_page_size)

    def floor_calls(self, windows: Sequence[MeterWindow]) -> int:
        """The fewest meter-data calls the hub's period and page limits allow for `windows`."""
        return sum(call.pages for call in self.plan(windows))

    @staticmethod
    def windows(agreements: Mapping[str, Sequence[Json]], now: datetime) -> list[MeterWindow]:
        """Per meter, the subject's agreement periods merged, at most 84 months back, up to `now`."""
        oldest = history_start(now)
        result = []
        for meter_eic, items in agreements.items():
            spans = []
            for agreement in items:
                start, end = _validity(agreement)
                if start is not None:
                    spans.append((max(start, oldest), min(end or now, now)))
            result.extend(MeterWindow(meter_eic, start, end) for start, end in merge(spans))
        return result

    # -- look-ups -------------------------------------------------------------------------------------

    def _look_up(self, identifiers: Sequence[Identifier], agreements: bool) -> _Holdings:
        holdings = _Holdings()
        for identifier in identifiers:
            if identifier.type is IdentityType.PERSONAL_CODE and _hub_personal_code(identifier.value):
                for identity in self._customer_search("PERSONAL_ID", identifier.value):
                    _add(holdings.customers, _customer_eic(identity), identity, identifier)
        for identifier in identifiers:
            if identifier.type is IdentityType.CUSTOMER_EIC and _is_eic(identifier.value):
                if identifier.value in holdings.customers:
                    holdings.customers[identifier.value].add(identifier)
                    continue
                for identity in self._customer_search("EIC", identifier.value):
                    if _customer_eic(identity) == identifier.value:
                        _add(holdings.customers, identifier.value, identity, identifier)
        for customer_eic, customer in holdings.customers.items():
            for entry in self._meters_of(customer_eic):
                _add(holdings.meters, _meter_eic(entry), {**entry, "customerEic": customer_eic}, *customer.identifiers)
        given = {i.value: i for i in identifiers if i.type is IdentityType.METERING_POINT_EIC and _is_eic(i.value)}
        for meter_eic, identifier in given.items():
            if meter_eic in holdings.meters:
                holdings.meters[meter_eic].add(identifier)
        if agreements and holdings.customers:
            self._add_agreements(holdings, given)
        return holdings

    def _add_agreements(self, holdings: _Holdings, given: Mapping[str, Identifier]) -> None:
        """The subject's agreements of their meters (and of given meters the hub did not list)."""
        wanted = list(dict.fromkeys([*holdings.meters, *given]))
        for batch in (wanted[i:i + AGREEMENT_BATCH] for i in range(0, len(wanted), AGREEMENT_BATCH)):
            document = self._post(AGREEMENT_SEARCH, {"meterEic": batch})
            for point in _objects(document.get("meteringPoints") if document else None):
                meter_eic = point.get("meterEic")
                if meter_eic not in batch:
                    continue
                own = [a for a in _objects(point.get("agreements"))
                       if _party(a) in holdings.customers and a.get("meterEic", meter_eic) == meter_eic]
                if not own:
                    continue
                if meter_eic not in holdings.meters:  # a given meter the customer search did not list
                    found = Found({"meteringPoint": {"meterEic": meter_eic}, "customerEic": _party(own[0])})
                    found.add(given[meter_eic], *holdings.customers[_party(own[0])].identifiers)
                    holdings.meters[meter_eic] = found
                holdings.agreements[meter_eic] = own

    def _customer_search(self, identity_type: str, value: str) -> list[Json]:
        criteria: Json = {"identityType": identity_type, "identityValue": value}
        if identity_type == "PERSONAL_ID":
            criteria["identityExtension"] = [{"extensionType": "COUNTRY", "extensionValue": "EE"}]
        document = self._post(CUSTOMER_SEARCH, {"customerTypes": ["PHYSICAL_PERSON"], "activeOnly": False,
                                                "searchCriteria": criteria})
        return _objects(document.get("identities") if document else None)

    def _meters_of(self, customer_eic: str) -> list[Json]:
        """Metering points the hub lists for one customer EIC (one call per EIC: the owner is unambiguous)."""
        document = self._post(METER_SEARCH, {"customerEic": [customer_eic]})
        return [entry for entry in _objects(document.get("meteringPoints") if document else None)
                if entry.get("customerEic", customer_eic) == customer_eic and _meter_eic(entry)]

    def _post(self, path: str, body: Json) -> Json | None:
        result = self.hub.post(path, {"marketParticipantContext": self.context, **body})
        return result if isinstance(result, dict) else None

    # -- interval data --------------------------------------------------------------------------------

    def _series(self, calls: Sequence[CallPlan], meters: Mapping[str, tuple[Identifier, ...]]) -> Iterator[Record]:
        """Records of every planned call, in plan order; `workers` calls in flight, at most one call's
        pages waiting per worker (+1), so memory stays bounded however long the series."""
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="avp-meter-data")
        ahead: deque[tuple[CallPlan, Future[list[Page]]]] = deque()
        pending = iter(calls)
        try:
            while True:
                while len(ahead) <= self.workers and (call := next(pending, None)) is not None:
                    ahead.append((call, pool.submit(self._pages, call)))
                if not ahead:
                    return
                call, future = ahead.popleft()
                for number, page in enumerate(future.result()):
                    yield self._page_record(call, number, page, meters[call.meter_eic])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _pages(self, call: CallPlan) -> list[Page]:
        """Every page of one planned period ([] if the hub holds no data in it)."""
        pages: list[Page] = []
        total = 1
        while len(pages) < total:
            number = len(pages)
            body = {"marketParticipantContext": self.context,
                    "meterAttributes": {"meterEic": call.meter_eic, "periodStart": _instant(call.period_start),
                                        "periodEnd": _instant(call.period_end)},
                    "pagination": {"page": number, "pageSize": self.max_page_size}}
            where = {"meter_eic": call.meter_eic, "page": number, "page_size": self.max_page_size,
                     "period_start": call.period_start, "period_end": call.period_end}
            page = self.hub.post(METER_DATA, body, not_found=number == 0, parse=partial(parse_page, **where),
                                 fast=partial(fast_page, **where))
            if not isinstance(page, Page):  # 404 on the first page: no data held in this period
                return pages
            if pages and (page.total_pages != total or _not_after(page.first_start, pages[-1].first_start)):
                raise ConnectorError(SYSTEM, f"POST {METER_DATA}: the hub's paging changed between pages")
            total = page.total_pages
            pages.append(page)
        return pages

    def _page_record(self, call: CallPlan, number: int, page: Page, matched_by: tuple[Identifier, ...]) -> Record:
        start = _instant(call.period_start)
        fields = {"metering_point_eic": call.meter_eic, "period_start": start, "period_end": _instant(call.period_end),
                  "page": number, "intervals": page.rows}
        first_day = page.first_start.astimezone(HUB_TZ).date() if page.first_start else None
        return make_record(self, "meter_data", f"{call.meter_eic}/{start}/{number}", fields, matched_by,
                           datetime.now(UTC), event_date=first_day, parent=("metering_points", call.meter_eic))

    def _now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)


def shared_limiter(base_url: str, client_id: str, interval_s: float) -> MinIntervalLimiter:
    """One pacer per hub client: the hub limits the client (token subject), not a connector instance,
    so every connector — one per thread in a batch's steps, discovery and collection, look-ups and
    meter data alike, in every process of this machine — takes its slots from the same pace."""
    return client_pacer(SYSTEM, base_url, client_id, paced_interval(interval_s))


def paced_interval(interval_s: float) -> float:
    """The hub counts its interval between the arrivals of accepted calls; ours is between sends, so
    a margin (2 % + 5 ms) absorbs the scheduling jitter on either side that would otherwise earn an
    occasional 429 (measured on a loaded 2-core machine: up to ~8 ms)."""
    return interval_s * 1.02 + 0.005 if interval_s > 0 else 0.0


def _hub_personal_code(value: str) -> bool:
    """A valid Estonian personal code (isikukood): 11 digits, a real birth date, the check digit."""
    return len(value) == 11 and ik.is_valid(value)


def _is_eic(value: str) -> bool:
    return len(value) == 16 and eic_code.is_valid(value)


def _add(found: dict[str, Found], key: str | None, item: Json, *identifiers: Identifier) -> None:
    if key:
        found.setdefault(key, Found(item)).add(*identifiers)


def _objects(value: Any) -> list[Json]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _customer_eic(identity: Json) -> str | None:
    for item in _objects(identity.get("customerIdentities")):
        if item.get("identityType") == "EIC" and isinstance(item.get("identityValue"), str):
            return str(item["identityValue"])
    return None


def _meter_eic(entry: Json) -> str | None:
    point = entry.get("meteringPoint")
    value = point.get("meterEic") if isinstance(point, dict) else None
    return value if isinstance(value, str) else None


def _party(agreement: Json) -> str | None:
    customer = agreement.get("customer")
    value = customer.get("customerEic") if isinstance(customer, dict) else None
    return value if isinstance(value, str) else None


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _validity(agreement: Json) -> tuple[datetime | None, datetime | None]:
    """[validFrom, validTo) in UTC; validTo None while the agreement is in force (validFrom None if unreadable)."""
    return _parse_instant(agreement.get("validFrom")), _parse_instant(agreement.get("validTo"))


def _last_day(agreements: Iterable[Json]) -> date | None:
    """Last local day of the latest of `agreements` (validTo is exclusive); None if one is in force or none."""
    days = []
    for agreement in agreements:
        end = _validity(agreement)[1]
        if end is None:
            return None
        days.append((end - timedelta(microseconds=1)).astimezone(HUB_TZ).date())
    return max(days, default=None)


def _latest(days: Sequence[date | None]) -> date | None:
    """The latest of `days`; None when any is None (still in force) or there are none."""
    if not days or any(day is None for day in days):
        return None
    return max(day for day in days if day is not None)


def _not_after(first: datetime | None, previous: datetime | None) -> bool:
    return first is not None and previous is not None and first <= previous


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
