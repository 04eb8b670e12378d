"""The data hub connector against the sandbox hub, checked against the population (the ground truth).

`sandbox.avp.series.series_for` gives the exact intervals the hub serves; the connector must return
exactly those (values, quality, reading times, DST days, gaps), with the fewest calls the hub's
limits allow. The sandbox's "today" is the population's `as_of`, so the connector's clock is set to
it; fault tests narrow the clock to a few weeks of one contract to stay fast.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.avp import AvpConnector, MeterWindow
from connectors.avp.planning import HUB_TZ, add_local_days, local_midnight
from connectors.contract import Connector, Record
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType, Strength
from connectors.registry import systems
from connectors.retry import RetryPolicy
from sandbox.avp.app import AvpConfig, create_app
from sandbox.avp.series import Interval, MeterSeries, anomalies_of, series_for
from sandbox.faults import parse_spec
from sandbox.hosting import ServiceHost
from sandbox.population import CASES, Population

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
PATIENT = RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.05)
METER_DATA = "/api/v1/meter-data/search"
SHORTENED = ("sole-trader", "household-a")  # collected up to 62 days after their contract's start
NARROW_DAYS = 70  # fault tests: 70 days of one contract = 3 calls per meter (31 + 31 + 8 days)


# -- helpers ---------------------------------------------------------------------------------------------


def population(federation: Any) -> Population:
    return federation.population  # type: ignore[no-any-return]


def today(pop: Population) -> datetime:
    """The sandbox hub's "now": local midnight of the population's as_of."""
    return local_midnight(pop.as_of)


def connector(federation: Any, *, clock: datetime | None = None, policy: RetryPolicy = FAST,
              settings: dict[str, str] | None = None, **overrides: Any) -> AvpConnector:
    moment = clock or today(population(federation))
    return AvpConnector.from_settings(settings or federation.settings, policy=policy, clock=lambda: moment,
                                      **overrides)


def code_of(pop: Population, case: str, strength: Strength = Strength.STRONG) -> list[Identifier]:
    return [Identifier.of(IdentityType.PERSONAL_CODE, pop.case(case).personal_code, source_strength=strength)]


@dataclass
class HubTruth:
    """What the hub holds on one person, from the population."""

    customer_eic: str | None
    meters: dict[str, MeterSeries]  # meter EIC -> its series
    starts: dict[str, datetime]  # meter EIC -> contract start (UTC)
    ends: dict[str, date | None]  # meter EIC -> the contract's last day, None while in force


def truth(pop: Population, case: str) -> HubTruth:
    person = pop.case(case)
    hub = next((h for h in pop.hub_customers if h.person_key == person.key), None)
    if hub is None:
        return HubTruth(None, {}, {}, {})
    meters = [m for c in pop.customer_of(person.key) for m in pop.meters_of(c.id) if m.country == "EE"]
    contracts = {m.eic: pop.contract_of_meter(m) for m in meters}
    return HubTruth(hub.customer_eic, {m.eic: series_for(pop, m) for m in meters},
                    {eic: local_midnight(c.start_date) for eic, c in contracts.items()},
                    {eic: c.end_date for eic, c in contracts.items()})


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_rows(series: MeterSeries, start: datetime, end: datetime) -> list[list[str]]:
    """The rows the connector must produce for [start, end), built from the ground truth."""
    return rows_of(series.intervals(start, end))


def rows_of(intervals: list[Interval]) -> list[list[str]]:
    rows = []
    for interval in intervals:
        quality = "metered" if interval.r_type == "M" else "estimated"
        for direction, kwh in (("consumption", interval.out_kwh), ("production", interval.in_kwh)):
            if kwh is not None:
                rows.append([utc_text(interval.start), interval.resolution, direction, f"{Decimal(str(kwh)):.3f}",
                             quality, utc_text(interval.r_time)])
    return rows


def rows_by_meter(records: list[Record]) -> dict[str, list[list[str]]]:
    rows: dict[str, list[list[str]]] = {}
    for record in records:
        if record.source == "meter_data":
            rows.setdefault(record.fields["metering_point_eic"], []).extend(record.fields["intervals"])
    return rows


def keys(records: list[Record], source: str) -> set[str]:
    return {r.key for r in records if r.source == source}


@pytest.fixture(scope="module")
def collected(federation: Any) -> Callable[[str], tuple[list[Record], AvpConnector]]:
    """Each named case collected once, the clock at the sandbox's today (SHORTENED ones: 62 days in)."""
    cache: dict[str, tuple[list[Record], AvpConnector]] = {}

    def get(case: str) -> tuple[list[Record], AvpConnector]:
        if case not in cache:
            pop = population(federation)
            clock = None
            if case in SHORTENED:  # 10 meters x 3.5 years is 420 calls: the first 62 days keep the test fast
                clock = add_local_days(min(truth(pop, case).starts.values()), 62)
            avp = connector(federation, clock=clock)
            cache[case] = (list(avp.collect(code_of(pop, case))), avp)
        return cache[case]

    return get


# -- declaration and settings ----------------------------------------------------------------------------


def test_declared_as_a_connector_built_from_settings(federation: Any) -> None:
    built = systems()["avp"].build(federation.settings)
    assert isinstance(built, Connector) and isinstance(built, AvpConnector)
    assert AvpConnector.accepts == {IdentityType.PERSONAL_CODE, IdentityType.CUSTOMER_EIC,
                                    IdentityType.METERING_POINT_EIC}
    assert AvpConnector.reveals == {IdentityType.CUSTOMER_EIC, IdentityType.METERING_POINT_EIC}
    assert {s.retention_rule for s in AvpConnector.sources.values()} == {"customer_relationship", "contract",
                                                                         "metering_data"}
    settings = dict(federation.settings)
    del settings["DSAR_AVP_MAX_PAGE_SIZE"]
    with pytest.raises(ValueError, match="DSAR_AVP_MAX_PAGE_SIZE"):
        AvpConnector.from_settings(settings)
    built.close()


# -- discover --------------------------------------------------------------------------------------------


def test_discover_reveals_customer_eic_and_meters_with_the_strength_of_the_match(federation: Any) -> None:
    pop = population(federation)
    expected = truth(pop, "demo")
    avp = connector(federation)
    found = list(avp.discover(code_of(pop, "demo")))
    assert {(i.type, i.value) for i in found} == {(IdentityType.CUSTOMER_EIC, expected.customer_eic)} | {
        (IdentityType.METERING_POINT_EIC, eic) for eic in expected.meters}
    assert all(i.is_strong and i.expandable for i in found)
    assert {i.via for i in found} == {("request", "avp.customer"), ("request", "avp.metering_points")}
    assert avp.calls_made == 2  # customer search + meter search, no meter data

    weak = list(avp.discover(code_of(pop, "demo", Strength.WEAK)))
    assert weak and all(not i.is_strong and not i.expandable for i in weak)
    # a metering point EIC alone reveals nothing: today's customer of a meter may be someone else
    assert list(avp.discover([Identifier.of(IdentityType.METERING_POINT_EIC, next(iter(expected.meters)))])) == []


@pytest.mark.parametrize("case", ["latvian", "unknown", "volt-only", "portal-only", "household-b"])
def test_people_without_hub_data_yield_nothing(federation: Any, case: str) -> None:
    pop = population(federation)
    avp = connector(federation)
    assert list(avp.discover(code_of(pop, case))) == []
    assert list(avp.collect(code_of(pop, case))) == []
    # only Estonian-form personal codes are sent; the Latvian one is never disclosed to the hub
    assert avp.calls_made == (0 if case == "latvian" else 2)


def test_only_valid_estonian_personal_codes_are_sent(federation: Any) -> None:
    code = population(federation).case("demo").personal_code
    wrong_check_digit = code[:-1] + str((int(code[-1]) + 1) % 10)
    avp = connector(federation)
    assert list(avp.collect([Identifier.of(IdentityType.PERSONAL_CODE, wrong_check_digit)])) == []
    assert avp.calls_made == 0


# -- collect: exact records for the named cases ----------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_collect_returns_exactly_what_the_hub_holds(federation: Any, collected: Any, case: str) -> None:
    pop = population(federation)
    expected = truth(pop, case)
    records, avp = collected(case)
    assert keys(records, "customer") == ({expected.customer_eic} if expected.customer_eic else set())
    assert keys(records, "metering_points") == set(expected.meters)
    agreements = [r for r in records if r.source == "agreements"]
    assert sorted((a.fields["meter_eic"], a.fields["agreement_type"]) for a in agreements) == sorted(
        (eic, kind) for eic in expected.meters for kind in ("SUPPLY", "GRID"))
    for agreement in agreements:
        eic = agreement.fields["meter_eic"]
        assert agreement.fields["valid_from"] == utc_text(expected.starts[eic])
        assert agreement.event_date == expected.ends[eic]
        assert ("valid_to" in agreement.fields) == (expected.ends[eic] is not None)
    # every interval the hub holds in the window, once; calls exactly the planned floor
    now = avp.clock()
    counts = Counter()
    for record in records:
        if record.source == "meter_data":
            counts[record.fields["metering_point_eic"]] += len({row[0] for row in record.fields["intervals"]})
    assert counts == Counter({eic: s.count(s.data_start, now) for eic, s in expected.meters.items()
                              if s.count(s.data_start, now)})
    assert avp.meter_data_calls == sum(c.pages for c in avp.last_plan)
    lookups = 3 if expected.customer_eic else 1 if pop.case(case).country == "EE" else 0  # LV codes are not sent
    assert avp.calls_made == avp.meter_data_calls + lookups
    assert all(r.strength is Strength.STRONG for r in records)
    assert avp.slow_reads == 0  # the Arrow reading vouched for every page the hub sent, production or not


def test_customer_record_holds_the_hub_identity(federation: Any, collected: Any) -> None:
    pop = population(federation)
    person = pop.case("demo")
    hub = next(h for h in pop.hub_customers if h.person_key == person.key)
    records, _ = collected("demo")
    customer = next(r for r in records if r.source == "customer")
    assert {k: customer.fields.get(k) for k in ("personal_code", "customer_eic", "first_name", "last_name",
                                                "email", "mobile_phone")} == {
        "personal_code": hub.personal_code, "customer_eic": hub.customer_eic, "first_name": hub.first_name,
        "last_name": hub.last_name, "email": hub.email, "mobile_phone": hub.phone}
    assert customer.categories["personal_code"] == "user.government_id.national_identification_number"
    assert [(i.type, i.value) for i in customer.reveals] == [(IdentityType.CUSTOMER_EIC, hub.customer_eic)]
    meters = [r for r in records if r.source == "metering_points"]
    assert {m.parent for m in meters} == {("customer", hub.customer_eic)}
    assert all(r.parent == ("metering_points", r.fields["meter_eic" if r.source == "agreements"
                                                         else "metering_point_eic"])
               for r in records if r.source in ("agreements", "meter_data"))
    assert all(r.matched_by == customer.matched_by for r in records)


def test_demo_series_equals_the_ground_truth_row_for_row(federation: Any, collected: Any) -> None:
    """Two meters over ~3 years: every interval, value, quality and reading time; kWh sums per direction."""
    pop = population(federation)
    records, avp = collected("demo")
    got = rows_by_meter(records)
    expected = truth(pop, "demo")
    assert set(got) == set(expected.meters) and len(got) == 2
    for eic, series in expected.meters.items():
        intervals = series.intervals(series.data_start, series.data_end)
        assert got[eic] == rows_of(intervals)
        for direction, attribute in (("consumption", "out_kwh"), ("production", "in_kwh")):
            values = (getattr(i, attribute) for i in intervals)
            truth_sum = sum((Decimal(str(v)) for v in values if v is not None), Decimal(0))
            assert sum((Decimal(r[3]) for r in got[eic] if r[2] == direction), Decimal(0)) == truth_sum
        assert len({r[0] for r in got[eic]}) == len(intervals) == series.count(series.data_start, series.data_end)
    assert any(r[2] == "production" for rows in got.values() for r in rows)  # the solar meter's inQty
    pages = [r for r in records if r.source == "meter_data"]
    assert all(r.key == f"{r.fields['metering_point_eic']}/{r.fields['period_start']}/{r.fields['page']}"
               and r.event_date == datetime.fromisoformat(r.fields["intervals"][0][0]).astimezone(HUB_TZ).date()
               for r in pages)
    assert avp.meter_data_calls == len(pages) == sum(c.pages for c in avp.last_plan)


def test_dst_days_have_their_23_and_25_hours(federation: Any, collected: Any) -> None:
    pop = population(federation)
    records, _ = collected("demo")
    got = rows_by_meter(records)
    nominal = {"2024-03-31": 23, "2024-10-27": 25, "2025-03-30": 23, "2025-10-26": 100, "2026-03-29": 92,
               "2026-10-25": 100}
    checked = 0
    for eic, rows in got.items():
        per_day = Counter(datetime.fromisoformat(r[0]).astimezone(HUB_TZ).date().isoformat()
                          for r in rows if r[2] == "consumption")
        gaps = [a for a in anomalies_of(pop, eic) if a.kind == "gap"]
        for day, count in nominal.items():
            start = local_midnight(datetime.fromisoformat(day).date())
            end = add_local_days(start, 1)
            assert (end - start) == timedelta(hours=count if count < 26 else count / 4)
            assert per_day[day] == truth(pop, "demo").meters[eic].count(start, end)
            if not any(g.start < end and start < g.end for g in gaps):
                assert per_day[day] == count
                checked += 1
    assert checked >= 6


def test_gaps_estimates_and_corrections_keep_their_shape(federation: Any, collected: Any) -> None:
    pop = population(federation)
    records, _ = collected("demo")
    got = rows_by_meter(records)
    seen = Counter()
    for eic, rows in got.items():
        by_start = {(r[0], r[2]): r for r in rows}
        series = truth(pop, "demo").meters[eic]
        for anomaly in anomalies_of(pop, eic):
            seen[anomaly.kind] += 1
            lower, upper = utc_text(anomaly.start), utc_text(anomaly.end)
            inside = [r for r in rows if lower <= r[0] < upper]
            if anomaly.kind == "gap":
                assert inside == []
            elif anomaly.kind == "estimated":
                assert inside and all(r[4] == "estimated" for r in inside)
                want = {utc_text(i.r_time) for i in series.intervals(anomaly.start, anomaly.end)}
                assert {r[5] for r in inside} == want and min(want) > utc_text(anomaly.end)  # next morning
            else:
                row = by_start[(utc_text(anomaly.start), "consumption")]
                assert row[4] == "metered" and row[5] == utc_text(anomaly.recorded_at)
    assert seen["gap"] and seen["estimated"] and seen["correction"]


def test_metering_point_eic_alone_yields_nothing_customer_eic_alone_everything(federation: Any,
                                                                               collected: Any) -> None:
    pop = population(federation)
    expected = truth(pop, "debtor")
    meter = next(iter(expected.meters))
    avp = connector(federation)
    assert list(avp.collect([Identifier.of(IdentityType.METERING_POINT_EIC, meter)])) == []
    assert avp.calls_made == 0
    by_eic = list(connector(federation).collect([Identifier.of(IdentityType.CUSTOMER_EIC, expected.customer_eic)]))
    by_code, _ = collected("debtor")
    assert [(r.source, r.key, r.fields) for r in by_eic] == [(r.source, r.key, r.fields) for r in by_code]
    assert {i.type for r in by_eic for i in r.matched_by} == {IdentityType.CUSTOMER_EIC}
    everything = [*code_of(pop, "debtor"), Identifier.of(IdentityType.CUSTOMER_EIC, expected.customer_eic),
                  Identifier.of(IdentityType.METERING_POINT_EIC, meter)]
    records = list(connector(federation, clock=add_local_days(expected.starts[meter], 10)).collect(everything))
    assert [r.source for r in records] == ["customer", "metering_points", "agreements", "agreements", "meter_data"]
    customer, *below = records
    assert {i.type for i in customer.matched_by} == {IdentityType.PERSONAL_CODE, IdentityType.CUSTOMER_EIC}
    assert all(set(r.matched_by) == set(everything) for r in below)


# -- planning --------------------------------------------------------------------------------------------


def test_plan_cuts_whole_local_days_and_counts_pages(federation: Any) -> None:
    avp = connector(federation)
    october = MeterWindow("38ZEE-00007001-X", local_midnight(datetime(2025, 10, 1).date()),
                          local_midnight(datetime(2025, 11, 1).date()))
    assert [(c.pages, c.period_end - c.period_start) for c in avp.plan([october])] == [(1, timedelta(hours=745))]
    year = MeterWindow("38ZEE-00007001-X", local_midnight(datetime(2024, 11, 1).date()),
                       local_midnight(datetime(2025, 11, 1).date()))
    calls = avp.plan([year])
    assert len(calls) == 12  # ceil(365 / 31)
    assert "38ZEE" not in repr(calls) + repr(year)  # a meter EIC identifies the person: not in reprs
    for call in calls:
        start, end = (x.astimezone(HUB_TZ) for x in (call.period_start, call.period_end))
        assert start.time() == end.time() == datetime.min.time()
        assert (end.replace(tzinfo=None) - start.replace(tzinfo=None)).days <= 31
    small = AvpConnector.from_settings({**federation.settings, "DSAR_AVP_MAX_PAGE_SIZE": "1000"})
    assert [c.pages for c in small.plan([october])] == [3]  # 2980 quarter-hours
    assert small.floor_calls([october, year]) == 3 + sum(c.pages for c in small.plan([year]))


def test_small_pages_and_short_periods_are_paged_to_the_end(federation: Any) -> None:
    pop = population(federation)
    expected = truth(pop, "demo")
    clock = add_local_days(min(expected.starts.values()), NARROW_DAYS)
    settings = {**federation.settings, "DSAR_AVP_MAX_PAGE_SIZE": "200", "DSAR_AVP_MAX_PERIOD_DAYS": "20"}
    avp = connector(federation, clock=clock, settings=settings)
    records = list(avp.collect(code_of(pop, "demo")))
    # 70 days of hourly data in periods of 20, 20, 20 and 10 days: 480, 480, 480 and 241 intervals
    assert [c.pages for c in avp.last_plan] == [3, 3, 3, 2] * 2
    assert {r.fields["page"] for r in records if r.source == "meter_data"} == {0, 1, 2}
    assert rows_by_meter(records) == {eic: expected_rows(s, s.data_start, clock) for eic, s in expected.meters.items()}
    assert avp.meter_data_calls == sum(c.pages for c in avp.last_plan) == 22


# -- the protocol's envelope -----------------------------------------------------------------------------


class Tamper(httpx.BaseTransport):
    """A transport that edits some answers of the hub on their way back (for envelope tests)."""

    def __init__(self, edit: Callable[[httpx.Request, httpx.Response, int], httpx.Response | None]) -> None:
        self.inner = httpx.HTTPTransport()
        self.edit = edit
        self.seen = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.seen += 1
        changed = self.edit(request, response, self.seen)
        return changed or response


def rebuilt(response: httpx.Response, content: bytes | None = None, drop: tuple[str, ...] = ()) -> httpx.Response:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", *drop)]
    return httpx.Response(response.status_code, headers=headers,
                          content=response.content if content is None else content)


def test_an_answer_without_our_document_id_is_retried_once_then_fails(federation: Any) -> None:
    pop = population(federation)
    clock = add_local_days(min(truth(pop, "demo").starts.values()), NARROW_DAYS)
    once = Tamper(lambda req, resp, n: rebuilt(resp, drop=("x-original-document-identification",))
                  if req.url.path == METER_DATA and n == 6 else None)
    records = list(connector(federation, clock=clock, transport=once, policy=PATIENT).collect(code_of(pop, "demo")))
    assert len([r for r in records if r.source == "meter_data"]) == 6
    always = Tamper(lambda req, resp, n: rebuilt(resp, drop=("x-original-document-identification",))
                    if req.url.path.startswith("/api/") else None)
    with pytest.raises(ConnectorError, match=r"^avp: POST /api/v1/customer/search: answer does not echo") as error:
        list(connector(federation, clock=clock, transport=always, policy=PATIENT).collect(code_of(pop, "demo")))
    assert "twice" in error.value.cause


def test_a_short_page_is_fetched_again_and_never_returned_incomplete(federation: Any) -> None:
    pop = population(federation)
    expected = truth(pop, "demo")
    clock = add_local_days(min(expected.starts.values()), NARROW_DAYS)
    settings = {**federation.settings, "DSAR_AVP_MAX_PAGE_SIZE": "500"}

    def shorten(request: httpx.Request, response: httpx.Response, n: int, every: bool) -> httpx.Response | None:
        if request.url.path != METER_DATA or response.status_code != 200 or not (every or n == 5):
            return None
        body = json.loads(response.content)
        if body["pagination"]["page"] >= body["pagination"]["totalPages"] - 1:
            return None
        body["periods"][-1]["aI"].pop()
        return rebuilt(response, json.dumps(body).encode())

    once = Tamper(lambda req, resp, n: shorten(req, resp, n, every=False))
    records = list(connector(federation, clock=clock, settings=settings, transport=once).collect(code_of(pop, "demo")))
    assert rows_by_meter(records) == {eic: expected_rows(s, s.data_start, clock) for eic, s in expected.meters.items()}
    always = Tamper(lambda req, resp, n: shorten(req, resp, n, every=True))
    with pytest.raises(ConnectorError, match=r"short meter-data page \(499 of 500 intervals\)"):
        list(connector(federation, clock=clock, settings=settings, transport=always).collect(code_of(pop, "demo")))


@pytest.mark.parametrize("value", ["' OR '1'='1", "x%27--", "../../etc/passwd", "a@b.c?x=1&y=2#", "%00",
                                   "Õun-Žürii ñ 😀", "38X-EE-0030001-B' --", "3" * 11 + "?page=1"])
def test_metacharacters_in_identifiers_are_harmless(federation: Any, value: str) -> None:
    avp = connector(federation)
    raw = [Identifier(kind, value, Strength.STRONG) for kind in AvpConnector.accepts]
    assert list(avp.discover(raw)) == [] and list(avp.collect(raw)) == []
    # what would reach the hub if a caller skipped our checks is a clean "nobody"
    assert avp._customer_search("PERSONAL_ID", value) == [] and avp._customer_search("EIC", value) == []


# -- faults ----------------------------------------------------------------------------------------------


def narrow(federation: Any) -> tuple[datetime, dict[str, list[list[str]]]]:
    """(clock, expected rows) for the demo person over the first NARROW_DAYS of their contract."""
    expected = truth(population(federation), "demo")
    clock = add_local_days(min(expected.starts.values()), NARROW_DAYS)
    return clock, {eic: expected_rows(s, s.data_start, clock) for eic, s in expected.meters.items()}


def faulty(federation: Any, spec: str) -> None:
    federation.board.replace(parse_spec(spec))


def test_latency_is_slower_but_complete(clean_faults: Any) -> None:
    clock, want = narrow(clean_faults)
    faulty(clean_faults, "avp=latency:0.1")
    avp = connector(clean_faults, clock=clock)
    started = time.monotonic()
    records = list(avp.collect(code_of(population(clean_faults), "demo")))
    assert rows_by_meter(records) == want
    assert time.monotonic() - started >= 0.1 * avp.calls_made


def test_errors_are_retried_until_complete(clean_faults: Any) -> None:
    clock, want = narrow(clean_faults)
    faulty(clean_faults, "avp=error:0.3")
    records = list(connector(clean_faults, clock=clock, policy=PATIENT).collect(code_of(population(clean_faults),
                                                                                           "demo")))
    assert rows_by_meter(records) == want


def test_errors_everywhere_fail_after_bounded_retries(clean_faults: Any) -> None:
    faulty(clean_faults, "avp=error:1.0")
    with pytest.raises(ConnectorError, match=r"^avp: POST /api/v1/customer/search: gave up after 3 attempts .*"
                                             r"last error: HTTP 503") as error:
        list(connector(clean_faults).collect(code_of(population(clean_faults), "demo")))
    assert population(clean_faults).case("demo").personal_code not in str(error.value)


def test_a_rate_limit_burst_is_ridden_out(clean_faults: Any) -> None:
    clock, want = narrow(clean_faults)
    faulty(clean_faults, "avp=ratelimit:3")  # 3 refusals (Retry-After: 1), then 10 calls, ...
    avp = connector(clean_faults, clock=clock, policy=RetryPolicy(max_attempts=5, base_delay_s=0.01))
    started = time.monotonic()
    records = list(avp.collect(code_of(population(clean_faults), "demo")))
    assert rows_by_meter(records) == want
    assert time.monotonic() - started >= 3.0  # the token endpoint's three 429s were waited out


def test_a_hanging_hub_times_out(clean_faults: Any) -> None:
    faulty(clean_faults, "avp=timeout:5")
    started = time.monotonic()
    with pytest.raises(ConnectorError, match=r"^avp: POST /api/v1/customer/search: .*timeout \(ReadTimeout\)"):
        list(connector(clean_faults, timeout=httpx.Timeout(0.3, connect=0.3), policy=FAST).collect(
            code_of(population(clean_faults), "demo")))
    assert time.monotonic() - started < 3


def test_truncated_answers_are_fetched_again(clean_faults: Any) -> None:
    clock, want = narrow(clean_faults)
    faulty(clean_faults, "avp=truncate:0.3")
    records = list(connector(clean_faults, clock=clock, policy=PATIENT).collect(code_of(population(clean_faults),
                                                                                           "demo")))
    assert rows_by_meter(records) == want


def test_truncated_answers_everywhere_fail(clean_faults: Any) -> None:
    faulty(clean_faults, "avp=truncate:1.0")
    with pytest.raises(ConnectorError, match=r"gave up after 3 attempts.*connection closed before the whole answer"):
        list(connector(clean_faults).collect(code_of(population(clean_faults), "demo")))


def test_refused_credentials_fail_at_once(federation: Any) -> None:
    settings = {**federation.settings, "DSAR_AVP_CLIENT_SECRET": "not-the-secret"}
    avp = connector(federation, settings=settings, policy=PATIENT)
    with pytest.raises(ConnectorError, match=r"token endpoint refused our client credentials \(HTTP 401\)"):
        list(avp.discover(code_of(population(federation), "demo")))
    assert avp.calls_made == 0


def test_a_hub_that_is_down_fails_with_the_connection_named(clean_faults: Any) -> None:
    faulty(clean_faults, "avp=down")
    with pytest.raises(ConnectorError, match=r"^avp: .*connection failed \(ConnectError\)"):
        list(connector(clean_faults).discover(code_of(population(clean_faults), "demo")))


# -- pacing against a rate-limited hub -------------------------------------------------------------------


@pytest.fixture
def paced_hub(federation: Any) -> Iterator[Callable[[float, float], dict[str, str]]]:
    """Start a hub of our own with a minimum call interval; settings with our own (maybe wrong) pace."""
    hosts: list[ServiceHost] = []

    def start(hub_interval: float, our_interval: float) -> dict[str, str]:
        settings = federation.settings
        config = AvpConfig(client_id="paced", client_secret=secrets.token_urlsafe(16),
                           jwt_secret=secrets.token_urlsafe(32),
                           supplier_eic=settings["DSAR_AVP_MARKET_PARTICIPANT_EIC"], min_call_interval_s=hub_interval)
        host = ServiceHost("avp-paced", create_app(population(federation), config), 0)
        host.start()
        hosts.append(host)
        return {**settings, "DSAR_AVP_BASE_URL": host.url, "DSAR_AVP_TOKEN_URL": f"{host.url}/oauth/token",
                "DSAR_AVP_CLIENT_ID": config.client_id, "DSAR_AVP_CLIENT_SECRET": config.client_secret,
                "DSAR_AVP_MIN_CALL_INTERVAL_SECONDS": f"{our_interval:g}"}

    yield start
    for host in hosts:
        host.stop()


def test_pacing_keeps_to_the_floor_without_a_single_429(federation: Any, paced_hub: Any) -> None:
    interval = 0.5
    expected = truth(population(federation), "demo")
    clock = add_local_days(min(expected.starts.values()), 31)
    avp = connector(federation, clock=clock, settings=paced_hub(interval, interval))
    started = time.monotonic()
    records = list(avp.collect(code_of(population(federation), "demo")))
    elapsed = time.monotonic() - started
    assert rows_by_meter(records) == {eic: expected_rows(s, s.data_start, clock) for eic, s in expected.meters.items()}
    assert avp.refused_calls == 0
    assert avp.meter_data_calls == sum(c.pages for c in avp.last_plan) == 2
    assert avp.calls_made == 5  # 3 look-ups + 2 meter-data calls
    assert (avp.calls_made - 1) * interval <= elapsed <= 1.1 * avp.calls_made * interval
    avp.close()


def test_a_429_with_a_fractional_retry_after_is_honoured(federation: Any, paced_hub: Any) -> None:
    clock, want = narrow(federation)
    avp = connector(federation, clock=clock, settings=paced_hub(0.2, 0.0),  # we were told no limit: wrong
                    policy=RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.05))
    records = list(avp.collect(code_of(population(federation), "demo")))
    assert rows_by_meter(records) == want
    assert avp.refused_calls > 0 and avp.calls_made == 9 + avp.refused_calls
    avp.close()
