"""Self-service portal — back-office REST API v1 (simulated; the retailer's customer web portal).

JSON over HTTP/1.1, UTF-8. Base URL = the service root (e.g. `http://127.0.0.1:18702`); every path
below starts with `/api/v1`.

Authentication
--------------
One static API key per client, in the header `Authorization: ApiKey <key>` (the only accepted
form; no query parameter, no `X-Api-Key`). Missing, malformed or wrong key: 401 `unauthorized`
with `WWW-Authenticate: ApiKey realm="portal"`.

Resources (all `GET`)
---------------------
- `/api/v1/users?username=U` | `?email=E` | `?phone=P` | `?personal_code=C` | `?customer_id=N` —
  look-up; exactly one filter, given once, non-empty, at most 320 characters (else 400
  `invalid_request`). `username`: exact, case-insensitive (usernames are lower-case ASCII).
  `email`: exact address, case-insensitive. `phone`: E.164 exactly (`+` and 7–15 digits, no spaces;
  URL-encode the plus as `%2B`), else 400. `personal_code`: exactly as stored — Estonian isikukood
  11 digits (`38001085718`), Latvian personas kods with its hyphen (`010180-12345`); only users who
  ever logged in with an eID (Smart-ID, ID card, Mobile-ID) have one. `customer_id`: the electricity
  customer number (digits only, else 400). No match is 200 with an empty `items` list, not 404.
  One phone can match several users (households share phones). The answer is a page (below).
- `/api/v1/users/{username}` — one user object (not wrapped); 404 `not_found` when unknown.
- `/api/v1/users/{username}/logins` | `/consents` | `/cookie-consents` | `/messages` | `/documents` —
  that user's records, paginated; 404 `not_found` when the user is unknown.

Objects (datetimes ISO 8601 in UTC with a `Z` suffix; absent values are `null`)
- user: `username`, `email`, `phone` (E.164 or null), `personal_code` (or null), `customer_id`
  (integer or null: users who are not customers), `language` (`et` | `lv` | `ru` | `en`), `created_at`
- login: `id`, `at`, `ip`, `user_agent`, `method` (`password` | `smart-id` | `id-card` | `mobile-id`), `success`
- consent (marketing preferences): `id`, `purpose`, `channel` (`email` | `sms`), `granted`, `recorded_at`
- cookie consent: `id`, `consent_id` (UUID stored in the visitor's cookie), `recorded_at`,
  `categories` (list of `necessary` | `analytics` | `marketing`), `ip`
- message (sent in the portal's inbox): `id`, `sent_at`, `direction` (`from_customer` | `to_customer`),
  `subject`, `body`
- document (metadata only): `id`, `title`, `kind`, `created_at`, `size_bytes`

Pagination (every list, look-ups included): page numbers
--------------------------------------------------------
`?page=P` (integer ≥ 1, default 1) `&per_page=N` (integer 1..max_page_size, 100 by default;
default 25 or max_page_size if smaller) → `{"items": [...], "page": P, "per_page": N, "total": T,
"total_pages": ceil(T / N)}` (`total_pages` is 0 for an empty list). A page past the end is 200
with empty `items`. Every page but the last holds exactly `per_page` items, so a page with fewer
items than `min(per_page, total - (page - 1) * per_page)` is a damaged answer: fetch it again.
Order: oldest first by the record's own time (`at`, `recorded_at`, `sent_at`, `created_at`), then
`id`; stable across calls. Bad `page` or `per_page` (not an integer, out of range): 400 `invalid_request`.

Rate limit
----------
The portal API sets no quota of its own, but the operator's edge may answer 429 with
`Retry-After: <seconds>` (wait that long, then retry), or 502/503/504 (retry with backoff).

Errors
------
Always JSON `{"error": "<code>", "message": "<text>"}` — 400 `invalid_request`, 401 `unauthorized`,
404 `not_found`, 405 `method_not_allowed`, 500 `internal_error`. (Errors from the edge carry
`{"error": "<text>"}` only.) Every answer has `Cache-Control: no-store`. The server never logs
URLs, query strings or bodies: they carry personal data.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.population import Population
from sandbox.portal.store import LOOKUPS, SUB_RESOURCES, Json, PortalStore

log = logging.getLogger(__name__)

DEFAULT_PER_PAGE = 25
MAX_FILTER_LENGTH = 320
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
CHALLENGE = {"WWW-Authenticate": 'ApiKey realm="portal"'}


@dataclass
class PortalConfig:
    api_key: str
    max_page_size: int = 100


@dataclass
class ApiError(Exception):
    """Raised anywhere in a request; answered as `{"error": code, "message": text}` with `status`."""

    status: int
    error: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def create_app(population: Population, config: PortalConfig) -> Flask:
    """The portal's back-office API over `population`, as documented in this module's docstring."""
    app = Flask("sandbox.portal")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    store = PortalStore(population)
    expected_key = config.api_key.encode()
    default_per_page = min(DEFAULT_PER_PAGE, config.max_page_size)

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> tuple[Response, int]:
        if isinstance(exc, ApiError):
            return _error(exc.status, exc.error, exc.message, exc.headers)
        if isinstance(exc, HTTPException):
            headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
            name = re.sub(r"\W+", "_", (exc.name or "error").lower()).strip("_")
            return _error(exc.code or 500, name, exc.description or exc.name, headers)
        log.error("portal: unhandled %s in %s", type(exc).__name__, request.endpoint)  # no URL: personal data
        return _error(500, "internal_error", "internal server error")

    @app.after_request
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def authorise() -> None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "apikey" or not hmac.compare_digest(key.strip().encode(), expected_key):
            raise ApiError(401, "unauthorized", "a valid 'Authorization: ApiKey <key>' header is required", CHALLENGE)

    def page(items: list[Json]) -> Response:
        number = _int_arg("page", 1, 1, None)
        per_page = _int_arg("per_page", default_per_page, 1, config.max_page_size)
        start = (number - 1) * per_page
        return jsonify({"items": items[start:start + per_page], "page": number, "per_page": per_page,
                        "total": len(items), "total_pages": math.ceil(len(items) / per_page)})

    @app.get("/api/v1/users")
    def find_users() -> Response:
        name, value = _one_filter()
        return page(store.find_users(name, value))

    @app.get("/api/v1/users/<username>")
    def user(username: str) -> Response:
        found = store.user(username)
        if found is None:
            raise ApiError(404, "not_found", "no user with this username")
        return jsonify(found)

    @app.get("/api/v1/users/<username>/<resource>")
    def sub_resource(username: str, resource: str) -> Response:
        if resource not in SUB_RESOURCES:
            raise ApiError(404, "not_found", "no such resource")
        if store.user(username) is None:
            raise ApiError(404, "not_found", "no user with this username")
        return page(store.sub_resource(username, resource))

    return app


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> tuple[Response, int]:
    response = jsonify({"error": code, "message": message})
    response.headers.update(headers or {})
    return response, status


def _one_filter() -> tuple[str, str]:
    """The single look-up filter of this request, validated."""
    given = [name for name in LOOKUPS if name in request.args]
    if len(given) != 1:
        raise ApiError(400, "invalid_request", f"give exactly one of: {', '.join(LOOKUPS)}")
    name = given[0]
    values = request.args.getlist(name)
    if len(values) != 1 or not values[0] or len(values[0]) > MAX_FILTER_LENGTH:
        raise ApiError(400, "invalid_request", f"{name} must be given once, non-empty, at most "
                                               f"{MAX_FILTER_LENGTH} characters")
    value = values[0]
    if name == "phone" and not E164.fullmatch(value):
        raise ApiError(400, "invalid_request", "phone must be in E.164 form, e.g. +37251234567 (URL-encoded %2B)")
    if name == "customer_id" and not _is_digits(value):
        raise ApiError(400, "invalid_request", "customer_id must be a number")
    return name, value


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _int_arg(name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _is_digits(raw) or len(raw) > 9 or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ApiError(400, "invalid_request", f"{name} must be an integer {bound}")
    return int(raw)
