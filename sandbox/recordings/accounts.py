"""Two AWS accounts on one moto: the call centre's and the controller's own.

In production the call-recordings system is a *source*, in the call centre's account, which the
pipeline only reads, as it reads billing. The inbox, the work store, the delivery bucket and the KMS
keys are the controller's own infrastructure, in another account. A fault on `recordings` must touch
the source alone: the pipeline must still take tickets, keep its work and deliver.

moto keeps one set of backends per process, so two endpoints made in one process would see each
other's buckets and keys. `AccountGate` makes an endpoint one account: it answers only calls signed
with its account's access key, only for its account's buckets, and KMS only where the account has
keys. A call signed with another key gets 403 `InvalidAccessKeyId`; a bucket of the other account, 403
`AccessDenied`, as S3 answers a caller from another account; KMS, `AccessDeniedException`. A bucket of
no account is moto's to answer (404 `NoSuchBucket`). Signatures are not verified (moto does not), but
the access key must be the account's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from sandbox.recordings.layout import INBOX_BUCKET, PACKAGES_BUCKET, RECORDINGS_BUCKET, WORK_BUCKET

StartResponse = Callable[..., Any]
_SCOPE = re.compile(r"^([^/\s,]+)/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request$")
_HEADER_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


@dataclass(frozen=True)
class Account:
    """One AWS account of the sandbox: its credentials, its buckets, whether it holds KMS keys."""

    name: str
    access_key_id: str
    secret_access_key: str
    buckets: frozenset[str]
    kms: bool


CALL_CENTRE = Account("call-centre", "call-centre-reader", "call-centre-secret",
                      frozenset({RECORDINGS_BUCKET}), kms=False)
CONTROLLER = Account("controller", "testing", "testing",
                     frozenset({INBOX_BUCKET, PACKAGES_BUCKET, WORK_BUCKET}), kms=True)
ALL_BUCKETS = CALL_CENTRE.buckets | CONTROLLER.buckets


def caller(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(access key id, service) from a SigV4 request's credential scope, in its Authorization header or
    its presigned query; None for an unsigned request."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    found = _HEADER_CREDENTIAL.search(header) if header.startswith("AWS4-HMAC-SHA256") else None
    scope = found.group(1) if found else (parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
                                          or [""])[0]
    matched = _SCOPE.match(unquote(scope))
    return (matched.group(1), matched.group(2)) if matched else None


def bucket_of(environ: dict[str, Any]) -> str:
    """The bucket a path-style S3 request names ("" for the service itself, e.g. ListBuckets)."""
    return environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]


class AccountGate:
    """`app` as one account's endpoint: other accounts' keys, buckets and services are refused."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]], account: Account,
                 s3_refusal: Callable[[StartResponse, str, str, str], list[bytes]]) -> None:
        self.app, self.account, self._s3_refusal = app, account, s3_refusal

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        signed = caller(environ)
        if signed is None:
            return self._s3_refusal(start_response, "403 Forbidden", "AccessDenied", "Anonymous access is refused")
        key, service = signed
        if service == "kms":
            if key != self.account.access_key_id or not self.account.kms:
                return _kms_refusal(start_response, f"the caller is not allowed KMS in account {self.account.name}")
            return self.app(environ, start_response)
        if key != self.account.access_key_id:
            return self._s3_refusal(start_response, "403 Forbidden", "InvalidAccessKeyId",
                                    "The AWS Access Key Id you provided does not exist in our records.")
        bucket = bucket_of(environ)
        if service != "s3" or not bucket or (bucket not in self.account.buckets and bucket in ALL_BUCKETS):
            return self._s3_refusal(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
        return self.app(environ, start_response)


def _kms_refusal(start_response: StartResponse, message: str) -> list[bytes]:
    body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                       ("Content-Length", str(len(body)))])
    return [body]


__all__ = ["CALL_CENTRE", "CONTROLLER", "Account", "AccountGate", "bucket_of", "caller"]
