"""The ticket inbox (an S3 prefix): take each new ticket exactly once, and verify it there.

A valid ticket's identity evidence is verified once, here (signature, the signed request document
against the ticket, signing time, revocation, replay: `intake.verification`); the ticket and that
verdict are sealed into the work store under its opaque request id and the ticket is removed from
the inbox. A request whose evidence is `rejected` stops here: it is `refused` (its partition and
its verdict are recorded for the DPO, the helpdesk gets the reason code) and no run is started, so
nothing is collected and nothing is built. A re-delivered or duplicate ticket maps to the same
request id and starts nothing new; an invalid one is moved to `rejected/` and its one-line reason
goes to the helpdesk. Nothing else is written for an invalid ticket.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dsar_pipeline.intake import TicketError, parse_ticket
from dsar_pipeline.intake.sealed_tickets import TICKET_OBJECT, seal_ticket
from dsar_pipeline.sealing.keys import KeyProvider
from dsar_pipeline.sealing.workstore import WorkStore
from dsar_pipeline.signatures.verification import (
    ReplayRegistry,
    VerificationResult,
    VerificationStatus,
    load_configured_trust_anchors,
    verify_ticket,
)

MAX_TICKET_BYTES = 8 * 1024 * 1024
REJECTED_PREFIX = "rejected/"


@dataclass(frozen=True)
class Intake:
    """One new request: its ids and the verdict of its evidence (no personal values)."""

    request_id: str
    controller: str
    ticket_ref: str
    verification: VerificationResult

    @property
    def refused(self) -> bool:
        return self.verification.status is VerificationStatus.REJECTED


@dataclass
class InboxTick:
    accepted: list[Intake] = field(default_factory=list)  # verified or waiting for manual verification
    refused: list[Intake] = field(default_factory=list)  # evidence rejected: stopped at intake
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (inbox object name, reason): invalid tickets


def _names(client: Any, bucket: str, prefix: str, limit: int) -> Iterator[tuple[str, int]]:
    paginator = client.get_paginator("list_objects_v2")
    seen = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 500}):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            yield item["Key"], int(item["Size"])
            seen += 1
            if seen >= limit:
                return


def take_tickets(client: Any, settings: Mapping[str, str], store: WorkStore, keys: KeyProvider,
                 replay: ReplayRegistry | None, limit: int = 200) -> InboxTick:
    """Take up to `limit` tickets; `replay` remembers which signed container served which request."""
    bucket, prefix = settings["DSAR_INBOX_BUCKET"], settings.get("DSAR_INBOX_PREFIX", "tickets/")
    tick = InboxTick()
    anchors = load_configured_trust_anchors()
    for key, size in list(_names(client, bucket, prefix, limit)):
        name = key[len(prefix):]
        if size > MAX_TICKET_BYTES:
            _reject(client, bucket, key, name, tick, f"ticket larger than {MAX_TICKET_BYTES} bytes")
            continue
        raw = client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_TICKET_BYTES + 1)
        try:
            ticket = parse_ticket(raw)
        except TicketError as exc:
            _reject(client, bucket, key, name, tick, str(exc))
            continue
        request_id = ticket.request_id
        if store.exists(f"{request_id}/{TICKET_OBJECT}"):
            tick.duplicates += 1
        else:
            verdict = verify_ticket(ticket, trust_anchors=anchors, replay=replay, request_id=request_id)
            seal_ticket(store, keys, request_id, raw, verdict)
            intake = Intake(request_id, ticket.controller_id, ticket.subject_request_id, verdict)
            (tick.refused if intake.refused else tick.accepted).append(intake)
        client.delete_object(Bucket=bucket, Key=key)
    return tick


def _reject(client: Any, bucket: str, key: str, name: str, tick: InboxTick, reason: str) -> None:
    client.copy_object(Bucket=bucket, Key=REJECTED_PREFIX + name, CopySource={"Bucket": bucket, "Key": key})
    client.delete_object(Bucket=bucket, Key=key)
    tick.rejected.append((name, reason))
