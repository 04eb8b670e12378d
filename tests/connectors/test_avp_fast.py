"""The Arrow reading of a meter-data answer gives exactly `parse_page`'s page, or declines.

Property checked on a realistic page and on every kind of broken or unusual answer: `fast_page`
returns None or the very page `parse_page` returns; it never accepts what `parse_page` refuses.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.avp.meterdata import parse_page
from connectors.avp.meterdata_fast import fast_page
from connectors.errors import ConnectorError, PermanentError, TruncatedPage

EIC = "38ZEE-00001234-7"
START = datetime(2025, 3, 29, 22, tzinfo=UTC)  # 2025-03-30 local: the spring DST day
END = START + timedelta(days=40)


def document(hourly: int = 10, quarter: int = 200, production_every: int = 4) -> dict[str, Any]:
    """Hourly then quarter-hourly intervals; some with production, some estimated, corrected later."""
    items, moment = [], START
    for number in range(hourly + quarter):
        item: dict[str, Any] = {"pS": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "outQty": {
            "kwh": f"{number * 7919 % 4000 / 1000:.3f}", "rType": "E" if number % 11 == 0 else "M",
            "rTime": (moment + timedelta(days=1 + number % 3)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
        if production_every and number % production_every == 0:
            item["inQty"] = {"kwh": "0.125", "rType": "M", "rTime": "2025-05-01T00:00:00Z"}
        items.append(item)
        moment += timedelta(hours=1) if number < hourly else timedelta(minutes=15)
    return {"meterEic": EIC, "pagination": {"page": 0, "totalPages": 1, "pageSize": 3000},
            "periods": [{"r": "PT1H", "aI": items[:hourly]}, {"r": "PT15M", "aI": items[hourly:]}]}


def encoded(doc: dict[str, Any]) -> bytes:
    """As the hub sends it: quantities as JSON numbers, written with exactly their decimal digits."""
    def numbers(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: Decimal(v) if k == "kwh" and isinstance(v, str) and v.lstrip("-")[:1].isdigit() else numbers(v)
                    for k, v in value.items()}
        return [numbers(v) for v in value] if isinstance(value, list) else value

    text = json.dumps(numbers(doc), default=lambda o: f"@@{o}@@")
    return text.replace('"@@', "").replace('@@"', "").encode()


def both(raw: bytes, page: int = 0, page_size: int = 3000) -> tuple[Any, Any]:
    fast = fast_page(raw, EIC, page, page_size, START, END)
    try:
        slow: Any = parse_page(json.loads(raw, parse_float=Decimal), EIC, page, page_size, START, END)
    except (ConnectorError, PermanentError, TruncatedPage, ValueError) as exc:
        slow = exc
    return fast, slow


def test_a_realistic_page_reads_the_same_both_ways() -> None:
    fast, slow = both(encoded(document()))
    assert fast is not None and not isinstance(slow, Exception)
    assert fast.rows == slow.rows and len(fast.rows) == 210 + 53
    assert (fast.intervals, fast.total_pages, fast.first_start) == (slow.intervals, slow.total_pages, slow.first_start)
    assert fast.rows.columns == slow.rows.columns


def test_a_page_without_any_production_reads_the_same_both_ways() -> None:
    """Most households: every `inQty` absent. Arrow's `all` over the empty column is null, not true."""
    fast, slow = both(encoded(document(production_every=0)))
    assert fast is not None and not isinstance(slow, Exception)
    assert fast.rows == slow.rows and len(fast.rows) == 210
    assert fast.rows.columns == slow.rows.columns


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


FIRST = ("periods", 1, "aI", 0)
BROKEN = {
    "another meter": _set(("meterEic",), "38ZEE-00009999-1"),
    "another page": _set(("pagination", "page"), 1),
    "no page count": _set(("pagination", "totalPages"), None),
    "page beyond the count": _set(("pagination", "totalPages"), 0),
    "start before the period": _set((*FIRST, "pS"), "2025-03-01T00:00:00Z"),
    "start out of order": _set((*FIRST, "pS"), "2025-03-29T22:00:00Z"),
    "start with an offset": _set(("periods", 0, "aI", 0, "pS"), "2025-03-30T00:00:00+02:00"),
    "start not a date": _set((*FIRST, "pS"), "yesterday at noon!!"),
    "start missing": _set((*FIRST, "pS"), KeyError),
    "unknown resolution": _set(("periods", 0, "r"), "PT5M"),
    "unknown reading type": _set((*FIRST, "outQty", "rType"), "X"),
    "negative kWh": _set((*FIRST, "outQty", "kwh"), "-0.001"),
    "kWh as text": _set((*FIRST, "outQty", "kwh"), "'0.5'"),
    "more decimals": _set((*FIRST, "outQty", "kwh"), "0.0435"),
    "an integer kWh": _set((*FIRST, "outQty", "kwh"), "7"),
    "huge kWh": _set((*FIRST, "outQty", "kwh"), "99999999999.000"),
    "no reading time": _set((*FIRST, "outQty", "rTime"), KeyError),
    "quantity not an object": _set((*FIRST, "outQty"), "lots"),
    "no periods": _set(("periods",), []),
    "periods not a list": _set(("periods",), {"r": "PT1H"}),
    "a period without intervals": _set(("periods", 0, "aI"), None),
}


@pytest.mark.parametrize("change", BROKEN.values(), ids=BROKEN.keys())
def test_the_fast_reading_declines_or_agrees_never_accepts_more(change: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(document())
    change(doc)
    raw = encoded(doc).replace(b"'0.5'", b'"0.5"')
    fast, slow = both(raw)
    if isinstance(slow, Exception):
        assert fast is None
    else:
        assert fast is None or (fast.rows == slow.rows and fast.intervals == slow.intervals)


def test_a_short_page_before_the_last_and_an_oversized_page_are_left_to_parse_page() -> None:
    raw = encoded(document())
    assert both(raw, page_size=300)[0] is None or both(raw, page_size=300)[1] is not None
    short = json.loads(raw)
    short["pagination"]["totalPages"] = 2
    fast, slow = both(json.dumps(short).encode())
    assert fast is None and isinstance(slow, TruncatedPage)
    fast, slow = both(raw, page_size=100)
    assert fast is None and isinstance(slow, PermanentError)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b" null\n", b"5", b'{"meterEic": 5}', b"\xff\xfe",
                                 b'{"meterEic": "38ZEE-00001234-7", "meterEic": "38ZEE-00001234-7"}', b"{} {}",
                                 b'{"meterEic": "\xff"}'])
def test_answers_that_are_not_a_page_are_left_to_parse_page(raw: bytes) -> None:
    assert fast_page(raw, EIC, 0, 3000, START, END) is None
