"""The Volt partner API (REST, OAuth2 client credentials, cursor pages), spoken exactly as documented.

Why a layer of its own: three protocol rules are Volt's and belong in one place.
- Tokens: a 401 on a resource means our token expired or was revoked early; we fetch a new one and
  repeat the call once. A second 401 means our client is no longer allowed in: retrying would only
  hammer the token endpoint, so it is a failure.
- Pages: every page but the last holds exactly `limit` items. A shorter page that still has a
  `next_cursor`, or a body cut short, is truncated and retried (`TruncatedPage`), so a partial list
  is never taken as complete. A cursor seen twice would loop forever: it is a failure.
- Filters: the API answers 400 to values it cannot take (a phone not in E.164, a customer number
  with non-digits). Such a value cannot match anything, so we do not send it: "nothing found".
Operation names in errors are path templates plus the filter's name, never a value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from connectors.errors import ConnectorError, PermanentError, TruncatedPage
from connectors.http import DEFAULT_TIMEOUT, ClientCredentials, JsonClient, Response
from connectors.retry import MinIntervalLimiter, RetryPolicy

SYSTEM = "volt"
MAX_PAGE_SIZE = 100  # the documented default maximum of `limit`
MAX_FILTER_LENGTH = 320
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
Json = dict[str, Any]


def acceptable_filter(name: str, value: str) -> bool:
    """Whether the API takes `value` for look-up filter `name` (else it answers 400, and nothing can match)."""
    if not value or len(value) > MAX_FILTER_LENGTH:
        return False
    if name == "phone":
        return E164.fullmatch(value) is not None
    if name == "customer_id":
        return value.isascii() and value.isdigit()
    return True


def canonical_account_id(value: str) -> str | None:
    """The account id in the API's form (a UUID, lower case), or None when it cannot be one.

    Checked before it goes into a path, so `../x` or `id/vehicles` can never reach another resource.
    """
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


class VoltApi:
    """Typed calls to the Volt API; counts the requests it sends (token requests excluded)."""

    def __init__(self, base_url: str, credentials: ClientCredentials, *, policy: RetryPolicy | None = None,
                 limiter: MinIntervalLimiter | None = None, timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 page_size: int = MAX_PAGE_SIZE) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"volt page size must be 1..{MAX_PAGE_SIZE}")
        self.credentials = credentials
        self.page_size = page_size
        self.http = JsonClient(SYSTEM, base_url, headers=self._bearer, policy=policy, limiter=limiter,
                               timeout=timeout)

    @property
    def calls(self) -> int:
        return self.http.calls

    def close(self) -> None:
        self.http.close()

    # -- resources --------------------------------------------------------------------------------

    def find_accounts(self, filter_name: str, value: str) -> Iterator[Json]:
        """Accounts whose `filter_name` (email, phone, google_sub, customer_id) equals `value`."""
        if acceptable_filter(filter_name, value):
            yield from self._items("/v1/accounts", f"GET /v1/accounts ({filter_name})", {filter_name: value})

    def find_signups(self, filter_name: str, value: str) -> Iterator[Json]:
        """Unfinished sign-ups by e-mail or phone."""
        if acceptable_filter(filter_name, value):
            yield from self._items("/v1/signups", f"GET /v1/signups ({filter_name})", {filter_name: value})

    def account(self, account_id: str) -> Json | None:
        """One account by id; None when there is none (404, or an id that cannot be one)."""
        canonical = canonical_account_id(account_id)
        if canonical is None:
            return None
        operation = "GET /v1/accounts/{id}"
        response = self._get(f"/v1/accounts/{canonical}", operation, None, missing_ok=True, check=_account_check)
        if response is None:
            return None
        if str(response.body["id"]).lower() != canonical:
            raise ConnectorError(SYSTEM, f"{operation}: answered with another account than asked for")
        return dict(response.body)

    def sub_resource(self, account_id: str, resource: str) -> Iterator[Json]:
        """Every item of one account's sub-resource (`vehicles`, `payment-cards`, ...), page by page.

        A 404 here is a failure, not "none": the account was just found, so the list must exist.
        """
        canonical = canonical_account_id(account_id)
        if canonical is None:
            raise ConnectorError(SYSTEM, f"GET /v1/accounts/{{id}}/{resource}: the API gave an account id "
                                         f"that is not a UUID")
        yield from self._items(f"/v1/accounts/{canonical}/{resource}", f"GET /v1/accounts/{{id}}/{resource}", {})

    # -- protocol ---------------------------------------------------------------------------------

    def _bearer(self) -> dict[str, str]:
        return self.credentials.header(self.http.client)

    def _items(self, path: str, operation: str, params: dict[str, str]) -> Iterator[Json]:
        """Follow the cursor to the end, yielding items as each page arrives."""
        limit = self.page_size
        cursor: str | None = None
        seen: set[str] = set()
        check = _page_check(limit)
        while True:
            query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
            response = self._get(path, operation, query, missing_ok=False, check=check)
            assert response is not None  # 404 is not accepted here
            yield from response.body["data"]
            cursor = response.body["next_cursor"]
            if cursor is None:
                return
            if cursor in seen:
                raise ConnectorError(SYSTEM, f"{operation}: the API repeated a cursor (pagination would not end)")
            seen.add(cursor)

    def _get(self, path: str, operation: str, params: dict[str, str] | None, *, missing_ok: bool,
             check: Callable[[Response], None]) -> Response | None:
        """GET with retries; a 401 gets one new token and one more try; 404 is None when `missing_ok`."""
        ok = frozenset({200, 401, 404}) if missing_ok else frozenset({200, 401})

        def checked(response: Response) -> None:
            if response.status == 200:
                check(response)

        for _ in range(2):
            response = self.http.request("GET", path, operation, params=params, ok_statuses=ok, check=checked)
            if response.status == 404:
                return None
            if response.status != 401:
                return response
            self.credentials.invalidate()
        raise ConnectorError(SYSTEM, f"{operation}: HTTP 401 again with a new access token (client not authorised)")


def _page_check(limit: int) -> Callable[[Response], None]:
    """A page must be `{"data": [...], "next_cursor": str | null}`, full unless it is the last."""

    def check(response: Response) -> None:
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("data"), list) or "next_cursor" not in body:
            raise PermanentError("the answer is not a page ({data, next_cursor})")
        data, cursor = body["data"], body["next_cursor"]
        if cursor is not None and not (isinstance(cursor, str) and cursor):
            raise PermanentError("the page's next_cursor is neither a string nor null")
        if len(data) > limit:
            raise PermanentError(f"the page holds {len(data)} items, more than the limit of {limit}")
        if cursor is not None and len(data) < limit:
            raise TruncatedPage(f"short page: {len(data)} of {limit} items and a next cursor")
        if not all(isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] for item in data):
            raise PermanentError("the page holds an item without an id")

    return check


def _account_check(response: Response) -> None:
    body = response.body
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise PermanentError("the answer is not an account object")
