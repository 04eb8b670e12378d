"""A JSON-over-HTTP client for connectors: timeouts, retries, Retry-After, rate limit, OAuth2.

Every request goes through `call_with_retries`; each attempt is classified: timeouts, resets,
bodies cut short and 5xx are transient, 429 is `RateLimited` (transient, waited out within the
operation's time budget rather than counted as a failed attempt); other 4xx are permanent (404
may be declared "no data" by the caller). Error messages carry the operation name the caller
gives (a path template), never the URL, which may hold personal values in its query string.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.errors import PermanentError, TransientError, TruncatedPage
from connectors.retry import MinIntervalLimiter, RateLimited, RetryPolicy, call_with_retries

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=15.0, write=15.0, pool=5.0)

# httpx logs every request line (query strings hold e-mail addresses and phone numbers) at INFO.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as delta-seconds (fractions tolerated) or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ClientCredentials:
    """OAuth2 client-credentials token (RFC 6749 §4.4), cached until shortly before it expires."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def header(self, client: httpx.Client) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires:
                self._fetch(client)
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self, client: httpx.Client) -> None:
        data = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {})}
        credentials = (self.client_id, self.client_secret)
        response = send_classified(lambda: client.post(self.token_url, data=data, auth=credentials))
        if response.status_code in (400, 401, 403):
            raise PermanentError(f"token endpoint refused our client credentials (HTTP {response.status_code})")
        _raise_for_transient(response)
        body = _json(response)
        self._token = str(body["access_token"])
        self._expires = time.monotonic() + max(5.0, float(body.get("expires_in", 60)) - 30.0)


@dataclass
class Response:
    status: int
    body: Any
    headers: httpx.Headers


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, or SSL_CERT_FILE/SSL_CERT_DIR), built once per process.

    httpx builds a new one for every client, and loading the CA bundle costs ~20 ms of CPU; clients
    are built per connector, per thread and per message sent, hundreds of times in a batch. An
    SSLContext is safe to share between clients and threads.
    """
    return httpx.create_ssl_context()


class JsonClient:
    """One system's HTTP API. Thread-safe; counts the calls it makes."""

    def __init__(self, system: str, base_url: str, *, auth: ClientCredentials | None = None,
                 headers: Callable[[], dict[str, str]] | None = None, policy: RetryPolicy | None = None,
                 limiter: MinIntervalLimiter | None = None, timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 max_connections: int = 8) -> None:
        self.system = system
        self.auth = auth
        self.extra_headers = headers or (lambda: {})
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, verify=tls_context(),
                                   limits=httpx.Limits(max_connections=max_connections))
        self.calls = 0
        self._count_lock = threading.Lock()

    def request(self, method: str, path: str, operation: str, *, params: dict[str, Any] | None = None,
                json: Any = None, content: bytes | None = None, ok_statuses: frozenset[int] = frozenset({200}),
                check: Callable[[Response], None] | None = None) -> Response:
        """Send with retries; `ok_statuses` are returned (e.g. 404 as "none"), `check` may raise TruncatedPage."""

        refreshed = False

        def attempt() -> Response:
            nonlocal refreshed
            if self.limiter:
                self.limiter.wait()
            headers = self.extra_headers()
            if self.auth:
                headers.update(self.auth.header(self.client))
            with self._count_lock:
                self.calls += 1
            raw = send_classified(lambda: self.client.request(method, path, params=params, json=json, content=content,
                                                         headers=headers))
            if raw.status_code == 401 and self.auth:
                if refreshed:
                    raise PermanentError("HTTP 401 again with a new access token")
                refreshed = True
                self.auth.invalidate()
                raise TransientError("HTTP 401 (token refreshed)", retry_after=0.0)
            if raw.status_code not in ok_statuses:
                _raise_for_transient(raw, self.limiter)
                raise PermanentError(f"HTTP {raw.status_code}")
            result = Response(raw.status_code, _json(raw) if raw.content else None, raw.headers)
            if check:
                check(result)
            return result

        return call_with_retries(self.system, operation, attempt, self.policy)

    def close(self) -> None:
        self.client.close()


def send_classified(send: Callable[[], httpx.Response]) -> httpx.Response:
    """Send once; transport failures become TransientError / TruncatedPage (retryable), named by class."""
    try:
        return send()
    except httpx.TimeoutException as exc:
        raise TransientError(f"timeout ({type(exc).__name__})") from None
    except httpx.RemoteProtocolError:
        raise TruncatedPage("connection closed before the whole answer arrived") from None
    except httpx.TransportError as exc:
        raise TransientError(f"connection failed ({type(exc).__name__})") from None


def _raise_for_transient(response: httpx.Response, limiter: MinIntervalLimiter | None = None) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if limiter and retry_after:
            limiter.push_back(retry_after)
        if response.status_code == 429:  # waited out within the operation's time budget
            raise RateLimited("HTTP 429", retry_after, window_s=limiter.interval_s if limiter else 0.0)
        raise TransientError(f"HTTP {response.status_code}", retry_after)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TruncatedPage("answer is not complete JSON") from None
