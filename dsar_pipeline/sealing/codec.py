"""Step outputs as data, never as code: the format of every object in the work store.

Why not pickle: opening a pickle runs whatever the pickle says. Anyone who could write to the work
bucket and obtain a data key would get code run in every worker that opens the object. This codec
only ever builds data: JSON values, byte buffers, and instances of the pipeline's own dataclasses
and enums, whose fields are set directly (`object.__setattr__` on an instance made with
`cls.__new__`), so no constructor, `__post_init__` or other method of the stored type runs.

Layout: `MAGIC`, the JSON document's length (4 bytes, big-endian), the JSON document (UTF-8), then
each byte buffer as its length (8 bytes, big-endian) and its bytes. In the JSON, an object with a
single key starting with `$` is a tagged value (table in `_encode`); plain dicts never have such a
key (a dict that would is written as `{"$dict": [[key, value], ...]}`).

Types are named `module:qualname` and resolved only inside `TYPE_PACKAGES`; anything else, or a
name that is not a dataclass or enum there, is refused (`CodecError`), before any object is built.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import math
import struct
from array import array
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from connectors.series import IntervalRows, SeriesColumns

MAGIC = b"DSAR-DATA/1\n"
TYPE_PACKAGES = ("assets", "connectors", "dsar_pipeline")
"""The only packages whose dataclasses and enums a stored object may name."""
_LENGTH = struct.Struct(">I")
_BUFFER_LENGTH = struct.Struct(">Q")
_MAX_DEPTH = 200


class CodecError(ValueError):
    """The bytes are not an object this codec wrote, or name a type it may not build."""


def dumps(value: Any) -> bytes:
    """`value` as bytes (see the module docstring); TypeError names a type the codec does not know."""
    buffers: list[bytes] = []
    document = json.dumps(_encode(value, buffers, 0), ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
    parts = [MAGIC, _LENGTH.pack(len(document)), document]
    for buffer in buffers:
        parts += [_BUFFER_LENGTH.pack(len(buffer)), buffer]
    return b"".join(parts)


def loads(data: bytes) -> Any:
    """The value `dumps` wrote; CodecError for anything else (never a partial object)."""
    view = memoryview(data)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise CodecError("not a stored step output (unknown format: pickles and other formats are refused)")
    offset = len(MAGIC)
    (length,) = _unpack(_LENGTH, view, offset)
    offset += _LENGTH.size
    if offset + length > len(view):
        raise CodecError("stored step output cut short")
    try:
        document = json.loads(bytes(view[offset:offset + length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"stored step output unreadable ({type(exc).__name__})") from None
    offset += length
    buffers = []
    while offset < len(view):
        (size,) = _unpack(_BUFFER_LENGTH, view, offset)
        offset += _BUFFER_LENGTH.size
        if offset + size > len(view):
            raise CodecError("stored step output cut short")
        buffers.append(bytes(view[offset:offset + size]))
        offset += size
    return _decode(document, buffers, 0)


def _unpack(layout: struct.Struct, view: memoryview, offset: int) -> tuple[int, ...]:
    if offset + layout.size > len(view):
        raise CodecError("stored step output cut short")
    return layout.unpack_from(view, offset)


def type_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _encode(value: Any, buffers: list[bytes], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise TypeError("step output nested too deeply to store")
    deeper = depth + 1
    if isinstance(value, enum.Enum):  # first: StrEnum and IntEnum members are strs and ints too
        return {"$enum": type_name(type(value)), "value": _encode(value.value, buffers, deeper)}
    if value is None or type(value) in (bool, str, int):
        return value
    if isinstance(value, str | int):  # a subclass of str or int (not an enum) would come back as its base
        raise TypeError(f"cannot store a {type_name(type(value))} as data")
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, list):
        return [_encode(item, buffers, deeper) for item in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"$tuple": [_encode(item, buffers, deeper) for item in value]}
    if isinstance(value, dict | MappingProxyType):
        tag = "$dict" if isinstance(value, dict) else "$mappingproxy"
        if tag == "$dict" and all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, buffers, deeper) for k, v in value.items()}
        return {tag: [[_encode(k, buffers, deeper), _encode(v, buffers, deeper)] for k, v in value.items()]}
    if isinstance(value, bytes | bytearray | memoryview):
        buffers.append(bytes(value))
        return {"$bytes": len(buffers) - 1, "kind": type(value).__name__}
    if isinstance(value, array):
        buffers.append(value.tobytes())
        return {"$array": value.typecode, "buffer": len(buffers) - 1}
    if isinstance(value, IntervalRows):
        return {"$interval_rows": _encode(value.columns, buffers, deeper)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name), buffers, deeper) for f in dataclasses.fields(value)}
        return {"$dataclass": type_name(type(value)), "fields": fields}
    if isinstance(value, set | frozenset):
        tag = "$set" if isinstance(value, set) else "$frozenset"
        return {tag: [_encode(item, buffers, deeper) for item in value]}
    if isinstance(value, datetime):  # before date: a datetime is a date
        if isinstance(value.tzinfo, ZoneInfo):  # wall time, zone and fold: exact even in a DST gap or overlap
            return {"$datetime": value.replace(tzinfo=None).isoformat(), "zone": value.tzinfo.key, "fold": value.fold}
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, PurePosixPath | PureWindowsPath):
        return {"$path": str(value)}
    raise TypeError(f"cannot store a {type_name(type(value))} as data")


def _decode(value: Any, buffers: list[bytes], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise CodecError("stored step output nested too deeply")
    deeper = depth + 1
    if isinstance(value, list):
        return [_decode(item, buffers, deeper) for item in value]
    if not isinstance(value, dict):
        return value
    tag = next(iter(value), None)
    if tag is None or not tag.startswith("$"):
        return {k: _decode(v, buffers, deeper) for k, v in value.items()}
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise CodecError(f"stored step output holds an unknown tag {tag[:40]!r}")
    try:
        return decoder(value, lambda item: _decode(item, buffers, deeper), buffers)
    except CodecError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CodecError(f"stored step output malformed at a {tag} ({type(exc).__name__})") from None


Decode = Callable[[Any], Any]


def _buffer(value: dict[str, Any], buffers: list[bytes]) -> bytes:
    index = value["$bytes"] if "$bytes" in value else value["buffer"]
    if not isinstance(index, int) or not 0 <= index < len(buffers):
        raise CodecError("stored step output refers to a missing buffer")
    return buffers[index]


def _bytes(value: dict[str, Any], _: Decode, buffers: list[bytes]) -> Any:
    data = _buffer(value, buffers)
    kind = value.get("kind", "bytes")
    return bytearray(data) if kind == "bytearray" else memoryview(data) if kind == "memoryview" else data


def _array(value: dict[str, Any], _: Decode, buffers: list[bytes]) -> array:
    typecode = value["$array"]
    if typecode not in "bBhHiIlLqQfd" or len(typecode) != 1:
        raise CodecError("stored step output holds an unknown array type")
    result = array(typecode)
    result.frombytes(_buffer(value, buffers))
    return result


def _dataclass(value: dict[str, Any], decode: Decode, _: list[bytes]) -> Any:
    cls = resolve_type(value["$dataclass"], dataclass_type=True)
    names = {f.name for f in dataclasses.fields(cls)}
    fields = value["fields"]
    if not isinstance(fields, dict) or set(fields) != names:
        raise CodecError(f"stored {cls.__qualname__} does not have that type's fields")
    instance = cls.__new__(cls)
    for name, item in fields.items():
        object.__setattr__(instance, name, decode(item))
    return instance


def _enum(value: dict[str, Any], decode: Decode, _: list[bytes]) -> Any:
    return resolve_type(value["$enum"], dataclass_type=False)(decode(value["value"]))


def _datetime(value: dict[str, Any], _: Decode, __: list[bytes]) -> datetime:
    moment = datetime.fromisoformat(_checked(value["$datetime"], str))
    if "zone" not in value:
        return moment
    return moment.replace(tzinfo=ZoneInfo(_checked(value["zone"], str)), fold=_checked(value["fold"], int))


def _pairs(value: list[Any], decode: Decode) -> dict[Any, Any]:
    return {decode(k): decode(v) for k, v in value}


_DECODERS: dict[str, Callable[[dict[str, Any], Decode, list[bytes]], Any]] = {
    "$tuple": lambda v, d, _: tuple(d(item) for item in v["$tuple"]),
    "$dict": lambda v, d, _: _pairs(v["$dict"], d),
    "$mappingproxy": lambda v, d, _: MappingProxyType(_pairs(v["$mappingproxy"], d)),
    "$set": lambda v, d, _: {d(item) for item in v["$set"]},
    "$frozenset": lambda v, d, _: frozenset(d(item) for item in v["$frozenset"]),
    "$float": lambda v, _, __: float({"nan": "nan", "inf": "inf", "-inf": "-inf"}[v["$float"]]),
    "$bytes": _bytes,
    "$array": _array,
    "$interval_rows": lambda v, d, _: IntervalRows(_checked(d(v["$interval_rows"]), SeriesColumns)),
    "$dataclass": _dataclass,
    "$enum": _enum,
    "$datetime": _datetime,
    "$date": lambda v, _, __: date.fromisoformat(v["$date"]),
    "$time": lambda v, _, __: time.fromisoformat(v["$time"]),
    "$timedelta": lambda v, _, __: timedelta(*(_checked(n, int) for n in v["$timedelta"])),
    "$decimal": lambda v, _, __: Decimal(_checked(v["$decimal"], str)),
    "$path": lambda v, _, __: Path(_checked(v["$path"], str)),
}


def _checked(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise CodecError(f"stored step output holds another type where a {kind.__name__} belongs")
    return value


def resolve_type(name: Any, *, dataclass_type: bool) -> type:
    """The dataclass (or enum) `module:qualname` names, only inside `TYPE_PACKAGES`."""
    if not isinstance(name, str) or name.count(":") != 1:
        raise CodecError("stored step output names a type badly")
    module_name, qualname = name.split(":")
    if module_name.split(".")[0] not in TYPE_PACKAGES or not all(
            part.isidentifier() for part in [*module_name.split("."), *qualname.split(".")]):
        raise CodecError(f"stored step output names a type outside the pipeline ({name[:80]})")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        raise CodecError(f"stored step output names an unknown type ({name[:80]})") from None
    wanted = (isinstance(found, type) and dataclasses.is_dataclass(found)) if dataclass_type else (
        isinstance(found, type) and issubclass(found, enum.Enum))
    if not wanted:
        raise CodecError(f"stored step output names a type that is not a {'dataclass' if dataclass_type else 'enum'}"
                         f" ({name[:80]})")
    return found
