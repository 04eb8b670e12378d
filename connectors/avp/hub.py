"""The data hub's wire protocol: JWT bearer, document headers, pacing, retries, Decimal JSON.

Why a transport of its own rather than `connectors.http.JsonClient`: the hub's envelope needs
things a generic JSON client does not do —

- every call is a "document": it carries `x-document-date-time` and a fresh UUID
  `x-document-identification`, and the answer must echo that UUID in
  `x-original-document-identification`. An answer that does not is not the answer to our
  question (a proxy mix-up, a cached page): it is retried once, and a second mismatch fails the
  operation;
- kWh values are parsed as `Decimal` (`json.loads(parse_float=Decimal)`): a float round-trip is not
  exact for 3-decimal values and the export must keep them exactly;
- the hub's problem code (`{"problem": {"code": ...}}`, e.g. `PERIOD_TOO_LONG`) goes into error
  messages (codes are fixed vocabulary; the free-text `message` may quote the request, so it never
  does);
- 404 means "none" on the look-ups, so the caller decides per call whether 404 is an answer.

Everything else is the shared machinery: `call_with_retries` (bounded, exponential backoff with
jitter, Retry-After honoured; a 429 is `RateLimited`: waited out — Retry-After, else the hub's
interval — within the operation's time budget, never given up after a few quick refusals),
`MinIntervalLimiter` (the client side of the hub's per-client rate limit, one per hub client for
every thread, connector and — on one machine — process; the token endpoint is not rate-limited,
so fetching a token does not take a slot), and
`ClientCredentials` (token cached until shortly before it expires; a 401 drops it and retries).
Error messages carry the operation (the path), status and problem code — never bodies or URLs.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from connectors.errors import PermanentError, TransientError, TruncatedPage
from connectors.http import DEFAULT_TIMEOUT, ClientCredentials, parse_retry_after, send_classified, tls_context
from connectors.retry import MinIntervalLimiter, RateLimited, RetryPolicy, call_with_retries

SYSTEM = "avp"
DOCUMENT_TIME = "x-document-date-time"
DOCUMENT_ID = "x-document-identification"
ORIGINAL_DOCUMENT_ID = "x-original-document-identification"
PROBLEM_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,59}")

T = TypeVar("T")
Json = dict[str, Any]


class HubClient:
    """POSTs JSON documents to the hub's market-participant API; counts every call it sends."""

    def __init__(self, base_url: str, credentials: ClientCredentials, *, policy: RetryPolicy | None = None,
                 limiter: MinIntervalLimiter | None = None, base_interval_s: float = 0.0,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None,
                 max_connections: int = 4) -> None:
        self.credentials = credentials
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.base_interval_s = base_interval_s
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                   verify=tls_context(), limits=httpx.Limits(max_connections=max_connections))
        self.calls_by_path: Counter[str] = Counter()
        self.refused = 0  # 429 answers received (pacing should keep this at 0)
        self.slow_reads = 0  # answers the fast reading declined, read by `parse` instead (should stay 0)
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        with self._lock:
            return sum(self.calls_by_path.values())

    def post(self, path: str, body: Json, *, not_found: bool = True, parse: Callable[[Json], T] | None = None,
             fast: Callable[[bytes], T | None] | None = None) -> T | Json | None:
        """Send `body` to `path` with retries; None on 404 when `not_found` says 404 means "none".

        `parse` runs inside the attempt, so a page it finds short (`TruncatedPage`) is fetched again.
        `fast`, tried first on the raw answer, gives the same result as `parse` or None (then the
        answer is decoded and given to `parse`).
        """
        mismatches = 0

        def attempt() -> T | Json | None:
            nonlocal mismatches
            headers = self._bearer()
            if self.limiter:
                self.limiter.wait()
            document_id = str(uuid.uuid4())
            headers[DOCUMENT_TIME] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            headers[DOCUMENT_ID] = document_id
            with self._lock:
                self.calls_by_path[path] += 1
            raw = send_classified(lambda: self.client.post(path, content=json.dumps(body), headers={
                **headers, "Content-Type": "application/json", "Accept": "application/json"}))
            status = raw.status_code
            if status == 401:
                self.credentials.invalidate()
                raise TransientError(f"HTTP 401{_problem_code(raw)} (token dropped, fetching a new one)")
            if status == 429 or status >= 500:
                retry_after = parse_retry_after(raw.headers.get("Retry-After"))
                if status == 429:
                    with self._lock:
                        self.refused += 1
                    self._widen_margin(retry_after)
                if self.limiter and retry_after:
                    self.limiter.push_back(retry_after)
                if status == 429:  # waited out within the operation's time budget, however many refusals
                    raise RateLimited(f"HTTP 429{_problem_code(raw)}", retry_after, window_s=self.base_interval_s)
                raise TransientError(f"HTTP {status}{_problem_code(raw)}", retry_after)
            if status not in (200, 404):
                raise PermanentError(f"HTTP {status}{_problem_code(raw)}")
            if raw.headers.get(ORIGINAL_DOCUMENT_ID, "").lower() != document_id:
                mismatches += 1
                cause = "answer does not echo our x-document-identification"
                if mismatches > 1:
                    raise PermanentError(f"{cause} (twice)")
                raise TransientError(cause)
            if status == 404:
                if not_found:
                    return None
                raise TransientError(f"HTTP 404{_problem_code(raw)} for a page the hub announced")
            if fast is not None:
                if (result := fast(raw.content)) is not None:
                    return result
                with self._lock:
                    self.slow_reads += 1
            document = _json(raw)
            if not isinstance(document, dict):
                raise PermanentError("answer is not a JSON object")
            return parse(document) if parse else document

        return call_with_retries(SYSTEM, f"POST {path}", attempt, self.policy)

    def _widen_margin(self, retry_after: float | None) -> None:
        """A 429 in spite of pacing means our sends were closer, as the hub saw them, than we meant
        (scheduling jitter on either side): widen the pacing by the shortfall the hub reported
        (Retry-After) plus 1 ms, up to a quarter of the interval. A long Retry-After is a throttle
        of another kind (a burst limit), not jitter: it is only waited out."""
        limiter = self.limiter
        if limiter is None or retry_after is None or self.base_interval_s <= 0:
            return
        if retry_after <= self.base_interval_s:
            ceiling = self.base_interval_s * 1.25
            limiter.interval_s = min(ceiling, limiter.interval_s + retry_after + 0.001)

    def _bearer(self) -> dict[str, str]:
        try:
            return self.credentials.header(self.client)
        except (KeyError, TypeError, ValueError):
            raise PermanentError("token endpoint answered without an access_token") from None

    def close(self) -> None:
        self.client.close()


def _json(raw: httpx.Response) -> Any:
    try:
        return json.loads(raw.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise TruncatedPage("answer is not complete JSON") from None


def _problem_code(raw: httpx.Response) -> str:
    """` CODE` from a problem body when it is a plain code word; never the free-text message."""
    try:
        code = json.loads(raw.content)["problem"]["code"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return ""
    return f" {code}" if isinstance(code, str) and PROBLEM_CODE.fullmatch(code) else ""
