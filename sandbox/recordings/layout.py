"""What the call-centre system keeps in S3 for one call: keys, object metadata, sidecar, index lines.

Pure functions from a `Call` to the documents stored about it, so the seeder, the tests and the
docstring of `sandbox.recordings.app` agree on one layout. `person_key` (who really called) is
ground truth and never written: the call centre only knows the number and the matched customer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.records import Call

RECORDINGS_BUCKET = "call-recordings"
INBOX_BUCKET = "dsar-inbox"
PACKAGES_BUCKET = "dsar-packages"
WORK_BUCKET = "dsar-work"
BUCKETS = (RECORDINGS_BUCKET, INBOX_BUCKET, PACKAGES_BUCKET, WORK_BUCKET)
TICKETS_PREFIX = "tickets/"
INDEX_PREFIX = "index/"
KMS_ALIAS = "alias/dsar-pipeline"
METADATA_SCHEMA = "call-metadata/1"


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, to the second: the one time format of this system."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def index_key(call: Call) -> str:
    """The month index a call is listed in (month of its start, UTC)."""
    return f"{INDEX_PREFIX}{call.started_at.astimezone(UTC):%Y-%m}.jsonl"


def object_metadata(call: Call) -> dict[str, str]:
    """S3 user metadata (`x-amz-meta-*`) on an audio object; ASCII only, as S3 headers must be."""
    meta = {
        "call-id": call.id,
        "caller-number": call.caller_number,
        "agent-id": call.agent_id,
        "started-at": iso_utc(call.started_at),
        "duration-s": str(call.duration_s),
        "queue": call.queue,
        "channel": call.channel,
        "language": call.language,
    }
    if call.customer_id is not None:
        meta["customer-id"] = str(call.customer_id)
    return meta


def sidecar(call: Call, recording: dict[str, Any] | None) -> dict[str, Any]:
    """The full metadata document at `call.metadata_key` (every call, voice or chatbot)."""
    return {
        "schema": METADATA_SCHEMA,
        "call_id": call.id,
        "channel": call.channel,
        "caller_number": call.caller_number,
        "customer_id": call.customer_id,
        "agent_id": call.agent_id,
        "agent_name": call.agent_name,
        "started_at": iso_utc(call.started_at),
        "ended_at": iso_utc(call.started_at + timedelta(seconds=call.duration_s)),
        "duration_s": call.duration_s,
        "queue": call.queue,
        "language": call.language,
        "recording": recording,
        "transcript": [dict(turn) for turn in call.transcript],
    }


def index_line(call: Call) -> dict[str, Any]:
    """One line of a month index: enough to find a caller's calls without opening each sidecar."""
    return {
        "call_id": call.id,
        "caller_number": call.caller_number,
        "customer_id": call.customer_id,
        "started_at": iso_utc(call.started_at),
        "channel": call.channel,
        "audio_key": call.audio_key,
        "metadata_key": call.metadata_key,
    }
