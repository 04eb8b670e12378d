"""The data hub's answers, byte for byte, across its fast meter-data path.

`GOLDEN` holds the SHA-256 of the exact response bodies of a fixed set of calls, captured from the
hub before its meter-data search was made cheaper (vectorised per day, JSON fragments cached per
meter and day). Any change of a value, of the order, of a timestamp or of the JSON formatting
changes a digest. The cases cover meters with and without production, the 2025-04-01 PT1H -> PT15M
switch, the four DST days of 2024/2025, gap days, estimated days, corrections (known and not yet
known at `as_of`), paging with small page sizes, contract start/end and the 84-month history cut,
periods that do not start on an interval boundary, and the other three search operations.

The served text is also compared with the reference rendering (`meter_data_page`: `series.count`,
`series.intervals` and `render_periods`, the dicts + json.dumps the hub served before) over many
windows, page sizes and offsets, so a paging, slicing or formatting difference shows up even outside
the golden cases. Both share the value model (`MeterSeries.day_data`), which the digests pin. CPU
speed is measured by hand (see the docstring of `sandbox.avp.meterdata`), never asserted here.

To print fresh digests (only when a change of the answers is intended): `python -m tests.sandbox.test_avp_speed`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from sandbox.avp import create_app
from sandbox.avp.meterdata import meter_data_page
from sandbox.avp.series import TZ, series_for
from sandbox.population import Population, generate
from tests.sandbox.test_avp import AGREEMENTS, CONTEXT, CUSTOMER, DATA, METERS
from tests.sandbox.test_avp import CONFIG as HUB_CONFIG

CONFIG = dataclasses.replace(HUB_CONFIG, min_call_interval_s=0)


def local(day: date, hour: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ).isoformat()


def meters_of(population: Population, case: str) -> list[str]:
    person = population.case(case)
    return [m.eic for c in population.customer_of(person.key) for m in population.meters_of(c.id)]


def data_body(meter: str, start: str, end: str | None, page: int = 0, page_size: int = 3000) -> dict[str, Any]:
    attributes = {"meterEic": meter, "periodStart": start}
    if end is not None:
        attributes["periodEnd"] = end
    return {"marketParticipantContext": CONTEXT, "meterAttributes": attributes,
            "pagination": {"page": page, "pageSize": page_size}}


def cases(population: Population) -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (path, body). Names are stable: they key `GOLDEN`."""
    consumer, producer = meters_of(population, "demo")  # demo: 38ZEE-00007001-X, 38ZEE-00007011-T (production)
    trader = meters_of(population, "sole-trader")[0]  # 38ZEE-00007048-X, production
    old, new = meters_of(population, "two-contracts")  # contract ended 2022-11-01 / started 2022-11-02
    found: dict[str, tuple[str, dict[str, Any]]] = {}

    def add(name: str, meter: str, start: str, end: str | None, page: int = 0, page_size: int = 3000) -> None:
        found[name] = (DATA, data_body(meter, start, end, page, page_size))

    months = {"2024-03": (date(2024, 3, 1), date(2024, 4, 1)), "2024-10": (date(2024, 10, 1), date(2024, 11, 1)),
              "2025-03": (date(2025, 3, 1), date(2025, 4, 1)), "2025-04": (date(2025, 4, 1), date(2025, 5, 1)),
              "2025-10": (date(2025, 10, 1), date(2025, 11, 1)), "2026-10": (date(2026, 10, 1), date(2026, 11, 1)),
              "switch": (date(2025, 3, 15), date(2025, 4, 15)), "2025-06": (date(2025, 6, 1), date(2025, 7, 1))}
    for label, meter in (("consumer", consumer), ("producer", producer), ("trader", trader)):
        for month, (first, after) in months.items():
            add(f"{label}/month/{month}", meter, local(first), local(after))
        for day in (date(2024, 3, 31), date(2024, 10, 27), date(2025, 3, 30), date(2025, 10, 26)):
            add(f"{label}/dst/{day}", meter, local(day), local(day + timedelta(days=1)))
        add(f"{label}/default-end", meter, local(date(2025, 10, 1)), None)
        add(f"{label}/unaligned", meter, "2025-04-10T10:07:00+03:00", "2025-04-12T05:00:00.500000Z")
        add(f"{label}/unaligned-hourly", meter, "2024-11-03T01:59:59.999999+00:00", "2024-11-20T13:30:00+05:30")
        add(f"{label}/past-as-of", meter, local(date(2026, 10, 20)), local(date(2026, 11, 5)))
    # gap days (yearly gaps of 2-5 hours), estimated days and corrections
    for name, meter, day in (("consumer/gap/2024-07-04", consumer, date(2024, 7, 4)),
                             ("consumer/gap/2025-08-13", consumer, date(2025, 8, 13)),
                             ("producer/gap/2024-01-30", producer, date(2024, 1, 30)),
                             ("producer/gap/2025-05-09", producer, date(2025, 5, 9)),
                             ("trader/gap/2025-01-08", trader, date(2025, 1, 8)),
                             ("trader/gap/2026-02-28", trader, date(2026, 2, 28)),
                             ("consumer/estimated/2025-06-09", consumer, date(2025, 6, 9)),
                             ("producer/estimated/2026-06-22", producer, date(2026, 6, 22)),
                             ("producer/estimated/2024-04-07", producer, date(2024, 4, 7)),
                             ("consumer/correction/2024-04-04", consumer, date(2024, 4, 4)),
                             ("consumer/correction/2025-04-06", consumer, date(2025, 4, 6)),
                             ("producer/correction/2025-06-16", producer, date(2025, 6, 16)),
                             ("trader/correction/2026-10-06", trader, date(2026, 10, 6)),
                             ("producer/unknown-correction/2026-08-30", producer, date(2026, 8, 30))):
        add(name, meter, local(day), local(day + timedelta(days=1)))
    add("producer/gap-edge/2024-01-30", producer, "2024-01-30T05:00:00Z", "2024-01-30T10:00:01Z")
    add("producer/gap-inside", producer, "2024-01-30T06:30:00Z", "2024-01-30T09:00:00Z")  # nothing: 404
    # paging
    switch = (local(date(2025, 3, 15)), local(date(2025, 4, 15)))
    for page in range(4):
        add(f"producer/switch/700/{page}", producer, *switch, page=page, page_size=700)
    for page in (0, 1, 7, 8):
        add(f"consumer/2025-10/333/{page}", consumer, local(date(2025, 10, 1)), local(date(2025, 11, 1)),
            page=page, page_size=333)
    for page in (0, 1, 7, 8, 11, 12):  # 8 quarter-hours, the gap 23:00-02:00, 4 quarter-hours
        add(f"trader/around-gap/1/{page}", trader, "2026-02-27T21:00:00Z", "2026-02-28T03:00:00Z",
            page=page, page_size=1)
    add("consumer/month/2025-10/2979", consumer, local(date(2025, 10, 1)), local(date(2025, 11, 1)), 1, 2979)
    add("producer/month/2024-07/97/7", producer, local(date(2024, 7, 1)), local(date(2024, 8, 1)), 7, 97)
    # contract start / end, the 84-month cut, no data at all
    add("new/contract-start", new, local(date(2022, 10, 25)), local(date(2022, 11, 10)))
    add("new/before-contract", new, local(date(2022, 10, 5)), local(date(2022, 11, 2)))
    add("old/contract-end", old, local(date(2022, 10, 25)), local(date(2022, 11, 10)))
    add("old/after-contract", old, local(date(2022, 11, 2)), local(date(2022, 11, 20)))
    add("old/history-cut", old, local(date(2019, 10, 25)), local(date(2019, 11, 10)))
    add("old/contract-end/page1", old, local(date(2022, 10, 20)), local(date(2022, 11, 10)), 1, 100)
    add("consumer/contract-start", consumer, local(date(2023, 8, 15)), local(date(2023, 9, 1)))
    # the other operations
    demo = population.case("demo")
    found["customer/demo"] = (CUSTOMER, {"marketParticipantContext": CONTEXT, "customerTypes": ["PHYSICAL_PERSON"],
                                         "activeOnly": False,
                                         "searchCriteria": {"identityType": "PERSONAL_ID",
                                                            "identityValue": demo.personal_code}})
    for case in ("demo", "sole-trader", "two-contracts"):
        key = population.case(case).key
        customers = [c.customer_eic for c in population.hub_customers if c.person_key == key]
        found[f"meters/{case}"] = (METERS, {"marketParticipantContext": CONTEXT, "customerEic": customers})
        found[f"agreements/{case}"] = (AGREEMENTS, {"marketParticipantContext": CONTEXT,
                                                    "meterEic": meters_of(population, case)})
    return found


class Client:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        answer = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": CONFIG.client_id,
                                                   "client_secret": CONFIG.client_secret})
        self.token = answer.get_json()["access_token"]

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        headers = {"Authorization": f"Bearer {self.token}", "x-document-date-time": datetime.now(UTC).isoformat(),
                   "x-document-identification": str(uuid.uuid4())}
        answer = self.client.post(path, data=json.dumps(body), headers=headers, content_type="application/json")
        return answer.status_code, answer.get_data(), dict(answer.headers)


def digests(population: Population) -> dict[str, tuple[int, str]]:
    client = Client(create_app(population, CONFIG).test_client())
    result = {}
    for name, (path, body) in cases(population).items():
        status, data, _ = client.post(path, body)
        result[name] = (status, hashlib.sha256(data).hexdigest())
    return result


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(size=60)


@pytest.fixture(scope="module")
def client(population: Population) -> Client:
    return Client(create_app(population, CONFIG).test_client())


def test_golden_cases_cover_what_they_claim(population: Population) -> None:
    assert set(cases(population)) == set(GOLDEN)
    statuses = {name: status for name, (status, _) in GOLDEN.items()}
    assert statuses["producer/gap-inside"] == 404 and statuses["producer/switch/700/3"] == 404
    assert statuses["trader/around-gap/1/12"] == 404 and statuses["old/after-contract"] == 404
    assert sum(status == 200 for status in statuses.values()) > 80


def test_answers_are_byte_for_byte_the_golden_ones(population: Population, client: Client) -> None:
    for name, (path, body) in cases(population).items():
        status, data, headers = client.post(path, body)
        assert (status, hashlib.sha256(data).hexdigest()) == GOLDEN[name], name
        assert headers["Content-Type"] == "application/json" and int(headers["Content-Length"]) == len(data), name


def test_answers_are_the_same_when_cached(population: Population, client: Client) -> None:
    """Second and third time round (fragments cached), in another order: still the golden bytes."""
    named = list(cases(population).items())
    random.Random(5).shuffle(named)
    for name, (path, body) in named + named[::3]:
        status, data, _ = client.post(path, body)
        assert (status, hashlib.sha256(data).hexdigest()) == GOLDEN[name], name


def reference_page(population: Population, meter_eic: str, start: datetime, end: datetime, page: int,
                   page_size: int) -> bytes:
    """The body the hub served before the fast path: dicts from `series.intervals`, one json.dumps."""
    meter = next(m for m in population.metering_points if m.eic == meter_eic)
    payload = meter_data_page(series_for(population, meter), start, end, page, page_size)
    return json.dumps(payload, separators=(",", ":")).encode()


def test_fast_path_equals_the_reference_renderer_on_random_windows(population: Population, client: Client) -> None:
    rng = random.Random(20261101)
    meters = meters_of(population, "demo") + meters_of(population, "sole-trader")[:2]
    meters += meters_of(population, "two-contracts")
    first, last = datetime(2022, 10, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    compared = 0
    for _ in range(200):
        meter = rng.choice(meters)
        start = first + timedelta(seconds=rng.randrange(int((last - first).total_seconds())))
        if rng.random() < 0.5:
            start = start.replace(minute=rng.choice([0, 15, 30, 45]), second=0)
        end = start + timedelta(hours=rng.choice([1, 5, 24, 24 * 3, 24 * 17, 24 * 30]), minutes=rng.randrange(60))
        page_size = rng.choice([1, 7, 96, 500, 3000])
        page = rng.choice([0, 0, 0, 1, 2, rng.randrange(30)])
        zone = rng.choice([UTC, TZ])
        status, data, _ = client.post(DATA, data_body(meter, start.astimezone(zone).isoformat(),
                                                      end.astimezone(zone).isoformat(), page, page_size))
        if status == 200:
            assert data == reference_page(population, meter, start, end, page, page_size)
            compared += 1
        else:
            assert status == 404, data
    assert compared > 90


GOLDEN: dict[str, tuple[int, str]] = {
    'consumer/month/2024-03': (200, '80dd90b73dc49a923548bc928edda1bec6d813718dc4179d8725ee1c40d0ee03'),
    'consumer/month/2024-10': (200, '759091aa7ec114b4401a3ae226c03bc4ead74630cf85820346be4563a279748b'),
    'consumer/month/2025-03': (200, '6c9d975f154d304272038214f05880291e3accbab123726508d6e5310a6222a6'),
    'consumer/month/2025-04': (200, '8471a0dc44c6e74cbaba459f004644f7c78a2484bb0412a46e3ad51ed28ff768'),
    'consumer/month/2025-10': (200, 'a5b525232a425d3d20193d4ac2d800cf8190c843d272eea9de4b360e510c3713'),
    'consumer/month/2026-10': (200, '63bca980edc54c8644e19d2c7e61df37be620b79a9b3de71323eb4030ae5c1b2'),
    'consumer/month/switch': (200, '100082a1692203300ba3da51ee234d2eb8f23e119db6a89fe1ea10d863efb0e2'),
    'consumer/month/2025-06': (200, '4efe5d7c904dbe5a7f019cf5893d2fe0982f88aa96617128443d27b18f4f0e10'),
    'consumer/dst/2024-03-31': (200, '8a0101d7cf550d2390f53541b191b4f32a1e9c5215d033d4d40a22ba625de8c0'),
    'consumer/dst/2024-10-27': (200, '1fb9713201591da099d320c5fd64d21f0a5151b1dc5e051d230d10302346058c'),
    'consumer/dst/2025-03-30': (200, 'f138d3167e48a1439568f51d1ad6c05bd7a1d7ac6bb583586a3097682d8b4b3d'),
    'consumer/dst/2025-10-26': (200, '538fa40aad2e1de63cb08450f6cff79a4d4d1073c9f88a8985bcf3e14df2295c'),
    'consumer/default-end': (200, 'a5b525232a425d3d20193d4ac2d800cf8190c843d272eea9de4b360e510c3713'),
    'consumer/unaligned': (200, '0ad248d4572fb3356a2eaa9b2e37b415a7e68b32cea6a8acc3c46afba0dbe634'),
    'consumer/unaligned-hourly': (200, '575f9ac7ad0cecf76bea5c29f8a4a78243ff6b40f3ade6b7528627248708b4a8'),
    'consumer/past-as-of': (200, 'b36f0e4b857c61b550ea4e10d35af3a735fb9f75abf339c1b00b3952ebfc0f11'),
    'producer/month/2024-03': (200, '8ee34e7ea38fd584c1b604a5cfbf501bb5cbb6376f7527286e252cb16708657f'),
    'producer/month/2024-10': (200, 'd1851d6803fac3a4e759434d0ff2964c485074fdf962fd85cbc708243c2efa1f'),
    'producer/month/2025-03': (200, 'eb623ce1d060557a1646a37f0de5cc6d3a26e5bdf384511cd63a4e34475e08d5'),
    'producer/month/2025-04': (200, '0e130767bfe59ba7560dffbb32fa2d325929c6d404cac237ad631cf5f4fc6549'),
    'producer/month/2025-10': (200, '285df15f12e9833de2dab58def2247981d9a6c45c3797043702ce7860c15ce0c'),
    'producer/month/2026-10': (200, '76c41b88db0ce08fabe564ab9acd39cec3c7f1e72ae1d317ee96af0a6ff42374'),
    'producer/month/switch': (200, '78ed4fc154124429349c8f24ad970f366d28d92898cb9a57b9d10a448bffb6b5'),
    'producer/month/2025-06': (200, '0356aa0a2498bef98f12e51f0969c9ca24bc631ebbcd64f60609275b00c8f67d'),
    'producer/dst/2024-03-31': (200, 'b714fae411fe75cf4f5844b4ed5e9f3e30439103d2cdfea861b3a27b203d3d2c'),
    'producer/dst/2024-10-27': (200, 'c61f9d9f716781f0687c907d8f9f1621c814ef7f50278a4ae7e135c46c83e5e2'),
    'producer/dst/2025-03-30': (200, '1dbe0290230223d443f276472c529d2800fbe2530146ac52ca422edd0aba2c2b'),
    'producer/dst/2025-10-26': (200, 'fec54884944f94369da8b706b75942b83e28b474870ca8afb6ed9f288403cad3'),
    'producer/default-end': (200, '285df15f12e9833de2dab58def2247981d9a6c45c3797043702ce7860c15ce0c'),
    'producer/unaligned': (200, 'd49c60f797655ab66c0107e276283a1af8c1660ea03cd4f681c1da730e2947c1'),
    'producer/unaligned-hourly': (200, 'acf9403fb9057bf39a4c6495c62f4c57b43eb330afb90c2e71ce0f956d2b65fd'),
    'producer/past-as-of': (200, '0a1bc34d45dbdda1e5a1b4e33b3cd4e8fecb5bfc8c25b277bb905f1e14c867ca'),
    'trader/month/2024-03': (200, '447da3f72405fd445794cf4ce764655bf1ffee900f81b66ab91642c8ce74151f'),
    'trader/month/2024-10': (200, 'f593364ead833f82206dc67e53e09ebe33da3f47b595f7512923a07f8ba55c27'),
    'trader/month/2025-03': (200, '3078e0b897a12ad1806e62faa97fa9726dc6d7cd15cf7030817766e8732969e6'),
    'trader/month/2025-04': (200, '4fc3d5f46b9ad3aeb9f2367d7802222c248f810c0041ddd33e510aa105eca755'),
    'trader/month/2025-10': (200, 'e526499db2f39da015e2459f0641f2ef4711d88ed6e1988e9b975f257953d772'),
    'trader/month/2026-10': (200, '51580ea946b67b14a91972ff2fa7aeb1ca9736861301ad6f43ae9b8b13fe01d3'),
    'trader/month/switch': (200, '943e44c35fe1a3dc048a188e6e2f970b072af13c01c698c8c7536eaa1f0885b4'),
    'trader/month/2025-06': (200, '374a3230a3ff9dc57a5b6451eba16073256226591c198d0c0a65a2d7f08430d6'),
    'trader/dst/2024-03-31': (200, 'cfe1a462ee1d55d7b9e2eb599c3d3f08f61f0fb753cbaac699e704f73be0debe'),
    'trader/dst/2024-10-27': (200, '5cfee008921a766f92927fee2efa8225df0b1fd596d464604ba10e59590d80ce'),
    'trader/dst/2025-03-30': (200, '43e44bf3bbf63a05b439c2b2ff30aded8f66df96ade91e8f833b8d28ab32e69a'),
    'trader/dst/2025-10-26': (200, '60d25c466a91a6e96286fcefa4bb93029e780d0dbae534d09f29620cd5d27784'),
    'trader/default-end': (200, 'e526499db2f39da015e2459f0641f2ef4711d88ed6e1988e9b975f257953d772'),
    'trader/unaligned': (200, '15cfc9c7c39ea998bc56eeb91334796d1d1259a1e0d0ae10604dbf0b2ff3668e'),
    'trader/unaligned-hourly': (200, '70f25cbe103a55635c8cdd418abca59d473e0ea51207845bac19be20a4ba0ddd'),
    'trader/past-as-of': (200, 'b5ae08ddc081121a8b9d6b0bdb2860c4cff045b3e8cf7ad21e9635510746bc71'),
    'consumer/gap/2024-07-04': (200, '750ee24ba4a62e68b6d3f40d85682473d47fdac81be1d77e84ed2370010f82a7'),
    'consumer/gap/2025-08-13': (200, 'c3b3689aada67d24561e6c8121a8c6905f61d04d984cd3d3543259fc9bc12d8e'),
    'producer/gap/2024-01-30': (200, '7474ab9a658d7e1752a4cac1e719c0f8091fb73a18da2ff1954970ccffa5b8a0'),
    'producer/gap/2025-05-09': (200, '20faefd5a91f71be3ee85f0d0ce0a7c5245798c8ec2d7b96e373a2e3890d38ae'),
    'trader/gap/2025-01-08': (200, 'ff4218d8d52939643533dd1e6bb8e6301cf131a03243b7fb4196a0bb365eeea1'),
    'trader/gap/2026-02-28': (200, '2d648c61ad1029a6e96654334ce9407b0f5a913baa82a2da3f3472e3099e59e0'),
    'consumer/estimated/2025-06-09': (200, 'ffa0b4db0215846d3f284854b8844c3858bc5eca2b41dae38d8894300675a542'),
    'producer/estimated/2026-06-22': (200, 'f46dd32651be0187cc7a0b03b51fc88c23fe1c6bf77c360d2832999b93fd9cf3'),
    'producer/estimated/2024-04-07': (200, '3b28c4b1adea0031c6bc5a85d27a5fc4cca5a64f2f57a3a1f4cf580d0e930e09'),
    'consumer/correction/2024-04-04': (200, 'dbcb883c04391a3292da18bcdaf147aa72eee98006019d475115e5af4fe857a6'),
    'consumer/correction/2025-04-06': (200, 'f43628305d01b22617221654558de6bba613b68d7aa2cfe07e1cdeea36edaa38'),
    'producer/correction/2025-06-16': (200, 'b9772b2fbebaa996a56c26ae8e28f294ff4ae200fb0d876a87c270c7f9b9d787'),
    'trader/correction/2026-10-06': (200, '5d9a62ddbe11fcbd2165d43c8fac978fa7013f6ff2145fecb7cb1b2f6888e9c3'),
    'producer/unknown-correction/2026-08-30': (200, '436b30befb9c4123acd36c2af199eab62264b0c3caff4c9d9e49a425a4781e2e'),
    'producer/gap-edge/2024-01-30': (200, '26f3b0932a9d63c82a45350c44a222dc429b9786097ab63154e50015db76fde3'),
    'producer/gap-inside': (404, '6840eb5842f513c8ff945c173906334f019c7e5e6c6c66f9b182e2e1a5ca8562'),
    'producer/switch/700/0': (200, '95d6fb721fa5c52f410d96e777fe02ef7809ac0f4cdb99bf982a92825db4525c'),
    'producer/switch/700/1': (200, 'b8b0ae95f378c543b29402f091f228d4277e5d9c3eed82d852a3ab561486386a'),
    'producer/switch/700/2': (200, 'c78eeff86b4f29d33ff542f08ce7facd3ee241dbc455b478bee74a9b0d422ff2'),
    'producer/switch/700/3': (404, '870cbbd5ecea9bbd25f127bed213096c2e285d93aefe8be1ec7b8cc020415da5'),
    'consumer/2025-10/333/0': (200, 'ba376c92c84a3d4defc9e5b7071b292a530c638ccdcc73d7f706bb230d565ef2'),
    'consumer/2025-10/333/1': (200, '925c70540a0bee93835ac972b9f08938ad263104fb84c5b379d519408c3495ac'),
    'consumer/2025-10/333/7': (200, '5cc31ed7d778f93391ce6ce748c09afdc61c9859099326d90f9000721f5be2e8'),
    'consumer/2025-10/333/8': (200, '43e08278392bbba9ed09ec4c90742bc0c8f7863db7e3c6ba5c20c7f7b2420038'),
    'trader/around-gap/1/0': (200, '48844bb70bdb59dbd91062a026e57860f920d138f1193a7ad0eaceec2a24fd0d'),
    'trader/around-gap/1/1': (200, 'e9d8a8ff7514a2961ea335f7ed81cf4774f0716e9a6a5c75648b0b92eb64a018'),
    'trader/around-gap/1/7': (200, '978f819516a19599ff92b0f4dfb8ea83d02338099f80ef3654ac387cfa56ac09'),
    'trader/around-gap/1/8': (200, 'af352a7512d566883197caa3e4ad9aaa8a3e1defec17106a8e268c85c4797bdc'),
    'trader/around-gap/1/11': (200, 'c15a33ebc6482df5d1e02e0b78649657dae63a051ef7418581e9e0bfe25f42b1'),
    'trader/around-gap/1/12': (404, '1ef3a5d590790115e1290ee8e3c842fd3aa8c51416234e91d0abbce4024505fb'),
    'consumer/month/2025-10/2979': (200, '730db340441dca317a1da3f55416743ff33115e6088d5da4ac651a316306fad6'),
    'producer/month/2024-07/97/7': (200, '6121622af6f9e96beed064d413b0704e5e175d5f6d0532b2ef0f477a8bfdf887'),
    'new/contract-start': (200, '7e3a3c3c62212b810c803855b6b2ddcbb7d22c09429555305aae4c970e69a19f'),
    'new/before-contract': (404, '6840eb5842f513c8ff945c173906334f019c7e5e6c6c66f9b182e2e1a5ca8562'),
    'old/contract-end': (200, '409e1cff8fa0421ab322657534d4a78607bd2b2859880cd6fc9ad584070bb5f9'),
    'old/after-contract': (404, '6840eb5842f513c8ff945c173906334f019c7e5e6c6c66f9b182e2e1a5ca8562'),
    'old/history-cut': (200, '0cbcb694d1affa233446a9ef7942f45cc52f248b2fac9cf920d6fa86898d4ecb'),
    'old/contract-end/page1': (200, '4c19dba27914a5fa1047d07bc7937a6e0409684d42f6fc1448500c6721693bd7'),
    'consumer/contract-start': (200, '06a1fc33fd6bd3abc55b62898a676623cabac9318bdcfb9a706e4501d9cb10a9'),
    'customer/demo': (200, '5bacee0fb254f99a41e8a922888bca86853625e3fdc4953c1a597b2c014bc303'),
    'meters/demo': (200, 'cfef4269caac33a3eb73a662262370c0d4acc021270def9b1b8d45e1821c6f8c'),
    'agreements/demo': (200, 'cc3f66c37540ffdc994683105e6a1a3db42b66e16bbba3ac8ac1875f45f341e1'),
    'meters/sole-trader': (200, '83101bbdd0270057d6a87484eb6f22efa4b94247857821ce884b9c4fe82d3da0'),
    'agreements/sole-trader': (200, '972630fc40028f6e2d0cf925c2d145efaea152300d4db5e8fd4a0172ab4e7437'),
    'meters/two-contracts': (200, 'a31ec34ac83a618c37978c4ec98971815c7d0e9efa273494eadf81c6f7b3fdc8'),
    'agreements/two-contracts': (200, 'a39ca05eada0667c5639f68c3c402b502810d70b9861aa83a4829400b4806404'),
}


if __name__ == "__main__":
    for key, value in digests(generate(size=60)).items():
        print(f"    {key!r}: {value!r},")
