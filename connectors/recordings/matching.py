"""Finding a person's calls in the month indexes: which identifiers match an index line.

S3 has no query, so matching happens here, on the index's own values, by exact comparison: the
caller number (E.164, as `Identifier` normalises phones) and the billing customer id. Identifier
values are never parsed or sent anywhere, so SQL, URL or path metacharacters in them can only fail
to match. A phone match alone is weak (households share phones); the strength of each match is the
identifier's own, so a call another customer id was recorded on is phone-matched only, and weak.

A month index of a large call centre holds ~100k lines; most are skipped before JSON parsing by a
byte search for the wanted values (digits and `+` are never escaped in JSON, so no match is lost).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.errors import PermanentError
from connectors.identity import Identifier, IdentityType

ACCEPTS = frozenset({IdentityType.PHONE, IdentityType.CUSTOMER_ID})


@dataclass(frozen=True, repr=False)
class Hit:
    """A call an index line matched, with the keys of its objects and every identifier that found it."""

    call_id: str
    metadata_key: str
    audio_key: str | None
    matched_by: tuple[Identifier, ...]

    def __repr__(self) -> str:  # identifiers' values and call ids stay out of logs and tracebacks
        return f"Hit(matched by {', '.join(i.label() for i in self.matched_by)})"


class Wanted:
    """The subject's accepted identifiers by value, each (type, value) once, strongest path kept."""

    def __init__(self, identifiers: Iterable[Identifier]) -> None:
        self.by_type: dict[IdentityType, dict[str, Identifier]] = {kind: {} for kind in ACCEPTS}
        for identifier in identifiers:
            if identifier.type not in ACCEPTS:
                continue
            known = self.by_type[identifier.type].get(identifier.value)
            if known is None or identifier.outranks(known):
                self.by_type[identifier.type][identifier.value] = identifier

        self.tokens = tuple({value.encode() for values in self.by_type.values() for value in values if value})

    def __bool__(self) -> bool:
        return any(self.by_type.values())

    def matching(self, caller_number: Any, customer_id: Any) -> tuple[Identifier, ...]:
        """The identifiers naming this caller number or this customer id (none for absent values)."""
        found: list[Identifier] = []
        if isinstance(caller_number, str) and caller_number:
            phone = self.by_type[IdentityType.PHONE].get(caller_number)
            found += [phone] if phone else []
        if customer_id is not None and not isinstance(customer_id, bool):
            customer = self.by_type[IdentityType.CUSTOMER_ID].get(str(customer_id))
            found += [customer] if customer else []
        return tuple(found)


def match_line(raw: bytes, number: int, wanted: Wanted) -> Hit | None:
    """The hit an index line (`raw`, the `number`th) makes, or None; a malformed candidate line is a failure."""
    if not any(token in raw for token in wanted.tokens):
        return None
    try:
        line: Mapping[str, Any] = json.loads(raw)
    except ValueError:
        raise PermanentError(f"index line {number} is not JSON") from None
    if not isinstance(line, dict):
        raise PermanentError(f"index line {number} is not a JSON object")
    matched_by = wanted.matching(line.get("caller_number"), line.get("customer_id"))
    if not matched_by:
        return None
    call_id, metadata_key, audio_key = line.get("call_id"), line.get("metadata_key"), line.get("audio_key")
    if not isinstance(call_id, str) or not call_id:
        raise PermanentError(f"index line {number} has no call_id")
    if not isinstance(metadata_key, str) or not metadata_key.startswith("metadata/"):
        raise PermanentError(f"index line {number} has no metadata_key under metadata/")
    if audio_key is not None and (not isinstance(audio_key, str) or not audio_key.startswith("audio/")):
        raise PermanentError(f"index line {number} has an audio_key outside audio/")
    return Hit(call_id, metadata_key, audio_key, matched_by)
