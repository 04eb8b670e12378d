"""The ticket's own id (checked strictly) and the opaque internal request id derived from it.

Why two ids: the ticket system's ``subject_request_id`` is chosen by someone else and may carry
personal data (a helpdesk may number tickets by phone number or personal code). The internal id
becomes a Dagster partition key, a file name, an S3 prefix and an audit-trail key, all of which
are kept for a long time and shown to operators. It is therefore derived with a keyed hash
(HMAC-SHA256 under ``DSAR_REQUEST_ID_KEY``): deterministic, so the same ticket maps to the same
run (the sensor deduplicates on it), but without the key nobody can test guesses such as
"is this the request of personal code X?".

Format: ``r-`` + 26 lowercase Crockford base32 characters (130 bits). It contains only
``[0-9a-z-]``, which is safe in Dagster partition keys, file names, URLs and S3 keys.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SUBJECT_REQUEST_ID_MAX = 64
_SUBJECT_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
REQUEST_ID_RE = re.compile(r"^r-[0-9a-hjkmnp-tv-z]{26}$")


def check_subject_request_id(value: str) -> str:
    """Return the id unchanged if it is safe, else raise ``ValueError`` without echoing it.

    Allowed: 1-64 ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit,
    and no ``..``. That rules out path separators, traversal, whitespace, quotes and shell or SQL
    metacharacters, while accepting UUIDs and the usual helpdesk ticket numbers.
    """
    if not value:
        raise ValueError("must not be empty")
    if len(value) > SUBJECT_REQUEST_ID_MAX:
        raise ValueError(f"longer than {SUBJECT_REQUEST_ID_MAX} characters")
    if "/" in value or "\\" in value:
        raise ValueError("must not contain path separators")
    if ".." in value:
        raise ValueError("must not contain '..'")
    if not _SUBJECT_REQUEST_ID_RE.fullmatch(value) or not value.isascii():
        raise ValueError("only ASCII letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit")
    return value


def _base32_crockford(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    bits = len(data) * 8
    chars = []
    for i in range(length):
        shift = bits - 5 * (i + 1)
        chars.append(_CROCKFORD[(number >> shift) & 0x1F])
    return "".join(chars)


def derive_request_id(controller_id: str, subject_request_id: str, key: bytes) -> str:
    """The opaque internal id for a ticket of one controller (same inputs and key -> same id)."""
    if not key:
        raise ValueError("a non-empty key is required")
    message = b"dsar-request-id/v1\x00" + controller_id.encode() + b"\x00" + subject_request_id.encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "r-" + _base32_crockford(digest, 26)


def is_request_id(value: str) -> bool:
    """True for a well-formed internal request id (for checking ids coming back from storage)."""
    return bool(REQUEST_ID_RE.fullmatch(value))


__all__ = [
    "REQUEST_ID_RE",
    "SUBJECT_REQUEST_ID_MAX",
    "check_subject_request_id",
    "derive_request_id",
    "is_request_id",
]
