"""What the call centre holds on a call, field by field: each field's data category and retention rule.

Field names are the metadata sidecar's own (`metadata/YYYY/MM/DD/<call-id>.json`), so a record is
what the call centre holds, not our paraphrase of it. Voice and chatbot sessions are one source:
they are kept for the same reason and period (call recordings, counted from the call). The agent
who took the call is another person (Art. 15(4)): kept in the record, tagged `third_party.staff`,
so the package can redact it; transcript turns say who spoke, naming the agent where one did.
"""

from __future__ import annotations

from connectors.contract import Source

CALLS = "calls"
CALL_METADATA = "user.content.call_metadata"

SOURCES: dict[str, Source] = {
    CALLS: Source(
        CALLS,
        {"call_id": "user.unique_id",
         "channel": CALL_METADATA,
         "caller_number": "user.contact.phone_number",
         "customer_id": "user.unique_id",
         "agent_id": "third_party.staff",
         "agent_name": "third_party.staff",
         "started_at": CALL_METADATA,
         "ended_at": CALL_METADATA,
         "duration_s": CALL_METADATA,
         "queue": CALL_METADATA,
         "language": CALL_METADATA,
         "transcript": "user.content.chat_transcript"},
        "voice calls and chatbot sessions (metadata sidecars; a voice call's audio is its attachment); "
        "event date = start of the call (UTC)",
        retention_rule="call_recording"),
}

# Sidecar fields holding RFC 3339 UTC instants (`...Z`).
DATETIME_FIELDS = frozenset({"started_at", "ended_at"})
