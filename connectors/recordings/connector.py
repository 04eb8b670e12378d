"""The call recordings connector: a person's calls and chatbot sessions from the call centre's S3 bucket.

How a person's calls are found (S3 has no query): the month indexes `index/YYYY-MM.jsonl` are
listed page by page and each is streamed line by line, matching the caller number and the customer
id (`matching`); a month's matches are kept only once its index was read to the last byte, then
each matched call's metadata sidecar is read and, for a voice call, its audio object's size taken
with HeadObject. A few requests run at once (`ordered`), results still in order. The audio is
not downloaded here: it is the record's `Attachment`, copied later by `copy_attachment`, streamed.

What is a failure, not silence: an index naming a sidecar or an audio object that does not exist,
a sidecar of another call, or one carrying neither the number nor the customer id it was found by
(the index and the sidecar disagree): the search is then incomplete and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from types import TracebackType
from typing import Any, BinaryIO, ClassVar

from connectors.contract import Attachment, Record, Source, make_record
from connectors.errors import ConnectorError
from connectors.identity import Identifier, IdentityType
from connectors.recordings.copying import DEFAULT_CHUNK_BYTES, CopyResult, copy_object
from connectors.recordings.index_cache import SHARED, IndexCache
from connectors.recordings.matching import ACCEPTS, Hit, Wanted, match_line
from connectors.recordings.ordered import ordered_map
from connectors.recordings.sources import CALLS, DATETIME_FIELDS, SOURCES
from connectors.recordings.store import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    MAX_KEYS,
    SYSTEM,
    Bucket,
    S3Settings,
    make_client,
)
from connectors.recordings.transcript import structured_transcript
from connectors.retry import RetryPolicy

INDEX_PREFIX = "index/"
METADATA_SCHEMA = "call-metadata/1"
DEFAULT_MEDIA_TYPE = "audio/wav"
# Operation names for messages: templates, never a key holding a call id.
LIST_INDEXES = "ListObjectsV2 index/"
READ_INDEX = "GetObject index/{month}.jsonl"
READ_SIDECAR = "GetObject metadata/{date}/{call-id}.json"
HEAD_AUDIO = "HeadObject audio/{date}/{call-id}.wav"
DEFAULT_WORKERS = 4


class RecordingsConnector:
    """Calls and chatbot sessions found by caller number (weak) and customer id (strong); reveals nothing."""

    system: ClassVar[str] = SYSTEM
    accepts: ClassVar[frozenset[IdentityType]] = ACCEPTS
    reveals: ClassVar[frozenset[IdentityType]] = frozenset()
    sources: ClassVar[Mapping[str, Source]] = SOURCES

    def __init__(self, bucket: Bucket, *, page_size: int = MAX_KEYS, workers: int = DEFAULT_WORKERS,
                 index_cache: IndexCache = SHARED) -> None:
        if not 0 < page_size <= MAX_KEYS:
            raise ValueError(f"page_size must be 1..{MAX_KEYS}")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.bucket = bucket
        self.page_size = page_size
        self.workers = workers
        self.index_cache = index_cache

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, policy: RetryPolicy | None = None,
                      timeout: float | None = None, connect_timeout: float | None = None,
                      read_timeout: float | None = None, page_size: int = MAX_KEYS,
                      workers: int = DEFAULT_WORKERS, index_cache: IndexCache = SHARED) -> RecordingsConnector:
        """Build from the call centre's endpoint and credentials (DSAR_RECORDINGS_ENDPOINT_URL,
        DSAR_RECORDINGS_REGION, DSAR_RECORDINGS_ACCESS_KEY_ID, DSAR_RECORDINGS_SECRET_ACCESS_KEY) and
        DSAR_RECORDINGS_BUCKET; keywords are for tests and tuning.

        Why its own settings: the recordings are a source system in the call centre's account, not the
        controller's own S3 and KMS (DSAR_S3_*/DSAR_AWS_*), which hold the inbox, the work store and the
        packages. An empty endpoint is AWS itself; empty credentials use the default credential chain;
        an empty region falls back to DSAR_AWS_REGION.

        `timeout` sets both the connect and the read timeout (seconds); the specific ones win. `workers`
        S3 requests run at once (month indexes, then sidecars), results still in order.
        """
        bucket = settings.get("DSAR_RECORDINGS_BUCKET", "").strip()
        if not bucket:
            raise ValueError(f"{SYSTEM}: missing setting DSAR_RECORDINGS_BUCKET")
        key_id = settings.get("DSAR_RECORDINGS_ACCESS_KEY_ID", "").strip()
        secret = settings.get("DSAR_RECORDINGS_SECRET_ACCESS_KEY", "").strip()
        if bool(key_id) != bool(secret):
            raise ValueError(f"{SYSTEM}: set both DSAR_RECORDINGS_ACCESS_KEY_ID and DSAR_RECORDINGS_SECRET_ACCESS_KEY, "
                             "or neither (the default credential chain)")
        region = settings.get("DSAR_RECORDINGS_REGION", "").strip() or settings.get("DSAR_AWS_REGION", "").strip()
        s3 = S3Settings(bucket=bucket, endpoint_url=settings.get("DSAR_RECORDINGS_ENDPOINT_URL", "").strip(),
                        region=region, access_key_id=key_id, secret_access_key=secret)
        client = make_client(
            s3, connect_timeout_s=connect_timeout or timeout or DEFAULT_CONNECT_TIMEOUT_S,
            read_timeout_s=read_timeout or timeout or DEFAULT_READ_TIMEOUT_S, max_pool_connections=workers + 2)
        return cls(Bucket(client, bucket, policy), page_size=page_size, workers=workers, index_cache=index_cache)

    # -- the contract -----------------------------------------------------------------------------

    @property
    def calls_made(self) -> int:
        return self.bucket.requests

    def close(self) -> None:
        self.bucket.close()

    def __enter__(self) -> RecordingsConnector:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def discover(self, identifiers: Sequence[Identifier]) -> Iterator[Identifier]:
        """Nothing: the call centre knows a caller by number and customer id, both of which we searched by."""
        yield from ()

    def collect(self, identifiers: Sequence[Identifier]) -> Iterator[Record]:
        """One record per matched call, month by month (oldest first), each call once, as a stream."""
        wanted = Wanted(identifiers)
        if not wanted:
            return
        months = ((key, etag) for key, etag in self.bucket.objects(INDEX_PREFIX, LIST_INDEXES, self.page_size)
                  if _is_month_index(key))
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="recordings")
        try:
            hits = chain.from_iterable(ordered_map(pool, partial(self._scan, wanted=wanted), months, self.workers))
            yield from ordered_map(pool, self._record, _each_call_once(hits), self.workers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def copy_attachment(self, attachment: Attachment, sink: BinaryIO,
                        chunk_size: int = DEFAULT_CHUNK_BYTES) -> CopyResult:
        """Stream a record's audio into `sink` in chunks, hashing it; see `copying`.

        Raises ConnectorError when the object cannot be copied whole (the sink then holds a partial
        copy: discard it); errors of the sink itself (disk full) propagate unchanged.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        try:
            key = self.bucket.key_of(attachment.uri)
        except ValueError as exc:
            raise ConnectorError(SYSTEM, f"copy: {exc}") from None
        return copy_object(self.bucket, key, attachment.size, sink, chunk_size)

    # -- reading ----------------------------------------------------------------------------------

    def _scan(self, month: tuple[str, str], wanted: Wanted) -> list[Hit]:
        """A whole month index, read again from its start on a transient failure: its matches, only
        once every byte of it arrived (nothing from a partial read is kept). An index unchanged since
        another request of this process read it (same ETag) is not read again (`index_cache`)."""
        key, etag = month
        lines = self.index_cache.lines(self.bucket.identity, key, etag,
                                       lambda: self.bucket.call(READ_INDEX, lambda: self.bucket.read_lines(key)))
        return [hit for number, raw in enumerate(lines, 1) if (hit := match_line(raw, number, wanted)) is not None]

    def _record(self, hit: Hit) -> Record:
        doc = self.bucket.call(READ_SIDECAR, lambda: self.bucket.document(hit.metadata_key))
        fields = _fields(doc, hit)
        matched_by = _confirmed(hit, fields)
        attachment = self._attachment(hit, doc)
        started: datetime = fields["started_at"]
        return make_record(self, CALLS, hit.call_id, fields, matched_by, datetime.now(UTC),
                           attachment=attachment, event_date=started.date())

    def _attachment(self, hit: Hit, doc: Mapping[str, Any]) -> Attachment | None:
        recording = doc.get("recording")
        key = hit.audio_key or (recording.get("key") if isinstance(recording, dict) else None)
        if not key:
            return None
        if isinstance(recording, dict) and recording.get("key") not in (None, key):
            raise ConnectorError(SYSTEM, f"{READ_SIDECAR}: the sidecar names another audio object than the index")
        head = self.bucket.call(HEAD_AUDIO, lambda: self.bucket.head(key))
        content_type = str(head.get("ContentType") or "")
        return Attachment(uri=self.bucket.uri(key), size=int(head["ContentLength"]),
                          media_type=content_type if content_type.startswith("audio/") else DEFAULT_MEDIA_TYPE)


def _each_call_once(hits: Iterable[Hit]) -> Iterator[Hit]:
    seen: set[str] = set()
    for hit in hits:
        if hit.call_id not in seen:
            seen.add(hit.call_id)
            yield hit


def _is_month_index(key: str) -> bool:
    name = key.removeprefix(INDEX_PREFIX)
    return len(name) == len("YYYY-MM.jsonl") and name.endswith(".jsonl") and name[4] == "-" \
        and name[:4].isascii() and name[:4].isdigit() and name[5:7].isascii() and name[5:7].isdigit()


def _fields(doc: Any, hit: Hit) -> dict[str, Any]:
    """The record's fields from a sidecar, checked to be the sidecar of the call the index named."""
    if not isinstance(doc, dict) or doc.get("schema") != METADATA_SCHEMA:
        raise ConnectorError(SYSTEM, f"{READ_SIDECAR}: not a {METADATA_SCHEMA} document")
    if doc.get("call_id") != hit.call_id:
        raise ConnectorError(SYSTEM, f"{READ_SIDECAR}: the sidecar is of another call than the index names")
    fields = {name: doc.get(name) for name in SOURCES[CALLS].fields if name != "transcript"}
    for name in DATETIME_FIELDS:
        fields[name] = _instant(fields[name], name, required=name == "started_at")
    fields["transcript"] = structured_transcript(doc.get("transcript") or [], doc.get("agent_id"),
                                                 doc.get("agent_name"))
    return fields


def _instant(raw: Any, name: str, required: bool) -> datetime | None:
    if raw is None and not required:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise ConnectorError(SYSTEM, f"{READ_SIDECAR}: {name} is not an RFC 3339 instant") from None


def _confirmed(hit: Hit, fields: Mapping[str, Any]) -> tuple[Identifier, ...]:
    """The identifiers that found the call in the index and that its sidecar confirms.

    The sidecar is the call centre's full record: a customer id the index carries but the sidecar
    does not must not make the record strong.
    """
    confirmed = Wanted(hit.matched_by).matching(fields.get("caller_number"), fields.get("customer_id"))
    if not confirmed:
        raise ConnectorError(SYSTEM, f"{READ_SIDECAR}: the sidecar carries neither the caller number nor the "
                                     "customer id the index matched")
    return confirmed
