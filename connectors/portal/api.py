"""The portal's back-office REST API v1 as the connector uses it: look-ups and per-user lists, paged.

Every list is paged by page number with totals, so a damaged page is detectable: every page but the
last holds exactly `per_page` items. A page that disagrees with its own totals is fetched again
(`TruncatedPage`), so a listing is either read to the end or fails; it is never returned short.
Values the caller looks up travel only in the query string (encoded by httpx); the one value put
in a path is a username the portal itself returned, checked and percent-encoded first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import ConnectorError, PermanentError, TruncatedPage
from connectors.http import DEFAULT_TIMEOUT, JsonClient, Response
from connectors.retry import RetryPolicy

SYSTEM = "portal"
PREFIX = "/api/v1"
MAX_PER_PAGE = 100  # the documented default maximum of `per_page`
PAGE_KEYS = ("page", "per_page", "total", "total_pages")
# Usernames are lower-case ASCII; anything that could change the path's meaning is refused.
SAFE_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,319}")

Json = dict[str, Any]


class PortalApi:
    """Thin, paging client of the portal API; every failure surfaces as `ConnectorError("portal", ...)`."""

    def __init__(self, base_url: str, api_key: str, *, policy: RetryPolicy | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, per_page: int = MAX_PER_PAGE) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be from 1 to {MAX_PER_PAGE}")
        self.per_page = per_page
        header = {"Authorization": f"ApiKey {api_key}"}
        self.http = JsonClient(SYSTEM, base_url, headers=lambda: dict(header), policy=policy, timeout=timeout)

    def find_users(self, field: str, value: str) -> Iterator[Json]:
        """Users whose `field` equals `value` (several for a shared phone); none is an empty listing."""
        yield from self._pages(f"{PREFIX}/users", f"GET {PREFIX}/users?{field}=", {field: value})

    def user_list(self, username: str, resource: str) -> Iterator[Json]:
        """One user's records of `resource` (`logins`, `consents`, ...), oldest first."""
        if not SAFE_USERNAME.fullmatch(username):
            raise ConnectorError(SYSTEM, f"GET {PREFIX}/users: the portal returned a username unfit for a path")
        path = f"{PREFIX}/users/{quote(username, safe='')}/{resource}"
        yield from self._pages(path, f"GET {PREFIX}/users/{{username}}/{resource}", {})

    @property
    def calls(self) -> int:
        return self.http.calls

    def close(self) -> None:
        self.http.close()

    def _pages(self, path: str, operation: str, params: dict[str, str]) -> Iterator[Json]:
        """Every item of a listing, page by page to the last one the latest answer announces."""
        number, last_page, previous_total = 1, 1, None
        seen: set[str | None] = set()
        while number <= last_page:
            response = self.http.request(
                "GET", path, operation, params={**params, "page": str(number), "per_page": str(self.per_page)},
                ok_statuses=frozenset({200, 404}), check=_page_check(number, self.per_page))
            if response.status == 404:
                # Only the per-user lists answer 404: the user vanished between look-up and listing.
                raise ConnectorError(SYSTEM, f"{operation}: user no longer found while reading (HTTP 404)")
            body = response.body
            if previous_total is not None and body["total"] < previous_total:
                # Items shifted towards the front while we paged: some may have been skipped.
                raise ConnectorError(SYSTEM, f"{operation}: the listing shrank while being read")
            previous_total = body["total"]
            for item in body["items"]:
                ident = item.get("id", item.get("username"))
                key = None if ident is None else str(ident)
                if key is None or key not in seen:  # a listing growing at its end repeats nothing
                    seen.add(key)
                    yield item
            last_page = body["total_pages"]
            number += 1


def _page_check(number: int, per_page: int) -> Callable[[Response], None]:
    """Raise unless the answer is page `number` of `per_page` with as many items as its totals promise."""

    def check(response: Response) -> None:
        if response.status != 200:
            return
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("items"), list) \
                or not all(isinstance(body.get(k), int) and not isinstance(body.get(k), bool) for k in PAGE_KEYS):
            raise PermanentError("answer is not a page of items")
        if not all(isinstance(item, dict) for item in body["items"]):
            raise PermanentError("page items are not objects")
        total, items = body["total"], body["items"]
        expected = max(0, min(per_page, total - (number - 1) * per_page))
        if body["page"] != number or body["per_page"] != per_page or total < 0 \
                or body["total_pages"] != math.ceil(total / per_page):
            raise TruncatedPage(f"page {number} disagrees with its own totals")
        if len(items) != expected:
            raise TruncatedPage(f"page {number} holds {len(items)} items, {expected} expected")

    return check
