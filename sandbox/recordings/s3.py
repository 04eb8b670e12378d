"""Call recordings: the call centre's S3-compatible endpoint; the controller's own S3 and KMS beside it.

Connector author: this is the API you get. It is Amazon S3 and AWS KMS as boto3 speaks them (moto
5.2 behind the scenes); the points below are what this system adds on top of the AWS reference.

Endpoints, accounts and auth
    Two endpoints, two AWS accounts (`sandbox.recordings.accounts`), as in production:
    - the call centre's (`DSAR_RECORDINGS_ENDPOINT_URL`): S3 only, the bucket `call-recordings`;
      access key `call-centre-reader`, secret `call-centre-secret` (`DSAR_RECORDINGS_ACCESS_KEY_ID`,
      `DSAR_RECORDINGS_SECRET_ACCESS_KEY`). This is the source system: its faults are `recordings=...`.
    - the controller's own (`DSAR_S3_ENDPOINT_URL` = `DSAR_KMS_ENDPOINT_URL`): S3 (REST/XML) and KMS
      (JSON 1.1) on one base URL, the service picked from the SigV4 credential scope; the buckets
      `dsar-inbox`, `dsar-packages`, `dsar-work` and the KMS keys; access key `testing`, secret
      `testing`. No fault of the sandbox touches it.
    An endpoint refuses another account's access key, bucket or service with 403 (`InvalidAccessKeyId`,
    `AccessDenied`; KMS: `AccessDeniedException`), and unsigned requests. Signatures are not verified.
    Region `eu-north-1`. Use path-style addressing (`Config(s3={"addressing_style": "path"})`); an IP
    host cannot carry virtual-hosted bucket names.

Buckets (all in eu-north-1)
    `call-recordings`   the call centre's store, read-only for the pipeline:
        `audio/YYYY/MM/DD/<call-id>.wav`      voice calls only. WAV, 8 kHz mono 16-bit PCM
            (`audio/wav`). User metadata (`x-amz-meta-*`, all strings): `call-id`, `caller-number`
            (E.164), `customer-id` (billing customer id; ABSENT when the agent did not match the
            caller), `agent-id`, `started-at` (RFC 3339 UTC, `...Z`), `duration-s` (length of the
            call, not of the sandbox's short clip), `queue`, `channel` (`voice`), `language`.
        `metadata/YYYY/MM/DD/<call-id>.json`  every call, voice AND chatbot: the full metadata,
            `{"schema": "call-metadata/1", "call_id", "channel": "voice"|"chatbot",
            "caller_number", "customer_id": int|null, "agent_id", "agent_name", "started_at",
            "ended_at", "duration_s", "queue", "language", "recording": null (chatbot) |
            {"key", "content_type", "size_bytes", "sample_rate_hz", "channels", "bits_per_sample",
            "clip_seconds"}, "transcript": [{"speaker", "text"}] (chatbot sessions; [] for voice)}`.
            Agent names and transcripts name people other than the caller.
        `index/YYYY-MM.jsonl`                 S3 has no query, so the call centre keeps one index
            per month of call start (UTC): one JSON object per line, sorted by `started_at`:
            `{"call_id", "caller_number", "customer_id": int|null, "started_at", "channel",
            "audio_key": str|null, "metadata_key"}`. To find a person's calls, list `index/` and
            stream each month (`iter_lines`), matching `caller_number` and/or `customer_id`.
            Phone numbers are shared within households: a number match alone is weak.
        Date parts of keys are the call's start in UTC. Calls go back about three years.
    `dsar-inbox`        request tickets arrive as `tickets/<name>.json` (OpenDSR-shaped JSON, as
        delivered: validate it). New tickets appear at any time; list by prefix `tickets/`.
    `dsar-packages`     default encryption SSE-KMS with the key `alias/dsar-pipeline` (bucket key
        enabled): every object put without its own SSE settings is stored `aws:kms`.
    `dsar-work`         scratch space for intermediates. Created with S3 Object Lock (hence
        versioning): the audit trail's anchors go under `audit-anchors/` with COMPLIANCE-mode
        retention, and deleting a locked object version is refused with 403 `AccessDenied`, as in S3.
        (moto lets a COMPLIANCE retention be shortened, which S3 refuses; do not rely on either.)
    `call-recordings`, `dsar-inbox` and `dsar-work` default to SSE-S3 (`AES256`), as real S3 does.

KMS
    Symmetric key with alias `alias/dsar-pipeline` (`GenerateDataKey` with `KeySpec=AES_256`,
    `Decrypt`, `Encrypt`, `DescribeKey`, ... as in AWS). Use `alias/dsar-pipeline` as the KeyId.
    Asymmetric key `alias/dsar-audit-signing` (ECC_NIST_P256, SIGN_VERIFY) signs the audit trail's
    anchors: `Sign`/`Verify` with `SigningAlgorithm=ECDSA_SHA_256` and `MessageType` RAW or DIGEST
    (a DIGEST message is signed as given, as AWS does; moto alone would hash it again),
    `GetPublicKey` (DER SubjectPublicKeyInfo).

Operations worth knowing
    ListObjectsV2 pages with `MaxKeys` (default and maximum 1000) and `ContinuationToken`: never
    assume one page. GetObject supports `Range: bytes=a-b` (206) and streams: read bodies in chunks
    (`iter_chunks`), never a whole object or listing into memory. HeadObject returns the metadata
    without the body. Presigned GET URLs (SigV4 query auth) work; `X-Amz-Expires` is at most
    604800 s (7 days, else 400 `AuthorizationQueryParametersError`) and an expired URL is refused
    with 403 `AccessDenied` ("Request has expired"), as in S3.

Errors
    S3 answers errors as XML `<Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId>
    </Error>`: 404 `NoSuchKey` / `NoSuchBucket`, 403 `AccessDenied`, 416 `InvalidRange`,
    429 `SlowDown` (with `Retry-After` seconds: back off), 500 `InternalError`,
    503 `ServiceUnavailable`, 504 `RequestTimeout`. KMS answers errors as JSON
    `{"__type": ..., "message": ...}`, except the throttling/outage answers above, which come
    from the front door in the S3 XML shape for both services: go by the HTTP status.
    The service may be slow, hang, cut a body short (fewer bytes than `Content-Length`, then the
    connection closes) or refuse connections: use connect/read timeouts and verify lengths.
    How a cut-short answer reaches boto3: reading a GetObject body raises
    `ResponseStreamingError`; other S3 calls fail as a `ClientError` with HTTP status 500 (botocore
    treats an unparsable 200 as a server error); a KMS call may RETURN a response without its
    fields (`ResponseMetadata.MaxAttemptsReached` true, no `Plaintext`): check fields are present.

Rate limits
    None fixed; bursts of 429 `SlowDown` with `Retry-After: 1` can occur at any time.

The moto backends live in process memory and are shared by every app made in one process: run the
sandbox in its own process. `/moto-api/...` (moto's reset/dashboard) is not exposed.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from sandbox.recordings.accounts import Account, AccountGate
from sandbox.recordings.seed import SeedInfo, drop_ticket, seed_recordings

__all__ = ["SeedInfo", "create_s3_app", "drop_ticket", "s3_error_body", "seed_recordings"]

log = logging.getLogger(__name__)

MAX_PRESIGN_SECONDS = 7 * 24 * 3600
MAX_KEYS = 1000
MAX_KEYS_PARAM = re.compile(r"(?<![^&])max-keys=(\d+)")
ERROR_CODES = {
    "400": "InvalidRequest",
    "403": "AccessDenied",
    "404": "NoSuchKey",
    "429": "SlowDown",
    "500": "InternalError",
    "503": "ServiceUnavailable",
    "504": "RequestTimeout",
}
HIDDEN_PREFIXES = ("/moto-api", "/latest/meta-data", "/latest/api")

StartResponse = Callable[..., Any]


def s3_error_body(status: str, message: str, code: str | None = None) -> tuple[bytes, str]:
    """An S3 XML error document for an HTTP status line such as `503 Service Unavailable`."""
    code = code or ERROR_CODES.get(status.split(" ", 1)[0], "InternalError")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>")
    return body.encode(), "application/xml"


class _Dispatcher(DomainDispatcherApplication):
    """moto's host-to-backend dispatcher, remembering its answers.

    moto 5.2 lists its own package directory on every lookup (~100 `stat`s, a third of the CPU of
    a small PUT); the answer for a given host string never changes within a process.
    """

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backend_of: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backend_of:
            self._backend_of[host] = super().get_backend_for_host(host)
        return self._backend_of[host]


class S3Endpoint:
    """moto's S3+KMS dispatcher behind a front door that adds what moto leaves out of S3."""

    def __init__(self) -> None:
        self.moto = _Dispatcher()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(HIDDEN_PREFIXES):
            return _refuse(start_response, "404 Not Found", "The specified bucket does not exist", "NoSuchBucket")
        refusal = _presign_refusal(environ.get("QUERY_STRING", ""), datetime.now(UTC))
        if refusal is not None:
            status, code, message = refusal
            return _refuse(start_response, status, message, code)
        environ["QUERY_STRING"] = _cap_max_keys(environ.get("QUERY_STRING", ""))
        try:
            return self.moto(environ, start_response)
        except Exception as exc:
            # Type only: messages and tracebacks can carry keys and query strings.
            log.error("recordings endpoint failed with %s", type(exc).__name__)
            return _refuse(start_response, "500 Internal Server Error", "We encountered an internal error.")


def create_s3_app(account: Account | None = None) -> S3Endpoint | AccountGate:
    """The WSGI app of an S3+KMS endpoint (state: this process's moto backends), serving one account's
    credentials, buckets and keys when `account` is given (the federation runs two), everything otherwise."""
    _honour_kms_digest_messages()
    _free_deleted_objects()
    endpoint = S3Endpoint()
    if account is None:
        return endpoint
    return AccountGate(endpoint, account, lambda start_response, status, code, message: _refuse(
        start_response, status, message, code))


class _WeakInstances:
    """moto's class-wide list of a model's instances, holding them weakly (`append` and iteration are all
    moto asks of it)."""

    def __init__(self, made: Iterable[Any] = ()) -> None:
        self._live: weakref.WeakSet[Any] = weakref.WeakSet(made)

    def append(self, instance: Any) -> None:
        self._live.add(instance)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._live))

    def __len__(self) -> int:
        return len(self._live)


def _free_deleted_objects() -> None:
    """Let moto free the objects it no longer stores.

    moto 5.2 keeps every S3 object (`FakeKey`, with its bytes) it ever made in a class-wide list, for its
    dashboard and its reset (neither exposed here), so a deleted object never left memory: the cluster
    benchmark's work-store traffic (sealed step outputs put and purged) grew the sandbox past 20 GB until
    the kernel stopped it. The list now holds them weakly; an object leaves memory when no bucket holds
    any version of it (moto then closes its buffer without being asked, which it would warn about).
    """
    from moto.s3.models import FakeDeleteMarker, FakeKey, FakeMultipart

    warnings.filterwarnings("ignore", "S3 key was not disposed of in time", ResourceWarning)
    for model in (FakeKey, FakeMultipart, FakeDeleteMarker):
        if not isinstance(model.instances_tracked, _WeakInstances):
            model.instances_tracked = _WeakInstances(model.instances_tracked)


_DIGEST_ALGORITHMS = {"ECDSA_SHA_256": (hashes.SHA256, 32), "ECDSA_SHA_384": (hashes.SHA384, 48),
                      "ECDSA_SHA_512": (hashes.SHA512, 64)}


def _honour_kms_digest_messages() -> None:
    """Make KMS Sign/Verify treat ``MessageType=DIGEST`` as AWS does: the message IS the digest.

    moto 5.2 ignores the parameter and hashes the digest again, so a signature made for a digest
    would not verify with the public key. Only ECC keys with DIGEST messages are handled here;
    everything else (and every validation error) stays moto's.
    """
    from moto.kms.responses import KmsResponse

    if getattr(KmsResponse, "_dsar_digest_patch", False):
        return
    moto_sign, moto_verify = KmsResponse.sign, KmsResponse.verify

    def digest_request(response: Any) -> tuple[Any, Any, bytes, str] | None:
        algorithm = response._get_param("SigningAlgorithm")
        if response._get_param("MessageType") != "DIGEST" or algorithm not in _DIGEST_ALGORITHMS:
            return None
        key = response.kms_backend.describe_key(response._get_param("KeyId"))
        inner = getattr(key.private_key, "private_key", None)
        message = response._get_param("Message")
        message = message.encode("utf-8") if isinstance(message, str) else message
        size = _DIGEST_ALGORITHMS[algorithm][1]
        if key.key_usage != "SIGN_VERIFY" or not isinstance(inner, ec.EllipticCurvePrivateKey) or len(message) != size:
            return None
        return key, inner, message, algorithm

    def sign(self: Any) -> str:
        found = digest_request(self)
        if found is None:
            return moto_sign(self)
        key, private, digest, algorithm = found
        signature = private.sign(digest, ec.ECDSA(utils.Prehashed(_DIGEST_ALGORITHMS[algorithm][0]())))
        return json.dumps({"KeyId": key.arn, "Signature": base64.b64encode(signature).decode("ascii"),
                           "SigningAlgorithm": algorithm})

    def verify(self: Any) -> str:
        found = digest_request(self)
        if found is None:
            return moto_verify(self)
        key, private, digest, algorithm = found
        signature = self._get_param("Signature")
        signature = base64.b64decode(signature) if isinstance(signature, str) else signature
        try:
            private.public_key().verify(signature, digest,
                                        ec.ECDSA(utils.Prehashed(_DIGEST_ALGORITHMS[algorithm][0]())))
            valid = True
        except InvalidSignature:
            valid = False
        return json.dumps({"KeyId": key.arn, "SignatureValid": valid, "SigningAlgorithm": algorithm})

    KmsResponse.sign, KmsResponse.verify = sign, verify  # type: ignore[method-assign]
    KmsResponse._dsar_digest_patch = True  # type: ignore[attr-defined]


def _refuse(start_response: StartResponse, status: str, message: str, code: str | None = None) -> list[bytes]:
    body, content_type = s3_error_body(status, message, code)
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _cap_max_keys(query_string: str) -> str:
    """S3 returns at most 1000 keys a page whatever `max-keys` asks; moto would return them all."""
    return MAX_KEYS_PARAM.sub(lambda m: f"max-keys={min(int(m.group(1)), MAX_KEYS)}", query_string)


def _presign_refusal(query_string: str, now: datetime) -> tuple[str, str, str] | None:
    """S3's checks on a SigV4 presigned URL's lifetime, which moto does not make."""
    if "X-Amz-Expires" not in query_string:
        return None
    query = parse_qs(query_string)
    try:
        expires = int(query["X-Amz-Expires"][0])
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return ("400 Bad Request", "AuthorizationQueryParametersError",
                "X-Amz-Expires and X-Amz-Date must be present and well formed")
    if not 0 < expires <= MAX_PRESIGN_SECONDS:
        return ("400 Bad Request", "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800")
    if now > signed_at + timedelta(seconds=expires):
        return "403 Forbidden", "AccessDenied", "Request has expired"
    return None
