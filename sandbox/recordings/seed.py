"""Fill the running S3/KMS endpoints: the call centre's recordings, and the controller's own buckets and keys.

Two accounts (`accounts`): the call centre's endpoint holds the recordings; the controller's holds the
inbox, the packages and the work store, and the KMS keys. Both may be one ungated endpoint (a test's).

Everything goes over the wire, exactly as an operator would provision real AWS, so the endpoint
under test is the same one that was seeded (and seeding works against a sandbox in another
process). Buckets, encryption and the KMS key go through boto3. The ~1000 small object PUTs of the
default population go through `_BulkPut`: the same SigV4-signed S3 PutObject, signed by botocore,
without a boto3 client's per-call machinery. Measured in one process with the endpoint (as the
federation runs it), a boto3 PutObject cost ~7.5 ms of CPU and a bare signed PUT ~4.5 ms, which
took seeding from ~8 s to ~5 s.
"""

from __future__ import annotations

import http.client
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from sandbox.population import Population
from sandbox.recordings import audio
from sandbox.recordings.accounts import CALL_CENTRE, CONTROLLER, Account
from sandbox.recordings.layout import (
    INBOX_BUCKET,
    KMS_ALIAS,
    PACKAGES_BUCKET,
    RECORDINGS_BUCKET,
    TICKETS_PREFIX,
    WORK_BUCKET,
    index_key,
    index_line,
    object_metadata,
    sidecar,
)
from sandbox.records import Call

DEFAULT_REGION = "eu-north-1"
SEED_THREADS = 4
AUDIT_SIGNING_ALIAS = "alias/dsar-audit-signing"
TICKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class SeedInfo:
    """What was provisioned, for the federation's settings and for the tests. `endpoint_url` is the call
    centre's (the recordings), `controller_endpoint_url` the controller's own (buckets and KMS)."""

    endpoint_url: str
    region: str
    recordings_bucket: str
    inbox_bucket: str
    inbox_prefix: str
    packages_bucket: str
    work_bucket: str
    kms_key_id: str
    kms_key_arn: str
    kms_alias: str
    calls: int
    audio_objects: int
    index_objects: int
    audit_signing_key_id: str = ""
    controller_endpoint_url: str = ""


def client(service: str, endpoint_url: str, region: str = DEFAULT_REGION, *, account: Account = CONTROLLER,
           **config: Any) -> Any:
    """A boto3 client for a sandbox endpoint (path-style addressing) with `account`'s credentials: the
    controller's by default; `CALL_CENTRE` to read the recordings as the call centre's endpoint wants."""
    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=region,
        aws_access_key_id=account.access_key_id, aws_secret_access_key=account.secret_access_key,
        config=Config(s3={"addressing_style": "path"}, **config))


def seed_recordings(population: Population, endpoint_url: str, region: str = DEFAULT_REGION, *,
                    controller_url: str | None = None) -> SeedInfo:
    """Provision the recordings bucket with every call of the population at `endpoint_url` (the call
    centre's), and the KMS keys and the controller's three buckets at `controller_url` (by default the
    same endpoint); buckets that exist are emptied."""
    retries = {"max_attempts": 3, "mode": "standard"}
    own_url = controller_url or endpoint_url
    s3 = client("s3", own_url, region, retries=retries)
    kms = client("kms", own_url, region)
    key_id, key_arn = _ensure_key(kms)
    signing_key_id = _ensure_signing_key(kms)
    for bucket in (INBOX_BUCKET, PACKAGES_BUCKET, WORK_BUCKET):
        # The work bucket also keeps the audit trail's anchors, which must outlive everyone's
        # permissions: Object Lock (hence versioning) from creation, as production sets it up.
        _ensure_empty_bucket(s3, bucket, region, object_lock=bucket == WORK_BUCKET)
    call_centre = client("s3", endpoint_url, region, account=CALL_CENTRE, retries=retries)
    _ensure_empty_bucket(call_centre, RECORDINGS_BUCKET, region)
    # Real S3 encrypts every new bucket with SSE-S3 since 2023; mirror that default.
    sse_s3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    call_centre.put_bucket_encryption(Bucket=RECORDINGS_BUCKET, ServerSideEncryptionConfiguration=sse_s3)
    for bucket in (INBOX_BUCKET, WORK_BUCKET):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=sse_s3)
    s3.put_bucket_encryption(Bucket=PACKAGES_BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": True}]})

    bulk = _BulkPut(endpoint_url, region, CALL_CENTRE)
    uploads: list[Callable[[], None]] = []
    audio_objects = 0
    for call in population.calls:
        recording = None
        if call.audio_key is not None:
            clip = audio.synth_wav(call.id)
            recording = {"key": call.audio_key, "content_type": "audio/wav", "size_bytes": len(clip.data),
                         "sample_rate_hz": audio.SAMPLE_RATE, "channels": audio.CHANNELS,
                         "bits_per_sample": audio.SAMPLE_WIDTH * 8, "clip_seconds": round(clip.seconds, 3)}
            uploads.append(bulk.job(call.audio_key, clip.data, "audio/wav", object_metadata(call)))
            audio_objects += 1
        body = json.dumps(sidecar(call, recording), ensure_ascii=False, indent=1).encode()
        uploads.append(bulk.job(call.metadata_key, body, "application/json", {"call-id": call.id}))
    months = _month_indexes(population.calls)
    for key, body in months.items():
        uploads.append(bulk.job(key, body, "application/x-ndjson", {}))
    with ThreadPoolExecutor(max_workers=SEED_THREADS, thread_name_prefix="seed-s3") as pool:
        for future in [pool.submit(upload) for upload in uploads]:
            future.result()
    return SeedInfo(endpoint_url=endpoint_url, region=region, recordings_bucket=RECORDINGS_BUCKET,
                    inbox_bucket=INBOX_BUCKET, inbox_prefix=TICKETS_PREFIX, packages_bucket=PACKAGES_BUCKET,
                    work_bucket=WORK_BUCKET, kms_key_id=key_id, kms_key_arn=key_arn, kms_alias=KMS_ALIAS,
                    calls=len(population.calls), audio_objects=audio_objects, index_objects=len(months),
                    audit_signing_key_id=signing_key_id, controller_endpoint_url=own_url)


def drop_ticket(endpoint_url: str, ticket_bytes: bytes, name: str, region: str = DEFAULT_REGION) -> str:
    """Deliver one request ticket to the inbox (at the controller's endpoint) as the web form would;
    returns its key.

    The bytes are stored as given (a malformed ticket is the pipeline's problem to report); `name`
    becomes the file name, with or without its `.json`.
    """
    stem = name.removesuffix(".json")
    if not TICKET_NAME.fullmatch(stem):
        raise ValueError("ticket name must be 1-128 characters of A-Z a-z 0-9 . _ - (no slashes)")
    key = f"{TICKETS_PREFIX}{stem}.json"
    client("s3", endpoint_url, region).put_object(
        Bucket=INBOX_BUCKET, Key=key, Body=ticket_bytes, ContentType="application/json")
    return key


class SeedError(RuntimeError):
    """The endpoint refused part of the seed; the message is one line for the user."""


class _BulkPut:
    """SigV4-signed S3 PutObject requests into the recordings bucket, one connection each.

    The sandbox's server closes every connection after one answer anyway, so there is no pool to
    keep; a failed PUT is tried once more before the seed is given up.
    """

    def __init__(self, endpoint_url: str, region: str, account: Account) -> None:
        parts = urlsplit(endpoint_url)
        self.url = endpoint_url.rstrip("/")
        self.base_path = parts.path.rstrip("/")
        self.connection: type[http.client.HTTPConnection] = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.signer = S3SigV4Auth(Credentials(account.access_key_id, account.secret_access_key), "s3", region)

    def job(self, key: str, body: bytes, content_type: str, metadata: dict[str, str]) -> Callable[[], None]:
        return lambda: self.put(key, body, content_type, metadata)

    def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str], attempts: int = 2) -> None:
        path = f"{self.base_path}/{RECORDINGS_BUCKET}/{quote(key, safe='/')}"
        headers = {"Content-Type": content_type, **{f"x-amz-meta-{name}": v for name, v in metadata.items()}}
        request = AWSRequest(method="PUT", url=self.url + path[len(self.base_path):], data=body, headers=headers)
        self.signer.add_auth(request)
        for attempt in range(1, attempts + 1):
            conn = self.connection(self.host, self.port, timeout=30)
            try:
                conn.request("PUT", path, body=body, headers=dict(request.headers.items()))
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
            except OSError as exc:
                problem = type(exc).__name__
            finally:
                conn.close()
            if attempt == attempts:
                raise SeedError(f"seeding {RECORDINGS_BUCKET} failed: PutObject answered {problem}")


def _month_indexes(calls: Iterable[Call]) -> dict[str, bytes]:
    by_month: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_month[index_key(call)].append(call)
    return {key: "".join(json.dumps(index_line(c), ensure_ascii=False) + "\n"
                         for c in sorted(items, key=lambda c: (c.started_at, c.id))).encode()
            for key, items in sorted(by_month.items())}


def _ensure_key(kms: Any) -> tuple[str, str]:
    """The pipeline's KMS key behind its alias; an existing alias is kept (stable across re-seeding)."""
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == KMS_ALIAS and alias.get("TargetKeyId"):
                meta = kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]
                return meta["KeyId"], meta["Arn"]
    meta = kms.create_key(Description="DSAR pipeline: envelope encryption and dsar-packages SSE-KMS",
                          KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
    kms.create_alias(AliasName=KMS_ALIAS, TargetKeyId=meta["KeyId"])
    return meta["KeyId"], meta["Arn"]


def _ensure_signing_key(kms: Any) -> str:
    """The audit trail's asymmetric signing key (ECC_NIST_P256, SIGN_VERIFY) behind its own alias."""
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == AUDIT_SIGNING_ALIAS and alias.get("TargetKeyId"):
                return str(kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"])
    meta = kms.create_key(Description="DSAR pipeline: signs the audit trail's anchors",
                          KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]
    kms.create_alias(AliasName=AUDIT_SIGNING_ALIAS, TargetKeyId=meta["KeyId"])
    return str(meta["Arn"])


def _ensure_empty_bucket(s3: Any, bucket: str, region: str, *, object_lock: bool = False) -> None:
    """Create the bucket, or empty an existing one (locked anchor versions stay, behind delete markers)."""
    options: dict[str, Any] = {"ObjectLockEnabledForBucket": True} if object_lock else {}
    try:
        if region == "us-east-1":  # the one region S3 refuses as an explicit location constraint
            s3.create_bucket(Bucket=bucket, **options)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}, **options)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
