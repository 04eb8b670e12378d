"""How one S3 attempt's failure is classified: worth another try, or not.

botocore's own retries are off (our `call_with_retries` does bounded retries with jitter for every
connector alike), so each botocore/urllib3 exception is mapped here. Causes carry the HTTP status
and S3 error code or the exception class only: botocore's messages quote the request URL, whose
path and query hold object keys and prefixes.
"""

from __future__ import annotations

from botocore import exceptions as boto
from urllib3.exceptions import HTTPError as Urllib3Error

from connectors.errors import PermanentError, TransientError, TruncatedPage
from connectors.http import parse_retry_after
from connectors.retry import RateLimited

# S3 error codes worth retrying whatever the status says (S3 and AWS SDK retry guidance).
TRANSIENT_CODES = frozenset({
    "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException",
    "RequestThrottled", "TooManyRequests", "TooManyRequestsException", "RequestLimitExceeded",
})

# Of those, the ones that mean "slow down": a rate limit, not a fault.
THROTTLING_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests",
                              "TooManyRequestsException", "RequestLimitExceeded"})

# Everything an S3 call or the reading of its body may raise that we know how to classify.
S3_FAILURES: tuple[type[BaseException], ...] = (boto.BotoCoreError, boto.ClientError, Urllib3Error)


def classify(exc: BaseException) -> TransientError | PermanentError:
    """The failure of one attempt as our error kinds (never repeating botocore's message)."""
    if isinstance(exc, boto.ClientError):
        return _client_error(exc)
    name = type(exc).__name__
    if isinstance(exc, boto.ConnectTimeoutError):
        return TransientError(f"timeout (connect, {name})")
    if isinstance(exc, boto.ReadTimeoutError):
        return TransientError(f"timeout (read, {name})")
    if isinstance(exc, boto.ResponseStreamingError | boto.IncompleteReadError):
        return TruncatedPage(f"answer cut short ({name})")
    if isinstance(exc, boto.FlexibleChecksumError):
        return TruncatedPage(f"answer does not match its checksum ({name})")
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return PermanentError(f"no usable AWS credentials ({name})")
    if isinstance(exc, boto.ConnectionError | boto.HTTPClientError | Urllib3Error):
        return TransientError(f"connection failed ({name})")
    return PermanentError(name)


def _client_error(exc: boto.ClientError) -> TransientError | PermanentError:
    meta = exc.response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    code = str(exc.response.get("Error", {}).get("Code") or "")
    # HEAD answers have no body: botocore then uses the status as the code ("404").
    cause = f"HTTP {status}" + (f" {code}" if code and code != str(status) else "")
    retry_after = parse_retry_after(meta.get("HTTPHeaders", {}).get("retry-after"))
    if status == 429 or code in THROTTLING_CODES:  # waited out by time, as every rate limit is (retry.RateLimited)
        return RateLimited(cause, retry_after)
    if status >= 500 or code in TRANSIENT_CODES:
        return TransientError(cause, retry_after)
    return PermanentError(cause)
