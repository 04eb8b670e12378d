"""The work store's object format builds data only: what an attacker who can write an object (and seal it
with a data key) can make a worker build is refused before anything but plain data exists."""

from __future__ import annotations

import os
import pickle
import struct
from array import array
from collections import namedtuple
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from assets.batching import StepFailed
from connectors.contract import Attachment, Record
from connectors.identity import Identifier, IdentityType, Strength
from connectors.series import IntervalRows, SeriesColumns
from dsar_pipeline.package.handoff import StoredPackage
from dsar_pipeline.sealing import codec


def _columns() -> SeriesColumns:
    return SeriesColumns(starts=array("q", [1_700_000_000, 1_700_000_900]), readings=array("q", [0, 0]),
                         amounts=array("q", [43, 435]), scales=bytes([3, 4]), resolutions=bytes([0, 0]),
                         directions=bytes([0, 1]), qualities=bytes([0, 1]))


def test_every_kind_of_step_output_value_comes_back_equal() -> None:
    record = Record(system="billing", source="invoices", key="7", fields={"total": Decimal("12.30"), "n": None},
                    categories={"total": "user.financial"},
                    matched_by=(Identifier(IdentityType.EMAIL, "a@example.com", Strength.STRONG),),
                    retrieved_at=datetime(2026, 12, 6, 3, 0, tzinfo=UTC),
                    attachment=Attachment("s3://b/k", 10, "audio/wav"), event_date=date(2026, 1, 2),
                    parent=("contracts", "3"))
    value = {
        "record": record, "failed": StepFailed("billing_records", "TimeoutError"), "enum": Strength.WEAK,
        "tuple": (1, "x", None), "nested": [{"$not-a-tag": 1}, {2: "int key"}], "bytes": b"\x00\xff",
        "nan": float("nan"), "inf": float("-inf"), "set": {1, 2}, "frozen": frozenset({"a"}),
        "proxy": MappingProxyType({"k": 1}), "when": datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Tallinn")),
        "naive": datetime(2026, 1, 1, 12, 0), "time": time(4, 5), "delta": timedelta(days=2, seconds=3),
        "path": Path("/tmp/x"), "rows": IntervalRows(_columns()),
        "package": StoredPackage("r/package/response.zip.sealed", None, 10, "ab" * 32, 3, True, "cd" * 32, "K7QM"),
    }
    back = codec.loads(codec.dumps(value))
    assert back["record"] == record and type(back["record"].matched_by[0].type) is IdentityType
    assert back["failed"] == value["failed"] and back["enum"] is Strength.WEAK
    assert back["tuple"] == (1, "x", None) and back["nested"] == [{"$not-a-tag": 1}, {2: "int key"}]
    assert back["bytes"] == b"\x00\xff" and back["nan"] != back["nan"] and back["inf"] == float("-inf")
    assert back["set"] == {1, 2} and back["frozen"] == frozenset({"a"}) and back["proxy"] == {"k": 1}
    assert back["when"] == value["when"] and back["when"].tzinfo == ZoneInfo("Europe/Tallinn")
    assert back["naive"] == value["naive"] and back["time"] == time(4, 5) and back["delta"] == value["delta"]
    assert back["path"] == Path("/tmp/x") and list(back["rows"]) == list(value["rows"])
    assert back["package"] == value["package"] and "K7QM" not in repr(back["package"])


def test_a_pickle_is_refused_unopened_even_one_that_would_run_code(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):  # what an attacker's object does when unpickled
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    with pytest.raises(codec.CodecError, match="pickles and other formats are refused"):
        codec.loads(pickle.dumps(Payload()))
    assert not (tmp_path / "ran").exists()


def _crafted(document: str, buffers: tuple[bytes, ...] = ()) -> bytes:
    body = document.encode()
    tail = b"".join(struct.pack(">Q", len(b)) + b for b in buffers)
    return codec.MAGIC + struct.pack(">I", len(body)) + body + tail


@pytest.mark.parametrize(("document", "refusal"), [
    ('{"$dataclass": "subprocess:Popen", "fields": {}}', "outside the pipeline"),
    ('{"$dataclass": "os:system", "fields": {}}', "outside the pipeline"),
    ('{"$enum": "builtins:object", "value": 1}', "outside the pipeline"),
    ('{"$dataclass": "dsar_pipeline.sealing.codec:CodecError", "fields": {}}', "not a dataclass"),
    ('{"$dataclass": "dsar_pipeline.sealing.codec:dumps", "fields": {}}', "not a dataclass"),
    ('{"$dataclass": "dsar_pipeline.nothing_here:Thing", "fields": {}}', "unknown type"),
    ('{"$dataclass": "assets.batching:StepFailed.__init__.__globals__", "fields": {}}', "unknown type|not a"),
    ('{"$dataclass": "assets.batching:StepFailed", "fields": {"step": "x"}}', "fields"),
    ('{"$dataclass": "assets.batching:StepFailed", "fields": {"step": "x", "error": "y", "__class__": 1}}',
     "fields"),
    ('{"$dataclass": "assets..batching:StepFailed", "fields": {}}', "outside the pipeline"),
    ('{"$reduce": ["os:system", ["id"]]}', "unknown tag"),
    ('{"$bytes": 3}', "missing buffer"),
    ('{"$array": "O", "buffer": 0}', "unknown array type"),
    ('{"$decimal": 5}', "another type"),
    ('{"$tuple": 5}', "malformed"),
])
def test_crafted_objects_name_nothing_outside_the_pipelines_own_data_types(document: str, refusal: str) -> None:
    with pytest.raises(codec.CodecError, match=refusal):
        codec.loads(_crafted(document, (b"xx",) if "$array" in document else ()))


def test_cut_or_garbled_objects_are_refused_whole() -> None:
    data = codec.dumps({"a": b"1234" * 100, "b": [1, 2, 3]})
    for cut in (len(codec.MAGIC) + 2, len(data) - 1, len(data) - 300):
        with pytest.raises(codec.CodecError, match="cut short"):
            codec.loads(data[:cut])
    with pytest.raises(codec.CodecError, match="unreadable"):
        codec.loads(_crafted("{not json"))
    with pytest.raises(codec.CodecError, match="too deeply"):
        codec.loads(_crafted("[" * 300 + "]" * 300))


def test_a_type_the_codec_does_not_know_is_a_programming_error_when_storing() -> None:
    Point = namedtuple("Point", "x y")
    for value in (Point(1, 2), object(), IdentityTypeLike("x")):
        with pytest.raises(TypeError, match="cannot store"):
            codec.dumps({"value": value})


class IdentityTypeLike(str):
    """A str subclass that is no enum: it would come back as a plain str, so it is refused."""

    __slots__ = ()
