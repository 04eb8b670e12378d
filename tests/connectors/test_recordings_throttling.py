"""S3's "slow down" answers are a rate limit, waited out by time like every other (retry.RateLimited);
server faults stay ordinary transient errors, counted by attempts."""

from __future__ import annotations

import botocore.exceptions as boto
import pytest

from connectors.errors import PermanentError, TransientError
from connectors.recordings.failures import classify
from connectors.retry import RateLimited


def client_error(status: int, code: str, retry_after: str | None = None) -> boto.ClientError:
    headers = {"retry-after": retry_after} if retry_after else {}
    return boto.ClientError({"Error": {"Code": code, "Message": "x"},
                             "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers}}, "GetObject")


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (429, "TooManyRequests"), (400, "Throttling")])
def test_throttling_is_a_rate_limit(status: int, code: str) -> None:
    found = classify(client_error(status, code, "2"))
    assert isinstance(found, RateLimited) and found.retry_after == 2


def test_faults_and_refusals_keep_their_kinds() -> None:
    fault = classify(client_error(500, "InternalError"))
    assert isinstance(fault, TransientError) and not isinstance(fault, RateLimited)
    assert isinstance(classify(client_error(403, "AccessDenied")), PermanentError)
