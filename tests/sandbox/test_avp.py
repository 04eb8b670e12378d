"""The data-hub sandbox over HTTP, every answer checked against Elering's published OpenAPI files.

Spec copies are patched in memory for the files' own inconsistencies (documented in the hub's
docstring): the meter-data answer requires `period` but defines `periods`; customer searchCriteria
requires `identities` but defines identityType/identityValue. kWh values are validated as Decimal,
because a float-based `multipleOf: 0.001` check rejects correct 3-decimal numbers.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

from sandbox.avp import AvpConfig, create_app
from sandbox.avp.protocol import fault_error_body
from sandbox.avp.registry import GRID_OPERATOR_EIC
from sandbox.avp.series import TZ, MeterSeries, anomalies_of, day_slots, series_for, utc_midnight
from sandbox.faults import Fault, FaultBoard, FaultInjector
from sandbox.hosting import ServiceHost
from sandbox.identifiers import party_eic
from sandbox.population import Population, generate

SERVER = "https://test-datahub.elering.ee"
SUPPLIER = party_eic(1)
CONFIG = AvpConfig(client_id="dsar-pipeline", client_secret="client-secret-for-tests",
                   jwt_secret="jwt-secret-for-tests-0123456789abcdef", supplier_eic=SUPPLIER)
CONTEXT = {"marketParticipantIdentification": SUPPLIER, "marketParticipantRole": "OPEN_SUPPLIER",
           "commodityType": "ELECTRICITY"}
CUSTOMER = "/api/v1/customer/search"
METERS = "/api/v1/meter/search/customer"
AGREEMENTS = "/api/v1/agreement/search/meter"
DATA = "/api/v1/meter-data/search"
SPEC_OF = {CUSTOMER: "customer.yml", METERS: "meteringPoint.yml", AGREEMENTS: "agreement.yml", DATA: "meteringData.yml"}


# -- the published specs, patched copies --------------------------------------------------------------


def _decimal_multiples(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: Decimal(str(v)) if k == "multipleOf" and isinstance(v, float) else _decimal_multiples(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_decimal_multiples(v) for v in node]
    return node


def _inline_refs(node: Any, schemas: dict[str, Any], chain: tuple[str, ...] = ()) -> Any:
    """Replace local schema $refs by the schema itself (recursive ones stay): 2x faster validation."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/") and len(node) == 1:
            name = ref.rsplit("/", 1)[1]
            return node if name in chain else _inline_refs(schemas[name], schemas, (*chain, name))
        return {k: _inline_refs(v, schemas, chain) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, schemas, chain) for v in node]
    return node


def load_spec(folder: Path, name: str) -> OpenAPI:
    spec = yaml.safe_load((folder / name).read_text())
    if name == "meteringData.yml":
        answer = spec["paths"][DATA]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["required"] == ["meterEic", "period", "pagination"]  # the inconsistency we patch
        answer["required"] = ["meterEic", "periods", "pagination"]
    if name == "customer.yml":
        criteria = spec["components"]["schemas"]["searchCriteria"]
        assert criteria["required"] == ["identities"]
        criteria["required"] = ["identityType", "identityValue"]
    decimal_json = {"application/json": lambda raw: json.loads(raw, parse_float=Decimal)}
    spec["paths"] = _inline_refs(spec["paths"], spec["components"]["schemas"])
    return OpenAPI.from_dict(_decimal_multiples(spec), config=Config(extra_media_type_deserializers=decimal_json))


@pytest.fixture(scope="module")
def specs(avp_specs: Path) -> dict[str, OpenAPI]:
    """The published files from the shared checkout (tests/conftest.py: `avp_specs` skips where it is absent)."""
    return {path: load_spec(avp_specs, name) for path, name in SPEC_OF.items()}


@pytest.fixture(scope="module")
def problem_schema(avp_specs: Path) -> OAS30Validator:
    """The spec's error body, for statuses the spec does not list (429 and injected 5xx)."""
    common = yaml.safe_load((avp_specs / "common.yml").read_text())
    schemas = common["components"]["schemas"]
    schema = {**schemas["badRequest"], "required": ["problem"], "components": {"schemas": schemas}}
    schema["properties"]["problem"] = {"$ref": "#/components/schemas/defaultProblem"}
    return OAS30Validator(schema)


# -- the service and a client that speaks its protocol ------------------------------------------------


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(size=60)


def serve(population: Population, config: AvpConfig = CONFIG, board: FaultBoard | None = None) -> ServiceHost:
    app: Any = create_app(population, config)
    if board is not None:
        app = FaultInjector(app, "avp", board, error_body=fault_error_body)
    host = ServiceHost("avp", app, 0, board=board)
    host.start()
    return host


@pytest.fixture(scope="module")
def hub_url(population: Population) -> Iterator[str]:
    host = serve(population)  # default limits: 31 days, 3000 per page, 0.05 s between calls
    yield host.url
    host.stop()


class Hub:
    """A minimal hub client: token, document headers, pacing on 429, and spec validation of every call."""

    def __init__(self, url: str, specs: dict[str, OpenAPI], config: AvpConfig = CONFIG) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.specs = specs
        self.config = config
        self.token = self.fetch_token()
        self.calls = 0
        self.last_sent = 0.0

    def fetch_token(self) -> str:
        response = self.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                  auth=(self.config.client_id, self.config.client_secret))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "x-document-date-time": datetime.now(UTC).isoformat(),
                "x-document-identification": str(uuid.uuid4())}

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None,
             valid_request: bool = True, validate: bool = True, retry: bool = True) -> httpx.Response:
        """POST a document; on 429 wait as told and send it again (unless `retry` is off)."""
        while True:
            sent = headers if headers is not None else self.headers()
            if retry:  # keep the hub's minimum interval ourselves, as a connector should
                time.sleep(max(0.0, self.last_sent + self.config.min_call_interval_s - time.monotonic()))
            self.last_sent = time.monotonic()
            response = self.http.post(path, json=body, headers=sent)
            self.calls += 1
            if response.status_code != 429 or not retry:
                break
            time.sleep(float(response.headers["Retry-After"]))  # pacing, as the hub tells
        if validate:
            check_against_spec(self.specs[path], path, sent, body, response, valid_request)
        return response

    def meter_data(self, meter_eic: str, start: datetime, end: datetime, page: int = 0, page_size: int = 3000,
                   validate: bool = True) -> httpx.Response:
        body = {"marketParticipantContext": CONTEXT,
                "meterAttributes": {"meterEic": meter_eic, "periodStart": start.isoformat(),
                                    "periodEnd": end.isoformat()},
                "pagination": {"page": page, "pageSize": page_size}}
        return self.post(DATA, body, validate=validate)


def check_against_spec(spec: OpenAPI, path: str, headers: dict[str, str], body: dict[str, Any],
                       response: httpx.Response, valid_request: bool) -> None:
    request = MockRequest(SERVER, "post", path, headers=headers, data=json.dumps(body).encode())
    if valid_request:
        spec.validate_request(request)
    answer = MockResponse(response.content, response.status_code, headers=dict(response.headers),
                          content_type=response.headers["content-type"])
    spec.validate_response(request, answer)


@pytest.fixture(scope="module")
def hub(hub_url: str, specs: dict[str, OpenAPI]) -> Hub:
    return Hub(hub_url, specs)


def problem_of(response: httpx.Response) -> dict[str, str]:
    problem = response.json()["problem"]
    assert set(problem) >= {"code", "message"}
    return dict(problem)


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), TZ)


def meters_of(population: Population, case: str) -> list[Any]:
    person = population.case(case)
    return [m for c in population.customer_of(person.key) for m in population.meters_of(c.id)]


def flatten(page: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(period["r"], item) for period in page["periods"] for item in period["aI"]]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the full DSAR flow ------------------------------------------------------------------------------


def test_full_flow_for_the_demo_person(hub: Hub, population: Population) -> None:
    demo = population.case("demo")
    found = hub.post(CUSTOMER, {"marketParticipantContext": CONTEXT, "customerTypes": ["PHYSICAL_PERSON"],
                                "activeOnly": False,
                                "searchCriteria": {"identityType": "PERSONAL_ID", "identityValue": demo.personal_code,
                                                   "identityExtension": [{"extensionType": "COUNTRY",
                                                                          "extensionValue": "EE"}]}})
    assert found.status_code == 200
    identities = found.json()["identities"][0]["customerIdentities"]
    customer_eic = next(i["identityValue"] for i in identities if i["identityType"] == "EIC")
    assert (identities[0]["identityType"], identities[0]["identityValue"]) == ("PERSONAL_ID", demo.personal_code)
    metadata = {m["metadataType"]: m["metadataValue"] for m in found.json()["identities"][0]["customerMetadata"]}
    assert metadata["FIRST_NAME"] == demo.first_name and metadata["EMAIL"] == demo.email

    meters = hub.post(METERS, {"marketParticipantContext": CONTEXT, "customerEic": [customer_eic]})
    assert meters.status_code == 200
    points = meters.json()["meteringPoints"]
    expected = meters_of(population, "demo")
    assert [p["meteringPoint"]["meterEic"] for p in points] == [m.eic for m in expected]
    assert [p["electricityCharacteristics"]["production"] for p in points] == [False, True]
    assert points[0]["location"]["streetAddress"] in demo.address

    agreements = hub.post(AGREEMENTS, {"marketParticipantContext": CONTEXT, "meterEic": [m.eic for m in expected]})
    assert agreements.status_code == 200
    windows: dict[str, tuple[datetime, datetime]] = {}
    for point, meter in zip(agreements.json()["meteringPoints"], expected, strict=True):
        by_type = {a["agreementType"]: a for a in point["agreements"]}
        assert set(by_type) == {"SUPPLY", "GRID"}
        assert by_type["SUPPLY"]["serviceProvider"]["serviceProviderEic"] == SUPPLIER
        assert by_type["GRID"]["serviceProvider"]["serviceProviderEic"] == GRID_OPERATOR_EIC
        assert by_type["GRID"]["serviceProvider"]["serviceProviderName"] == "Elektrilevi OÜ"
        assert by_type["SUPPLY"]["customer"]["customerEic"] == customer_eic
        start = population.contract_of_meter(meter).start_date
        assert instant(by_type["SUPPLY"]["validFrom"]) == local_midnight(start)
        assert "validTo" not in by_type["SUPPLY"]
        three_years_ago = local_midnight(population.as_of.replace(year=population.as_of.year - 3))
        windows[meter.eic] = (max(instant(by_type["SUPPLY"]["validFrom"]), three_years_ago),
                              local_midnight(population.as_of))

    for meter in expected:
        start, end = windows[meter.eic]
        got = fetch_all(hub, meter.eic, start, end, page_size=1500 if meter.has_production else 3000)
        series = series_for(population, meter)
        assert len(got) == series.count(start, end) > 3 * 365 * 24
        starts = [instant(item["pS"]) for _, item in got]
        assert starts == sorted(set(starts))  # time order, no duplicates across calls and pages
        assert_anomalies_served(population, series, got, start, end)
        truth = series.intervals(start, end)  # the ground truth the pipeline's tests compare with
        assert [item["outQty"]["kwh"] for _, item in got] == [i.out_kwh for i in truth]
        assert [item.get("inQty", {}).get("kwh") for _, item in got] == [i.in_kwh for i in truth]
        assert any("inQty" in item for _, item in got) == meter.has_production


def fetch_all(hub: Hub, meter_eic: str, start: datetime, end: datetime,
              page_size: int) -> list[tuple[str, dict[str, Any]]]:
    """Calendar months (local time) as <= 31-day calls, every page of each; validates a sample of pages."""
    got: list[tuple[str, dict[str, Any]]] = []
    cursor = start
    while cursor < end:
        local = cursor.astimezone(TZ)
        month_end = local_midnight((local.date().replace(day=1) + timedelta(days=32)).replace(day=1))
        chunk_end = min(month_end, end)
        page, total_pages = 0, 1
        while page < total_pages:
            # openapi-core needs ~0.25 s for a full page: validate the months where something changes
            special = (local.year, local.month) in ((2025, 3), (2025, 4), (2025, 10)) or cursor == start
            response = hub.meter_data(meter_eic, cursor, chunk_end, page, page_size, validate=special)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["meterEic"] == meter_eic and body["pagination"]["page"] == page
            total_pages = body["pagination"]["totalPages"]
            assert 0 < sum(len(p["aI"]) for p in body["periods"]) <= page_size
            got.extend(flatten(body))
            page += 1
        cursor = chunk_end
    return got


def assert_anomalies_served(population: Population, series: MeterSeries, got: list[tuple[str, dict[str, Any]]],
                            start: datetime, end: datetime) -> None:
    by_start = {instant(item["pS"]): (r, item) for r, item in got}
    anomalies = series.anomalies(start, end)
    assert anomalies == anomalies_of(population, series.meter_eic, start, end)
    assert {a.kind for a in anomalies} == {"gap", "estimated", "correction"}
    special: set[datetime] = set()
    for anomaly in anomalies:
        inside = [s for s in by_start if anomaly.start <= s < anomaly.end]
        if anomaly.kind == "gap":
            assert not inside
            day = anomaly.start.astimezone(TZ).date()
            assert [s for s in day_slots(day) if anomaly.start <= s < anomaly.end]  # slots that exist, absent
        elif anomaly.kind == "estimated":
            assert inside and all(by_start[s][1]["outQty"]["rType"] == "E" for s in inside)
            special.update(inside)
        else:
            (only,) = inside
            quantity = by_start[only][1]["outQty"]
            assert quantity["rType"] == "M" and instant(quantity["rTime"]) == anomaly.recorded_at
            assert timedelta(days=14) <= instant(quantity["rTime"]) - anomaly.end <= timedelta(days=365)
            special.add(only)
    for s, (resolution, item) in by_start.items():
        if s in special:
            continue
        quantity = item["outQty"]
        step = timedelta(minutes=15) if resolution == "PT15M" else timedelta(hours=1)
        assert quantity["rType"] == "M"
        assert timedelta(0) < instant(quantity["rTime"]) - (s + step) < timedelta(hours=1)


# -- series shape -----------------------------------------------------------------------------------


def one_day(hub: Hub, meter_eic: str, day: date) -> dict[str, Any]:
    response = hub.meter_data(meter_eic, local_midnight(day), local_midnight(day + timedelta(days=1)))
    assert response.status_code == 200, response.text
    return dict(response.json())


def gap_free_meter(population: Population, days: list[date]) -> Any:
    """A demo meter whose yearly gap misses all the given days (so interval counts are whole)."""
    for meter in meters_of(population, "demo"):
        series = series_for(population, meter)
        if not any(a.kind == "gap" for d in days for a in series.anomalies(utc_midnight(d),
                                                                            utc_midnight(d + timedelta(days=1)))):
            return meter
    raise AssertionError("every demo meter has a gap on one of the days")


@pytest.mark.parametrize(("day", "resolution", "count"), [
    (date(2024, 3, 31), "PT1H", 23), (date(2024, 10, 27), "PT1H", 25), (date(2024, 6, 12), "PT1H", 24),
    (date(2025, 3, 30), "PT1H", 23), (date(2025, 10, 26), "PT15M", 100), (date(2025, 6, 12), "PT15M", 96),
])
def test_dst_days_have_their_true_number_of_intervals(hub: Hub, population: Population, day: date,
                                                      resolution: str, count: int) -> None:
    meter = gap_free_meter(population, [day])
    body = one_day(hub, meter.eic, day)
    (period,) = body["periods"]
    assert period["r"] == resolution and len(period["aI"]) == count
    starts = [instant(i["pS"]) for i in period["aI"]]
    step = timedelta(minutes=15) if resolution == "PT15M" else timedelta(hours=1)
    assert starts[0] == local_midnight(day) and all(b - a == step for a, b in itertools.pairwise(starts))
    assert all(i["pS"].endswith("Z") for i in period["aI"])


def test_switch_to_quarter_hours_on_1_april_2025(hub: Hub, population: Population) -> None:
    meter = gap_free_meter(population, [date(2025, 3, 31), date(2025, 4, 1)])
    response = hub.meter_data(meter.eic, local_midnight(date(2025, 3, 31)), local_midnight(date(2025, 4, 2)))
    periods = response.json()["periods"]
    assert [(p["r"], len(p["aI"])) for p in periods] == [("PT1H", 24), ("PT15M", 96)]
    assert periods[1]["aI"][0]["pS"] == "2025-03-31T21:00:00Z"  # 00:00 Tallinn summer time


def test_consumption_is_realistic_and_production_is_daylight_only(hub: Hub, population: Population) -> None:
    consumer, producer = meters_of(population, "demo")
    summer = one_day(hub, producer.eic, date(2025, 6, 21))
    winter = one_day(hub, producer.eic, date(2025, 1, 15))

    def produced(body: dict[str, Any]) -> tuple[Decimal, set[int]]:
        items = [item for _, item in flatten(body) if "inQty" in item]
        hours = {instant(i["pS"]).astimezone(TZ).hour for i in items}
        return sum(Decimal(str(i["inQty"]["kwh"])) for i in items), hours

    summer_kwh, summer_hours = produced(summer)
    winter_kwh, winter_hours = produced(winter)
    assert summer_kwh > 5 * winter_kwh and summer_kwh > 10
    assert min(summer_hours) >= 3 and max(summer_hours) <= 23 and not {0, 1, 2} & summer_hours
    assert len(winter_hours) < len(summer_hours) and max(winter_hours) <= 16
    month = hub.meter_data(consumer.eic, local_midnight(date(2025, 1, 1)), local_midnight(date(2025, 2, 1)))
    values = [Decimal(str(item["outQty"]["kwh"])) for _, item in flatten(month.json())]
    assert all(v >= 0 and v == v.quantize(Decimal("0.001")) for v in values)
    assert Decimal(100) < sum(values) < Decimal(2000)  # a household's January, kWh
    assert not any("inQty" in item for _, item in flatten(month.json()))


# -- determinism -------------------------------------------------------------------------------------


def test_series_is_a_pure_function_of_seed_meter_and_interval(population: Population) -> None:
    again = generate(size=60)
    other = generate(seed=7, size=60)
    window = (utc_midnight(date(2025, 3, 25)), utc_midnight(date(2025, 4, 5)))
    first = series_for(population, meters_of(population, "demo")[1]).intervals(*window)
    assert first == series_for(again, meters_of(again, "demo")[1]).intervals(*window)
    different = series_for(other, meters_of(other, "demo")[1]).intervals(*window)
    assert [i.out_kwh for i in different] != [i.out_kwh for i in first]
    # a value does not depend on which other intervals were asked for
    series = series_for(population, meters_of(population, "demo")[1])
    assert series.intervals(*window, offset=100, limit=50) == first[100:150]
    day = (utc_midnight(date(2025, 3, 30)), utc_midnight(date(2025, 3, 31)))
    assert series.intervals(*day) == [i for i in first if day[0] <= i.start < day[1]]


def test_same_request_same_answer(hub: Hub, population: Population) -> None:
    meter = meters_of(population, "demo")[0]
    start, end = local_midnight(date(2026, 2, 1)), local_midnight(date(2026, 3, 1))
    first = hub.meter_data(meter.eic, start, end).json()
    assert first == hub.meter_data(meter.eic, start, end, validate=False).json()


def test_history_is_cut_at_84_months_and_at_the_contract_end(hub: Hub, population: Population) -> None:
    old_meter, new_meter = meters_of(population, "two-contracts")
    contract = population.contract_of_meter(old_meter)
    assert contract.end_date is not None
    history_start = local_midnight(date(population.as_of.year - 7, population.as_of.month, population.as_of.day))
    before = hub.meter_data(old_meter.eic, history_start - timedelta(days=10), history_start)
    assert before.status_code == 404 and problem_of(before)["code"] == "NOT_FOUND"
    first = hub.meter_data(old_meter.eic, history_start - timedelta(days=10), history_start + timedelta(days=10))
    assert instant(flatten(first.json())[0][1]["pS"]) == history_start
    supply_end = local_midnight(contract.end_date + timedelta(days=1))
    last = hub.meter_data(old_meter.eic, supply_end - timedelta(days=3), supply_end + timedelta(days=3))
    assert instant(flatten(last.json())[-1][1]["pS"]) == supply_end - timedelta(hours=1)
    agreements = hub.post(AGREEMENTS, {"marketParticipantContext": CONTEXT, "meterEic": [old_meter.eic]})
    (supply, _grid) = agreements.json()["meteringPoints"][0]["agreements"]
    assert instant(supply["validTo"]) == supply_end
    future = hub.meter_data(new_meter.eic, local_midnight(population.as_of), local_midnight(population.as_of)
                            + timedelta(days=5))
    assert future.status_code == 404


# -- paging and limits --------------------------------------------------------------------------------


def test_pages_split_a_period_without_loss_or_overlap(hub: Hub, population: Population) -> None:
    meter = meters_of(population, "demo")[1]
    start, end = local_midnight(date(2025, 3, 15)), local_midnight(date(2025, 4, 15))
    whole = hub.meter_data(meter.eic, start, end, page_size=3000, validate=False).json()
    assert whole["pagination"] == {"page": 0, "totalPages": 1}
    assert [p["r"] for p in whole["periods"]] == ["PT1H", "PT15M"]
    pages = [hub.meter_data(meter.eic, start, end, page=n, page_size=700, validate=n == 1).json() for n in range(3)]
    assert all(p["pagination"]["totalPages"] == 3 for p in pages)
    assert [x for p in pages for x in flatten(p)] == flatten(whole)
    past = hub.meter_data(meter.eic, start, end, page=3, page_size=700)
    assert past.status_code == 404 and "totalPages is 3" in problem_of(past)["message"]


def test_period_limit_counts_local_calendar_days(hub: Hub, population: Population) -> None:
    meter = meters_of(population, "demo")[0]
    october = hub.meter_data(meter.eic, local_midnight(date(2025, 10, 1)), local_midnight(date(2025, 11, 1)))
    assert october.status_code == 200  # 31 days and one hour of real time: still 31 calendar days
    assert october.json()["pagination"]["totalPages"] == 1  # 2980 quarter-hours fit one page of 3000
    too_long = hub.meter_data(meter.eic, local_midnight(date(2025, 10, 1)), local_midnight(date(2025, 11, 2)))
    assert too_long.status_code == 422
    assert problem_of(too_long)["code"] == "PERIOD_TOO_LONG" and "31 days" in problem_of(too_long)["message"]
    backwards = hub.meter_data(meter.eic, local_midnight(date(2025, 10, 2)), local_midnight(date(2025, 10, 1)))
    assert backwards.status_code == 400 and problem_of(backwards)["code"] == "VALIDATION_ERROR"


def test_page_size_limit(hub: Hub, population: Population) -> None:
    meter = meters_of(population, "demo")[0]
    start, end = local_midnight(date(2025, 10, 1)), local_midnight(date(2025, 10, 2))
    too_big = hub.meter_data(meter.eic, start, end, page_size=3001)
    assert too_big.status_code == 400 and problem_of(too_big)["code"] == "PAGE_SIZE_TOO_LARGE"
    assert "3000" in problem_of(too_big)["message"]
    assert hub.meter_data(meter.eic, start, end, page_size=3000).status_code == 200


def test_rate_limit_answers_429_with_a_fractional_retry_after(population: Population,
                                                             specs: dict[str, OpenAPI],
                                                             problem_schema: OAS30Validator) -> None:
    config = AvpConfig(CONFIG.client_id, CONFIG.client_secret, CONFIG.jwt_secret, SUPPLIER, min_call_interval_s=0.5)
    host = serve(population, config)
    try:
        client = Hub(host.url, specs, config)
        body = {"marketParticipantContext": CONTEXT, "customerEic": ["38X-EE-0000000-Z"]}
        first = client.post(METERS, body, retry=False)
        refused = client.post(METERS, body, validate=False, retry=False)
        assert first.status_code == 404 and refused.status_code == 429
        problem_schema.validate(refused.json())
        assert problem_of(refused)["code"] == "TOO_MANY_REQUESTS"
        wait = float(refused.headers["Retry-After"])
        assert 0 < wait <= 0.5 and refused.headers["Retry-After"] != str(round(wait))
        assert refused.headers["x-original-document-identification"]
        time.sleep(wait)  # doing what the hub says is the behaviour under test
        assert client.post(METERS, body, retry=False).status_code == 404
    finally:
        host.stop()
    unlimited = serve(population, AvpConfig(CONFIG.client_id, CONFIG.client_secret, CONFIG.jwt_secret, SUPPLIER,
                                            min_call_interval_s=0))
    try:
        client = Hub(unlimited.url, specs)
        statuses = {client.post(METERS, body, validate=False, retry=False).status_code for _ in range(10)}
        assert statuses == {404}
    finally:
        unlimited.stop()


# -- auth, headers, errors ------------------------------------------------------------------------------


def test_token_endpoint(hub_url: str) -> None:
    form = httpx.post(f"{hub_url}/oauth/token", data={"grant_type": "client_credentials",
                                                      "client_id": CONFIG.client_id,
                                                      "client_secret": CONFIG.client_secret})
    assert form.status_code == 200 and form.json()["token_type"] == "Bearer"
    claims = jwt.decode(form.json()["access_token"], CONFIG.jwt_secret, algorithms=["HS256"], audience="avp-api")
    assert claims["exp"] - claims["iat"] == form.json()["expires_in"] > 0
    wrong = httpx.post(f"{hub_url}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(CONFIG.client_id, "not-the-secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = httpx.post(f"{hub_url}/oauth/token", data={"grant_type": "password"},
                       auth=(CONFIG.client_id, CONFIG.client_secret))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def expired_token() -> str:
    past = int(time.time()) - 600
    return jwt.encode({"iss": "avp-sandbox", "aud": "avp-api", "sub": CONFIG.client_id, "iat": past,
                       "exp": past + 300}, CONFIG.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize(("authorization", "code"), [
    (None, "MISSING_TOKEN"),
    ("Basic ZHNhcjpzZWNyZXQ=", "MISSING_TOKEN"),
    ("Bearer not-a-jwt", "INVALID_TOKEN"),
    ("Bearer " + jwt.encode({"sub": CONFIG.client_id, "exp": int(time.time()) + 300},
                            "another-secret-0123456789abcdef-0123", algorithm="HS256"), "INVALID_TOKEN"),
    ("expired", "TOKEN_EXPIRED"),
])
def test_auth_failures(hub: Hub, authorization: str | None, code: str) -> None:
    headers = hub.headers()
    del headers["Authorization"]
    if authorization == "expired":
        authorization = f"Bearer {expired_token()}"
    if authorization is not None:
        headers["Authorization"] = authorization
    response = hub.post(METERS, {"marketParticipantContext": CONTEXT, "customerEic": ["38X-EE-0000000-Z"]},
                        headers=headers, valid_request=False)
    assert response.status_code == 401 and problem_of(response)["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["x-original-document-identification"] == headers["x-document-identification"]


@pytest.mark.parametrize(("name", "value", "code"), [
    ("x-document-date-time", None, "MISSING_HEADER"),
    ("x-document-identification", None, "MISSING_HEADER"),
    ("x-document-date-time", "yesterday", "INVALID_HEADER"),
    ("x-document-date-time", "2026-10-31T10:00:00", "INVALID_HEADER"),
    ("x-document-identification", "DOC-1", "INVALID_HEADER"),
])
def test_document_headers_are_required(hub: Hub, population: Population, name: str, value: str | None,
                                       code: str) -> None:
    headers = hub.headers()
    if value is None:
        del headers[name]
    else:
        headers[name] = value
    response = hub.post(METERS, {"marketParticipantContext": CONTEXT,
                                 "customerEic": [population.hub_customers[0].customer_eic]},
                        headers=headers, valid_request=False)
    assert response.status_code == 400 and problem_of(response)["code"] == code and name in problem_of(response)[
        "message"]
    assert ("x-original-document-identification" in response.headers) == (name != "x-document-identification")


def test_answers_are_documents_echoing_the_request_id(hub: Hub, population: Population) -> None:
    for body in ({"marketParticipantContext": CONTEXT, "customerEic": [population.hub_customers[0].customer_eic]},
                 {"marketParticipantContext": CONTEXT, "customerEic": ["38X-EE-0000000-Z"]}):
        headers = hub.headers()
        response = hub.post(METERS, body, headers=headers)
        assert response.status_code in (200, 404)
        assert response.headers["x-original-document-identification"] == headers["x-document-identification"]
        own = response.headers["x-document-identification"]
        assert uuid.UUID(own) and own != headers["x-document-identification"]
        stamp = datetime.fromisoformat(response.headers["x-document-date-time"])
        assert stamp.tzinfo is not None and abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
        assert response.headers["status"] == str(response.status_code)


def customer_search(hub: Hub, criteria: dict[str, Any], types: list[str] | None = None,
                    active_only: bool = False, context: dict[str, str] = CONTEXT) -> httpx.Response:
    return hub.post(CUSTOMER, {"marketParticipantContext": context, "customerTypes": types or ["PHYSICAL_PERSON"],
                               "activeOnly": active_only, "searchCriteria": criteria})


def test_customer_search_outcomes(hub: Hub, population: Population) -> None:
    def by_code(case: str) -> dict[str, str]:
        return {"identityType": "PERSONAL_ID", "identityValue": population.case(case).personal_code}

    for case in ("unknown", "latvian", "household-b", "volt-only"):
        response = customer_search(hub, by_code(case))
        assert response.status_code == 404 and problem_of(response)["code"] == "NOT_FOUND", case
    demo_eic = next(c.customer_eic for c in population.hub_customers
                    if c.person_key == population.case("demo").key)
    by_eic = customer_search(hub, {"identityType": "EIC", "identityValue": demo_eic})
    assert by_eic.status_code == 200
    assert customer_search(hub, by_code("demo"), active_only=True).status_code == 200
    assert customer_search(hub, by_code("demo"), types=["LEGAL_PERSON"]).status_code == 404
    company = customer_search(hub, {"identityType": "COMPANY_ID", "identityValue": "12345678"})
    assert company.status_code == 422 and problem_of(company)["code"] == "UNSUPPORTED_IDENTITY_TYPE"
    other_party = customer_search(hub, by_code("demo"), context={**CONTEXT, "marketParticipantIdentification":
                                                                  party_eic(2)})
    assert other_party.status_code == 403 and problem_of(other_party)["code"] == "FORBIDDEN"
    malformed = hub.post(CUSTOMER, {"marketParticipantContext": CONTEXT, "searchCriteria": by_code("demo")},
                         valid_request=False)
    assert malformed.status_code == 400 and "customerTypes" in problem_of(malformed)["message"]


def test_meters_and_agreements_of_the_sole_trader(hub: Hub, population: Population) -> None:
    trader = population.case("sole-trader")
    customer_eic = next(c.customer_eic for c in population.hub_customers if c.person_key == trader.key)
    points = hub.post(METERS, {"marketParticipantContext": CONTEXT, "customerEic": [customer_eic]}).json()
    assert len(points["meteringPoints"]) == 10
    eics = [p["meteringPoint"]["meterEic"] for p in points["meteringPoints"]]
    agreements = hub.post(AGREEMENTS, {"marketParticipantContext": CONTEXT,
                                       "meterEic": [*eics, "38ZEE-99999999-9"]}).json()
    assert [p["meterEic"] for p in agreements["meteringPoints"]] == eics  # the unknown meter is left out
    unknown = hub.post(AGREEMENTS, {"marketParticipantContext": CONTEXT, "meterEic": ["38ZEE-99999999-9"]})
    assert unknown.status_code == 404
    latvian_meter = meters_of(population, "latvian")[0]
    not_in_hub = hub.meter_data(latvian_meter.eic, local_midnight(date(2025, 1, 1)), local_midnight(date(2025, 1, 2)))
    assert not_in_hub.status_code == 404


def test_unknown_path_and_method_answer_problems(hub: Hub, problem_schema: OAS30Validator) -> None:
    missing = hub.http.post("/api/v1/nothing", json={}, headers=hub.headers())
    assert missing.status_code == 404 and problem_of(missing)["code"] == "NOT_FOUND"
    wrong = hub.http.get(DATA, headers=hub.headers())
    assert wrong.status_code == 405 and problem_of(wrong)["code"] == "METHOD_NOT_ALLOWED"
    for response in (missing, wrong):
        problem_schema.validate(response.json())
        assert uuid.UUID(response.headers["x-document-identification"])


# -- faults --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty_host(population: Population) -> Iterator[tuple[FaultBoard, ServiceHost]]:
    """The hub behind the FaultInjector, as the federation runs it (with the hub's error bodies)."""
    board = FaultBoard()
    host = serve(population, AvpConfig(CONFIG.client_id, CONFIG.client_secret, CONFIG.jwt_secret, SUPPLIER,
                                       min_call_interval_s=0), board)
    yield board, host
    board.replace([])
    host.stop()


@pytest.fixture
def faulty(faulty_host: tuple[FaultBoard, ServiceHost],
           specs: dict[str, OpenAPI]) -> Iterator[tuple[Hub, FaultBoard, ServiceHost]]:
    board, host = faulty_host
    board.replace([])
    yield Hub(host.url, specs), board, host
    board.replace([])


def agreements_call(client: Hub, population: Population) -> httpx.Response:
    meter = meters_of(population, "demo")[0]
    return client.http.post(AGREEMENTS, json={"marketParticipantContext": CONTEXT, "meterEic": [meter.eic]},
                            headers=client.headers())


def test_fault_latency(faulty: tuple[Hub, FaultBoard, ServiceHost], population: Population) -> None:
    client, board, _ = faulty
    board.replace([Fault("avp", "latency", 0.3)])
    started = time.monotonic()
    assert agreements_call(client, population).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_error(faulty: tuple[Hub, FaultBoard, ServiceHost], population: Population,
                     problem_schema: OAS30Validator) -> None:
    client, board, _ = faulty
    board.replace([Fault("avp", "error", 1.0)])
    response = agreements_call(client, population)
    assert response.status_code == 503
    problem_schema.validate(response.json())
    board.replace([])
    assert agreements_call(client, population).status_code == 200


def test_fault_ratelimit(faulty: tuple[Hub, FaultBoard, ServiceHost], population: Population,
                         problem_schema: OAS30Validator) -> None:
    client, board, _ = faulty
    board.replace([Fault("avp", "ratelimit", 2)])
    answers = [agreements_call(client, population) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 200, 200]
    assert answers[0].headers["Retry-After"] == "1" and problem_of(answers[0])["code"] == "TOO_MANY_REQUESTS"
    problem_schema.validate(answers[0].json())


def test_fault_timeout(faulty: tuple[Hub, FaultBoard, ServiceHost], population: Population,
                       problem_schema: OAS30Validator) -> None:
    client, board, _ = faulty
    board.replace([Fault("avp", "timeout", 0.3)])
    started = time.monotonic()
    response = agreements_call(client, population)
    assert response.status_code == 504 and time.monotonic() - started >= 0.3
    problem_schema.validate(response.json())
    board.replace([Fault("avp", "timeout", 60.0)])
    with pytest.raises(httpx.ReadTimeout):  # a client with a shorter timeout than the hang gives up
        client.http.post(AGREEMENTS, json={}, headers=client.headers(), timeout=0.2)


def test_fault_truncate(faulty: tuple[Hub, FaultBoard, ServiceHost], population: Population) -> None:
    client, board, _ = faulty
    board.replace([Fault("avp", "truncate", 1.0)])
    with pytest.raises(httpx.RemoteProtocolError):
        agreements_call(client, population)


def test_fault_down(faulty: tuple[Hub, FaultBoard, ServiceHost], population: Population) -> None:
    client, board, host = faulty
    board.replace([Fault("avp", "down", None)])
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{host.url}/oauth/token", data={"grant_type": "client_credentials"}, timeout=2)
    board.replace([])
    fresh = Hub(host.url, client.specs)
    assert agreements_call(fresh, population).status_code == 200
