"""A defensive JSON decoder for tickets that arrive from outside (web form, helpdesk, e-mail).

Why not plain ``json.loads``: it silently keeps the last of duplicate keys (two different
``identity_value``s, only one of which a reviewer would see), accepts NaN and Infinity, lone
surrogates and arbitrarily large numbers, and gives up on deep nesting with a RecursionError.
Each of those is refused here with one line that names the place, never the value.

The limits are sized for a ticket: a few kilobytes of JSON, plus at most one base64 signed
container (the digitally signed request) that may be up to a few megabytes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from .errors import TicketError

MAX_TICKET_BYTES = 256 * 1024
"""The ticket itself, not counting the base64 signed container."""

MAX_CONTAINER_BYTES = 5 * 1024 * 1024
"""A signed container (ASiC-E / BDOC / .edoc) after base64 decoding."""

MAX_CONTAINER_BASE64_CHARS = 4 * ((MAX_CONTAINER_BYTES + 2) // 3)
MAX_RAW_BYTES = MAX_TICKET_BYTES + MAX_CONTAINER_BASE64_CHARS
"""Hard cap on the raw input, checked before anything is decoded."""

MAX_DEPTH = 6
MAX_STRING_CHARS = 2048
MAX_KEYS_PER_OBJECT = 32
MAX_ITEMS_PER_ARRAY = 32
MAX_NUMBER_CHARS = 20

CONTAINER_PATH: tuple[str, ...] = ("extensions", "verification_evidence", "container")
"""The one place where a long string (the base64 container) is allowed."""

_SAFE_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
# C0 controls (tab, CR and LF included: no ticket field needs them), DEL, C1 controls,
# and the bidirectional overrides/isolates used to disguise text ("Trojan Source").
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

PathPart = str | int


def describe_key(key: str) -> str:
    """Show a JSON key in an error only when it looks like a field name, never like data."""
    return key if _SAFE_KEY.fullmatch(key) else "<key>"


def format_path(path: tuple[PathPart, ...] | list[PathPart]) -> str:
    """``("subject_identities", 0, "identity_value")`` -> ``subject_identities[0].identity_value``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + describe_key(part)
    return out or "ticket"


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NumberError(ValueError):
    pass


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberError(text)
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberError(text)
    value = float(text)
    if not math.isfinite(value):  # 1e400 overflows to infinity
        raise _NumberError(text)
    return value


def _parse_constant(text: str) -> Any:
    raise _NumberError(text)


def _check_encoding(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TicketError("ticket is UTF-16 encoded; send UTF-8 JSON")
    if b"\x00" in raw:
        raise TicketError("ticket contains NUL bytes (not UTF-8 JSON; UTF-16/32 encoded?)")
    if raw.startswith(b"\xef\xbb\xbf"):
        raise TicketError("ticket starts with a byte order mark; send UTF-8 JSON without BOM")
    try:
        return raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise TicketError(
            f"ticket is not valid UTF-8 (first bad byte at offset {exc.start}; Latin-1 or another encoding?)"
        ) from None


def _walk(document: Any) -> Iterator[tuple[tuple[PathPart, ...], Any]]:
    """Yield (path, value) for every node, iteratively so depth never hits the recursion limit."""
    stack: list[tuple[tuple[PathPart, ...], Any]] = [((), document)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node))))


def _check_tree(document: Any, raw_size: int) -> None:
    container_chars = 0
    for path, node in _walk(document):
        where = format_path(path)
        if len(path) > MAX_DEPTH:
            raise TicketError(f"nesting deeper than {MAX_DEPTH} levels", field=where)
        if isinstance(node, dict):
            if len(node) > MAX_KEYS_PER_OBJECT:
                raise TicketError(f"object has more than {MAX_KEYS_PER_OBJECT} keys", field=where)
            for key in node:
                if len(key) > 64 or _FORBIDDEN_CHARS.search(key):
                    raise TicketError("object key is too long or contains control characters", field=where)
        elif isinstance(node, list):
            if len(node) > MAX_ITEMS_PER_ARRAY:
                raise TicketError(f"array has more than {MAX_ITEMS_PER_ARRAY} items", field=where)
        elif isinstance(node, str):
            limit = MAX_CONTAINER_BASE64_CHARS if path == CONTAINER_PATH else MAX_STRING_CHARS
            if len(node) > limit:
                raise TicketError(f"string is too long (more than {limit} characters)", field=where)
            if path == CONTAINER_PATH:
                container_chars = len(node)
            if _FORBIDDEN_CHARS.search(node):
                raise TicketError("contains control or bidirectional-override characters", field=where)
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise TicketError("contains an unpaired surrogate escape", field=where) from None
    if raw_size - container_chars > MAX_TICKET_BYTES:
        raise TicketError(f"ticket is larger than {MAX_TICKET_BYTES // 1024} KiB (not counting the container)")


def load_ticket_json(raw: bytes) -> dict[str, Any]:
    """Decode raw ticket bytes into a dict, or raise :class:`TicketError` with a one-line reason."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TicketError("ticket must be given as bytes")
    raw = bytes(raw)
    if len(raw) > MAX_RAW_BYTES:
        raise TicketError(f"ticket is larger than {MAX_RAW_BYTES // 1024} KiB")
    if not raw.strip():
        raise TicketError("ticket is empty")
    text = _check_encoding(raw)
    try:
        document = json.loads(
            text,
            object_pairs_hook=_pairs_hook,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except _DuplicateKeyError as exc:
        raise TicketError(f"duplicate key {describe_key(exc.key)!r} in a JSON object") from None
    except _NumberError:
        raise TicketError("number is too long or not finite (NaN/Infinity are not JSON)") from None
    except RecursionError:
        raise TicketError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise TicketError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(document, dict):
        raise TicketError("ticket must be a JSON object")
    _check_tree(document, len(raw))
    return document


__all__ = [
    "CONTAINER_PATH",
    "MAX_CONTAINER_BYTES",
    "MAX_DEPTH",
    "MAX_RAW_BYTES",
    "MAX_STRING_CHARS",
    "MAX_TICKET_BYTES",
    "describe_key",
    "format_path",
    "load_ticket_json",
]
