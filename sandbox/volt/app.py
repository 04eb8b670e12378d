"""Volt charging app — partner REST API v1 (simulated; Enefit's EV-charging app back end).

JSON over HTTP/1.1, UTF-8. Base URL = the service root (e.g. `http://127.0.0.1:18701`).

Authentication: OAuth 2.0 client credentials (RFC 6749 §4.4)
---------------------------------------------------------------
`POST /oauth/token`, `Content-Type: application/x-www-form-urlencoded`,
body `grant_type=client_credentials` (optional `scope=accounts:read`, the only scope).
Client authentication: HTTP Basic `client_id:client_secret` (preferred), or the form fields
`client_id` + `client_secret` in the body; not both (400 `invalid_request`).
- 200 `{"access_token": "…", "token_type": "Bearer", "expires_in": 300, "scope": "accounts:read"}`
  with `Cache-Control: no-store`. The token is opaque; it lives `expires_in` seconds (300 by
  default, short on purpose). No refresh tokens: ask for a new token when it expires.
- 401 `invalid_client` (+ `WWW-Authenticate: Basic realm="volt"`): unknown client or wrong secret.
- 400 `invalid_request` (no `grant_type`, not form-encoded, two authentication methods),
  400 `unsupported_grant_type` (anything but `client_credentials`), 400 `invalid_scope`.
- The token endpoint is not rate-limited.

Every `/v1/...` call needs `Authorization: Bearer <access_token>` (RFC 6750; not in the query).
- No token: 401 `unauthorized`, `WWW-Authenticate: Bearer realm="volt"`.
- Expired, forged or malformed token: 401 `invalid_token`,
  `WWW-Authenticate: Bearer realm="volt", error="invalid_token", error_description="…"`.
  Get a new token and retry the call once.

Resources (all `GET`, all need the bearer token)
------------------------------------------------
- `/v1/accounts?email=E` | `?phone=P` | `?google_sub=S` | `?customer_id=N` — look-up; exactly one
  filter, given once, non-empty, at most 320 characters (else 400 `invalid_request`). `email`: exact address,
  case-insensitive. `phone`: E.164 exactly (`+` and 7–15 digits, no spaces; URL-encode the plus as
  `%2B`, a raw `+` in a query string is a space), anything else is 400. `google_sub`: the Google
  account's subject id ("sub" claim), exact. `customer_id`: the electricity customer number the
  user linked in the app (digits only, else 400). No match is 200 with an empty `data` list, not
  404. One phone or e-mail address can match several accounts (households share phones).
- `/v1/accounts/{account_id}` — one account object (not wrapped); 404 `not_found` when unknown.
- `/v1/accounts/{account_id}/vehicles` | `/payment-cards` | `/charging-sessions` | `/consents` —
  that account's records (a list); 404 `not_found` when the account is unknown.
- `/v1/signups?email=E` | `?phone=P` — unfinished sign-ups (same filter rules as accounts). The
  app's policy is to delete them after 48 h; older ones may still be present.

Objects (datetimes ISO 8601 in UTC with a `Z` suffix; absent values are `null`)
- account: `id` (UUID), `email`, `phone` (E.164 or null), `google_sub` (null without Google login),
  `display_name`, `customer_id` (integer, the linked electricity customer number, or null),
  `created_at`, `status` (`active` | `closed`)
- signup: `id`, `email`, `phone`, `started_at`, `step_reached` (`email_entered` | `phone_verified` | `card_pending`)
- vehicle: `id`, `account_id`, `make`, `model`, `mac_address` (`AA:BB:CC:DD:EE:FF`), `added_at`
- payment card: `id`, `account_id`, `brand`, `masked_pan` (`**** **** **** 1234`), `expiry` (`MM/YY`), `added_at`
- charging session: `id`, `account_id`, `vehicle_id` (or null), `station_id`, `station_name`,
  `latitude`, `longitude` (WGS 84, of the station), `started_at`, `ended_at`, `energy_kwh`, `price_eur`
- consent: `id`, `account_id`, `purpose`, `granted` (bool), `recorded_at`

Pagination (every list, look-ups included): cursor-based
----------------------------------------------------------
`?limit=N` (integer 1..max_page_size, 100 by default; default limit 50 or max_page_size if
smaller; anything else is 400 `invalid_request`) `&cursor=C` (the previous page's `next_cursor`,
verbatim) → `{"data": [...], "next_cursor": "<opaque>" | null}`. `null` means the last page; every
page but the last holds exactly `limit` items. Order: oldest first by the record's own time
(`created_at`, `started_at`, `added_at`, `recorded_at`), then `id`; stable across calls. Cursors are
opaque, signed and bound to the list that issued them (same path and filter): an edited,
malformed or foreign cursor is 400 `invalid_cursor`. An empty `cursor=` means the first page.

Rate limit
----------
Per client: a token bucket of `rate_per_second` calls per second (20 by default) with a burst of
the same size (at least 1). Over the limit: 429 `rate_limited` with `Retry-After: <integer seconds
≥ 1>`; wait that long, then retry. Calls refused with 401 do not count. The operator's edge may
also answer 429 (with `Retry-After`), 502, 503 or 504: retry those with backoff.

Errors
------
Always JSON `{"error": "<code>", "error_description": "<text>"}` — 400 `invalid_request` |
`invalid_cursor`, 401 `unauthorized` | `invalid_token` | `invalid_client`, 404 `not_found`,
405 `method_not_allowed`, 429 `rate_limited`, 500 `internal_error`. (Errors from the edge, the
429/503/504 above, carry `{"error": "<text>"}` only.) Every answer has `Cache-Control: no-store`.
The server never logs URLs, query strings or bodies: they carry personal data.
"""

from __future__ import annotations

import logging
import math
import re
from bisect import bisect_right
from dataclasses import dataclass

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.population import Population
from sandbox.volt.cursor import CursorCodec, CursorError, SortKey
from sandbox.volt.errors import ApiError
from sandbox.volt.oauth import TokenService
from sandbox.volt.ratelimit import TokenBuckets
from sandbox.volt.store import Listing, VoltStore

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_FILTER_LENGTH = 320
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass
class VoltConfig:
    client_id: str
    client_secret: str
    jwt_secret: str
    rate_per_second: float = 20.0  # per client; 0 = no limit
    max_page_size: int = 100
    token_ttl_seconds: int = 300


def create_app(population: Population, config: VoltConfig) -> Flask:
    """The Volt partner API over `population`, as documented in this module's docstring."""
    app = Flask("sandbox.volt")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    store = VoltStore(population)
    tokens = TokenService(config.client_id, config.client_secret, config.jwt_secret, config.token_ttl_seconds)
    cursors = CursorCodec(config.jwt_secret)
    buckets = (TokenBuckets(config.rate_per_second, max(1.0, config.rate_per_second))
               if config.rate_per_second > 0 else None)
    default_limit = min(DEFAULT_LIMIT, config.max_page_size)

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> tuple[Response, int] | Response:
        if isinstance(exc, ApiError):
            return _error(exc.status, exc.error, exc.description, exc.headers)
        if isinstance(exc, HTTPException):
            code = exc.code or 500
            headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
            name = re.sub(r"\W+", "_", (exc.name or "error").lower()).strip("_")
            return _error(code, name, exc.description or exc.name, headers)
        log.error("volt: unhandled %s in %s", type(exc).__name__, request.endpoint)  # no URL: personal data
        return _error(500, "internal_error", "internal server error")

    @app.after_request
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Pragma", "no-cache")
        return response

    @app.before_request
    def authorise() -> None:
        if not request.path.startswith("/v1/"):
            return
        g.client_id = tokens.verify(request.headers.get("Authorization"))
        if buckets is not None and (wait := buckets.take(g.client_id)) > 0:
            raise ApiError(429, "rate_limited", "too many requests for this client",
                           {"Retry-After": str(max(1, math.ceil(wait)))})

    @app.post("/oauth/token")
    def token() -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise ApiError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        client_id = tokens.authenticate_client(request)
        grant_type = request.form.get("grant_type")
        if not grant_type:
            raise ApiError(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise ApiError(400, "unsupported_grant_type", "only client_credentials is supported")
        return jsonify(tokens.issue(client_id, request.form.get("scope")))

    def page(listing: Listing, scope: str) -> Response:
        limit = _limit(default_limit, config.max_page_size)
        raw_cursor = request.args.get("cursor", "")
        try:
            after: SortKey | None = cursors.decode(scope, raw_cursor) if raw_cursor else None
        except CursorError as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from None
        start = bisect_right(listing.keys, after) if after is not None else 0
        end = start + limit
        next_cursor = cursors.encode(scope, listing.keys[end - 1]) if end < len(listing.items) else None
        return jsonify({"data": listing.items[start:end], "next_cursor": next_cursor})

    @app.get("/v1/accounts")
    def find_accounts() -> Response:
        name, value = _one_filter(("email", "phone", "google_sub", "customer_id"))
        return page(store.find_accounts(name, value), f"accounts|{name}|{value.casefold()}")

    @app.get("/v1/signups")
    def find_signups() -> Response:
        name, value = _one_filter(("email", "phone"))
        return page(store.find_signups(name, value), f"signups|{name}|{value.casefold()}")

    @app.get("/v1/accounts/<account_id>")
    def account(account_id: str) -> Response:
        found = store.account(account_id)
        if found is None:
            raise ApiError(404, "not_found", "no account with this id")
        return jsonify(found)

    @app.get("/v1/accounts/<account_id>/<resource>")
    def sub_resource(account_id: str, resource: str) -> Response:
        if resource not in VoltStore.SUB_RESOURCES:
            raise ApiError(404, "not_found", "no such resource")
        if store.account(account_id) is None:
            raise ApiError(404, "not_found", "no account with this id")
        return page(store.sub_resource(account_id, resource), f"{resource}|{account_id}")

    return app


def _error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> tuple[Response, int]:
    response = jsonify({"error": code, "error_description": description})
    response.headers.update(headers or {})
    return response, status


def _one_filter(allowed: tuple[str, ...]) -> tuple[str, str]:
    """The single look-up filter of this request, validated."""
    given = [name for name in allowed if name in request.args]
    if len(given) != 1:
        raise ApiError(400, "invalid_request", f"give exactly one of: {', '.join(allowed)}")
    name = given[0]
    values = request.args.getlist(name)
    if len(values) != 1 or not values[0] or len(values[0]) > MAX_FILTER_LENGTH:
        raise ApiError(400, "invalid_request", f"{name} must be given once, non-empty, at most "
                                               f"{MAX_FILTER_LENGTH} characters")
    if name == "phone" and not E164.fullmatch(values[0]):
        raise ApiError(400, "invalid_request", "phone must be in E.164 form, e.g. +37251234567 (URL-encoded %2B)")
    if name == "customer_id" and not (values[0].isascii() and values[0].isdigit()):
        raise ApiError(400, "invalid_request", "customer_id must be a number")
    return name, values[0]


def _limit(default: int, maximum: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, "invalid_request", f"limit must be an integer from 1 to {maximum}")
    return int(raw)
