"""Anchors: the audit chain's head, signed and stored outside the database.

Why: the chain is keyless, so whoever can rewrite the audit table can recompute every hash after
an edit, or cut events off the end. An anchor is a signed statement "event ``seq`` of the chain
has hash ``head_hash``", written (1) to the work bucket under ``audit-anchors/`` with S3 Object
Lock in COMPLIANCE mode (nobody, the root account included, can delete or overwrite it before its
retain-until date) and (2) to the INSERT-only ``dsar_audit_anchors`` table, so the chain can be
checked against anchors even when the bucket is unreachable. Anything changed at or before an
anchored event, or a tail cut below it, no longer matches a valid signature. Events after the
newest anchor are only as safe as the database; hence anchoring daily and after every delivery.

No Dagster here: the op in ``assets/audit.py`` and the delivery step call :func:`anchor_head`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dsar_pipeline.audit.chain import canonical_json, format_timestamp
from dsar_pipeline.audit.signing import (
    SIGNATURE_ALGORITHM,
    AnchorSigner,
    PublicKey,
    key_fingerprint,
    signature_valid,
    signer_from_settings,
)

if TYPE_CHECKING:
    from dsar_pipeline.audit.trail import AuditTrail

ANCHOR_PREFIX = "audit-anchors/"
DEFAULT_RETENTION_DAYS = 3650
RETENTION_DAYS = "DSAR_AUDIT_ANCHOR_RETENTION_DAYS"
WORK_BUCKET = "DSAR_WORK_BUCKET"


@dataclass(frozen=True)
class Anchor:
    """A signed (seq, head_hash) of the whole chain at ``anchored_at``."""

    seq: int
    head_hash: str
    anchored_at: str
    key_id: str
    key_fingerprint: str
    signature: str  # base64 DER ECDSA signature of digest()
    algorithm: str = SIGNATURE_ALGORITHM

    def statement(self) -> bytes:
        """The signed bytes: every field except the signature, canonical JSON."""
        return canonical_json({
            "type": "dsar-audit-anchor", "v": 1, "seq": self.seq, "head_hash": self.head_hash,
            "anchored_at": self.anchored_at, "key_id": self.key_id, "key_fingerprint": self.key_fingerprint,
            "algorithm": self.algorithm,
        }).encode("ascii")

    def digest(self) -> bytes:
        return hashlib.sha256(self.statement()).digest()

    def object_key(self) -> str:
        """Sortable by seq; the time keeps two anchors of one head apart."""
        stamp = self.anchored_at.replace("-", "").replace(":", "").replace(".", "")
        return f"{ANCHOR_PREFIX}{self.seq:012d}-{stamp}.json"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, item: dict[str, Any]) -> Anchor:
        return cls(seq=int(item["seq"]), head_hash=str(item["head_hash"]), anchored_at=str(item["anchored_at"]),
                   key_id=str(item["key_id"]), key_fingerprint=str(item["key_fingerprint"]),
                   signature=str(item["signature"]), algorithm=str(item.get("algorithm") or SIGNATURE_ALGORITHM))


def sign_anchor(seq: int, head_hash: str, signer: AnchorSigner, now: datetime | None = None) -> Anchor:
    """Sign the statement that event ``seq`` has hash ``head_hash``."""
    unsigned = Anchor(seq=seq, head_hash=head_hash, anchored_at=format_timestamp(now or datetime.now(UTC)),
                      key_id=signer.key_id, key_fingerprint=key_fingerprint(signer.public_key()), signature="")
    signature = base64.b64encode(signer.sign_digest(unsigned.digest())).decode("ascii")
    return Anchor(**{**unsigned.to_dict(), "signature": signature})


def anchor_problem(anchor: Anchor, public_keys: Iterable[PublicKey], where: str) -> str | None:
    """Why this anchor's signature cannot be trusted, or None when it verifies with a known key."""
    for key in public_keys:
        if key_fingerprint(key) == anchor.key_fingerprint:
            try:
                signature = base64.b64decode(anchor.signature, validate=True)
            except ValueError:
                signature = b""
            if signature_valid(key, anchor.digest(), signature):
                return None
            return f"audit anchor for event {anchor.seq} ({where}, {anchor.anchored_at}) has an invalid signature"
    return (f"audit anchor for event {anchor.seq} ({where}, {anchor.anchored_at}) is signed by an unknown key "
            f"{anchor.key_fingerprint} (give its public key with --public-key)")


def put_anchor(s3_client: Any, bucket: str, anchor: Anchor, retention_days: int, now: datetime) -> str:
    """Write the anchor under COMPLIANCE-mode Object Lock; returns its object key."""
    key = anchor.object_key()
    s3_client.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(anchor.to_dict(), sort_keys=True).encode("ascii"),
        ContentType="application/json", ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=now + timedelta(days=retention_days))
    return key


def read_bucket_anchors(s3_client: Any, bucket: str) -> Iterator[tuple[Anchor, bool]]:
    """Every anchor object in the bucket, with whether it is under COMPLIANCE retention."""
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=ANCHOR_PREFIX):
        for item in page.get("Contents", []):
            answer = s3_client.get_object(Bucket=bucket, Key=item["Key"])
            body = answer["Body"].read(64 * 1024)
            locked = answer.get("ObjectLockMode") == "COMPLIANCE"
            try:
                yield Anchor.from_dict(json.loads(body)), locked
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"anchor object {item['Key']} is not a readable anchor") from exc


def anchor_head(trail: AuditTrail, s3_client: Any | None, bucket: str | None, signer: AnchorSigner, *,
                retention_days: int = DEFAULT_RETENTION_DAYS, now: datetime | None = None) -> Anchor:
    """Sign the chain's current head, lock it in the bucket (when given), record it in the database.

    The bucket comes first: an anchor that reached only the database proves little, so a failing
    PutObject raises before anything is recorded and the caller (schedule, delivery) fails loudly.
    """
    if retention_days < 1:
        raise ValueError("anchor retention must be at least one day")
    moment = now or datetime.now(UTC)
    seq, head_hash = trail.head()
    anchor = sign_anchor(seq, head_hash, signer, moment)
    object_key = put_anchor(s3_client, bucket, anchor, retention_days, moment) if s3_client and bucket else None
    trail.record_anchor(anchor, object_key)
    return anchor


def retention_days_from(settings: Mapping[str, str]) -> int:
    """``DSAR_AUDIT_ANCHOR_RETENTION_DAYS`` (default 3650: ten years, longer than any retention duty)."""
    raw = (settings.get(RETENTION_DAYS) or "").strip()
    try:
        days = int(raw) if raw else DEFAULT_RETENTION_DAYS
    except ValueError:
        raise ValueError(f"{RETENTION_DAYS} must be a whole number of days") from None
    if days < 1:
        raise ValueError(f"{RETENTION_DAYS} must be at least 1")
    return days


def anchor_from_settings(trail: AuditTrail, settings: Mapping[str, str], client: Callable[[str], Any],
                         signer: AnchorSigner | None = None) -> Anchor:
    """Anchor with what the ``DSAR_*`` settings name: KMS or key-file signer, ``DSAR_WORK_BUCKET``.

    ``client(service)`` builds a boto3 client (``"s3"``, ``"kms"``) for the configured endpoints.
    Without ``DSAR_WORK_BUCKET`` (embedded default without S3) the anchor is kept in the database only.
    """
    bucket = (settings.get(WORK_BUCKET) or "").strip()
    signer = signer or signer_from_settings(settings, lambda: client("kms"))
    return anchor_head(trail, client("s3") if bucket else None, bucket or None, signer,
                       retention_days=retention_days_from(settings))


__all__ = [
    "ANCHOR_PREFIX",
    "DEFAULT_RETENTION_DAYS",
    "RETENTION_DAYS",
    "WORK_BUCKET",
    "Anchor",
    "anchor_from_settings",
    "anchor_head",
    "anchor_problem",
    "put_anchor",
    "read_bucket_anchors",
    "retention_days_from",
    "sign_anchor",
]
