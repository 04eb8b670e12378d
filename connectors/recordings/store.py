"""The recordings bucket as the connector reads it: S3 calls with timeouts, bounded retries, streamed bodies.

One boto3 client with connect/read timeouts and botocore's own retries off (`total_max_attempts:
1`): every call goes through `call_with_retries`, so retries are bounded, jittered, honour
Retry-After and are classified the same way as every other connector's (`failures.classify`).
Bodies are read in chunks and their length is checked against Content-Length (a body cut short is
retried, never taken for the whole); listings are read page by page. Nothing here knows the layout
of a call; `connector` does.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from connectors.errors import PermanentError, TruncatedPage
from connectors.recordings.failures import S3_FAILURES, classify
from connectors.retry import RetryPolicy, call_with_retries

SYSTEM = "recordings"
DEFAULT_CONNECT_TIMEOUT_S = 3.0
DEFAULT_READ_TIMEOUT_S = 15.0
MAX_KEYS = 1000  # S3's own maximum page of ListObjectsV2
LINE_CHUNK_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024  # an index line is ~300 bytes; longer means this is not an index
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # a metadata sidecar is a few KB even with a long transcript

T = TypeVar("T")
_LOADER = botocore.loaders.create_loader()

# botocore logs request URLs (keys, prefixes) and response bodies (index lines hold phone numbers) at
# DEBUG: never let them through, whatever the application's log level.
for _name in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_name).setLevel(max(logging.getLogger(_name).level, logging.INFO))


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is; empty endpoint means AWS itself, empty keys the default credential chain."""

    bucket: str
    endpoint_url: str = ""
    region: str = ""
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)


def make_client(settings: S3Settings, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
                read_timeout_s: float = DEFAULT_READ_TIMEOUT_S, max_pool_connections: int = 10) -> Any:
    """A boto3 S3 client of its own session (no shared default session touched), sharing the model loader.

    A fresh session parses botocore's S3 model again (~0.15 s of CPU); the loader only reads and
    caches those files, so one loader serves every session (a client is then ~0.03 s).
    """
    config = Config(
        connect_timeout=connect_timeout_s, read_timeout=read_timeout_s, max_pool_connections=max_pool_connections,
        retries={"total_max_attempts": 1, "mode": "standard"},
        # A custom endpoint (an IP host, MinIO, the sandbox) cannot carry virtual-hosted bucket names.
        s3={"addressing_style": "path" if settings.endpoint_url else "auto"})
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    session = boto3.session.Session(botocore_session=core)
    return session.client(
        "s3", endpoint_url=settings.endpoint_url or None, region_name=settings.region or None,
        aws_access_key_id=settings.access_key_id or None, aws_secret_access_key=settings.secret_access_key or None,
        config=config)


class Bucket:
    """One S3 bucket; counts the HTTP requests it sends (attempts included)."""

    def __init__(self, client: Any, name: str, policy: RetryPolicy | None = None) -> None:
        self.client = client
        self.name = name
        self.policy = policy or RetryPolicy()
        self.requests = 0
        self._lock = threading.Lock()
        client.meta.events.register("before-send.s3", self._count)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.requests += 1

    def call(self, operation: str, attempt: Callable[[], T]) -> T:
        """Run `attempt` (one or more S3 calls and the reading of their bodies) with bounded retries.

        `operation` names what is done in a form safe for logs (`GetObject index/{month}.jsonl`).
        """

        def guarded() -> T:
            try:
                return attempt()
            except S3_FAILURES as exc:
                raise classify(exc) from None

        return call_with_retries(SYSTEM, operation, guarded, self.policy)

    # -- listings ---------------------------------------------------------------------------------

    def keys(self, prefix: str, operation: str, page_size: int = MAX_KEYS) -> Iterator[str]:
        """Every key under `prefix`, page by page (one page in memory at a time), each page retried alone."""
        return (key for key, _ in self.objects(prefix, operation, page_size))

    def objects(self, prefix: str, operation: str, page_size: int = MAX_KEYS) -> Iterator[tuple[str, str]]:
        """(key, ETag) of every object under `prefix`, as `keys` lists them."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, "MaxKeys": page_size}
            if token:
                kwargs["ContinuationToken"] = token

            def fetch(kwargs: dict[str, Any] = kwargs) -> dict[str, Any]:
                page: dict[str, Any] = self.client.list_objects_v2(**kwargs)
                check_page(page, page_size)
                return page

            page = self.call(operation, fetch)
            for item in page.get("Contents", []):
                yield str(item["Key"]), str(item.get("ETag") or "")
            if not page.get("IsTruncated"):
                return
            token = str(page["NextContinuationToken"])

    # -- bodies -----------------------------------------------------------------------------------

    def lines(self, key: str, **get: Any) -> Iterator[bytes]:
        """The object's non-blank lines, streamed; raises TruncatedPage unless every byte arrived.

        One attempt (no retries): the caller wraps the whole read in `call`, so that a body cut
        short is read again from its start and nothing gathered from the partial read is kept.
        """
        answer = self.client.get_object(Bucket=self.name, Key=key, **get)
        yield from split_lines(answer["Body"], int(answer["ContentLength"]))

    def read_lines(self, key: str) -> tuple[str, list[bytes]]:
        """(ETag, every non-blank line) of an object read whole (one attempt; wrap it in `call`)."""
        answer = self.client.get_object(Bucket=self.name, Key=key)
        return str(answer.get("ETag") or ""), list(split_lines(answer["Body"], int(answer["ContentLength"])))

    @property
    def identity(self) -> str:
        """Which bucket of which service this is, for caches shared between connectors."""
        return f"{self.client.meta.endpoint_url}/{self.name}"

    def document(self, key: str, limit: int = MAX_DOCUMENT_BYTES) -> Any:
        """A small JSON object, read in chunks and length-checked (one attempt; wrap it in `call`)."""
        answer = self.client.get_object(Bucket=self.name, Key=key)
        length = int(answer["ContentLength"])
        if length > limit:
            answer["Body"].close()
            raise PermanentError(f"document of {length} bytes, more than the {limit} we read")
        data = bytearray()
        body = answer["Body"]
        try:
            for chunk in body.iter_chunks(LINE_CHUNK_BYTES):
                data += chunk
                if len(data) > length:
                    raise TruncatedPage(f"answer longer than its Content-Length ({length})")
        finally:
            body.close()
        if len(data) != length:
            raise TruncatedPage(f"answer cut short ({len(data)} of {length} bytes)")
        try:
            return json.loads(data)
        except ValueError:
            raise PermanentError("document is not JSON") from None

    def head(self, key: str) -> dict[str, Any]:
        """HeadObject (one attempt; wrap it in `call`)."""
        return dict(self.client.head_object(Bucket=self.name, Key=key))

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def key_of(self, uri: str) -> str:
        """The key of an `s3://bucket/key` URI in this bucket (keys may hold `?` and `#`: no URL parsing)."""
        bucket, slash, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or bucket != self.name or not slash or not key:
            raise ValueError("not an object of the recordings bucket")
        return key

    def close(self) -> None:
        self.client.close()


def check_page(page: dict[str, Any], page_size: int) -> None:
    """A ListObjectsV2 page must be whole: as many keys as it counts, a token if more follow."""
    contents = page.get("Contents", [])
    if "KeyCount" in page and int(page["KeyCount"]) != len(contents):
        raise TruncatedPage(f"page lists {len(contents)} keys but counts {page['KeyCount']}")
    if page.get("IsTruncated") and not page.get("NextContinuationToken"):
        raise TruncatedPage("page says more keys follow but carries no continuation token")
    if len(contents) > page_size:
        raise PermanentError(f"page of {len(contents)} keys, more than the {page_size} asked for")


def split_lines(body: Any, length: int) -> Iterator[bytes]:
    """Non-blank lines of a streamed body; the byte count must equal `length` before the last line counts.

    botocore also checks Content-Length at the end of a body, but a line is only taken once we know
    the bytes it came in were all there: the last, unterminated line is yielded after the check.
    """
    received = 0
    pending = b""
    try:
        for chunk in body.iter_chunks(LINE_CHUNK_BYTES):
            received += len(chunk)
            if received > length:
                raise TruncatedPage(f"answer longer than its Content-Length ({length})")
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                if line.strip():
                    yield line
            if len(pending) > MAX_LINE_BYTES:
                raise PermanentError(f"a line longer than {MAX_LINE_BYTES} bytes")
    finally:
        body.close()
    if received != length:
        raise TruncatedPage(f"answer cut short ({received} of {length} bytes)")
    if pending.strip():
        yield pending

