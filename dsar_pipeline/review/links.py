"""Short-lived links to a request's review bundle, and the desk's check of them.

A link names the opaque request id, the SHA-256 of the sealed bundle it shows, and when it expires,
signed with HMAC-SHA256 under a key derived from `DSAR_REQUEST_ID_KEY` (no new secret to manage).
Dagster keeps the link in its metadata, so it must not open anything on its own for long: it expires
(`DSAR_REVIEW_LINK_SECONDS`, a working day by default) and the worklist, refreshed at least hourly,
always carries fresh ones. In production the desk also requires the DPO signed in through the SSO
proxy, so a leaked link alone opens nothing. A link whose bundle has since been rebuilt is refused:
the DPO would otherwise decide on what they were not shown.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from dsar_pipeline.intake.request_ids import REQUEST_ID_RE as REQUEST_ID
from dsar_pipeline.settings import request_id_key

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LinkRefused(ValueError):
    """A review link that must not open: the message is safe to show (names no value)."""


def _key() -> bytes:
    return hmac.new(request_id_key(), b"dsar review desk links v1", hashlib.sha256).digest()


def _signature(purpose: str, request_id: str, bundle_sha256: str, expires: int) -> str:
    message = f"{purpose}\n{request_id}\n{bundle_sha256}\n{expires}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ReviewLink:
    request_id: str
    bundle_sha256: str
    expires: int  # Unix seconds

    def query(self, purpose: str = "open") -> str:
        sig = _signature(purpose, self.request_id, self.bundle_sha256, self.expires)
        return f"sha={self.bundle_sha256}&exp={self.expires}&sig={sig}"

    def url(self, desk_url: str) -> str:
        return f"{desk_url.rstrip('/')}/review/{quote(self.request_id)}?{self.query()}"


def issue_link(request_id: str, bundle_sha256: str, lifetime_s: int, now: float | None = None) -> ReviewLink:
    """A link valid for `lifetime_s` seconds from `now`."""
    if not REQUEST_ID.fullmatch(request_id) or not SHA256.fullmatch(bundle_sha256):
        raise LinkRefused("a review link needs an opaque request id and the bundle's SHA-256")
    if lifetime_s <= 0:
        raise LinkRefused("DSAR_REVIEW_LINK_SECONDS must be positive")
    return ReviewLink(request_id, bundle_sha256, int((now if now is not None else time.time()) + lifetime_s))


def check_link(request_id: str, query: str, purpose: str = "open", now: float | None = None) -> ReviewLink:
    """The link's facts when its signature holds for `purpose` and it has not expired; else LinkRefused."""
    if not REQUEST_ID.fullmatch(request_id):
        raise LinkRefused("not a request id")
    fields = {key: values[-1] for key, values in parse_qs(query, strict_parsing=False).items()}
    sha, exp, sig = fields.get("sha", ""), fields.get("exp", ""), fields.get("sig", "")
    if not SHA256.fullmatch(sha) or not exp.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", sig):
        raise LinkRefused("the link is incomplete")
    if not hmac.compare_digest(sig, _signature(purpose, request_id, sha, int(exp))):
        raise LinkRefused("the link's signature does not hold")
    if int(exp) < (now if now is not None else time.time()):
        raise LinkRefused("the link has expired: open the request again from the worklist")
    return ReviewLink(request_id, sha, int(exp))


def request_of_path(path: str) -> str:
    """The request id of a desk path `/review/<id>` (or `/decide/<id>`), '' when it is not one."""
    parts = urlsplit(path).path.strip("/").split("/")
    return parts[1] if len(parts) == 2 and REQUEST_ID.fullmatch(parts[1]) else ""
