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

import contextlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dsar_pipeline.intake import Ticket, TicketError, parse_ticket
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
INTAKE_THREADS = 8
"""Tickets taken side by side in a tick (each mostly waits on the inbox, OCSP, the time-stamp check, KMS)."""
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
    failed: list[str] = field(default_factory=list)  # error types of tickets left in the inbox for the next tick


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
                 replay: ReplayRegistry | None, limit: int = 200, threads: int = INTAKE_THREADS) -> InboxTick:
    """Take up to `limit` tickets; `replay` remembers which signed container served which request.

    Each ticket is read, verified, sealed and removed on one of `threads` threads: most of a ticket's
    time is waiting (the inbox, the OCSP responder, the time-stamp check, KMS), and a hundred tickets
    taken one after another kept a sensor tick busy for six seconds. What must happen once happens
    once whatever the order: the tickets are parsed, and told apart by request id, in the inbox's
    order before any is verified (the second ticket of a request is its duplicate, as it was one at a
    time), and a container claimed by two requests at once goes to one (the replay registry's key).
    A ticket whose handling failed stays in the inbox for the next tick (`failed`: the error's type
    only); the others are taken.
    """
    bucket, prefix = settings["DSAR_INBOX_BUCKET"], settings.get("DSAR_INBOX_PREFIX", "tickets/")
    tick = InboxTick()
    anchors = load_configured_trust_anchors()
    listed = list(_names(client, bucket, prefix, limit))
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(listed) or 1)), thread_name_prefix="intake") as pool:
        read = list(pool.map(lambda item: _read(client, bucket, *item), listed))
        chosen = _choose(client, bucket, prefix, listed, read, tick)
        taken = pool.map(lambda item: _take(client, bucket, store, keys, replay, anchors, *item), chosen)
        for outcome in taken:
            if isinstance(outcome, _Failed):
                tick.failed.append(outcome.error)
            elif outcome is None:
                tick.duplicates += 1
            else:
                (tick.refused if outcome.refused else tick.accepted).append(outcome)
    return tick


@dataclass(frozen=True)
class _Failed:
    error: str  # the exception's type: its message may hold personal values


def _choose(client: Any, bucket: str, prefix: str, listed: list[tuple[str, int]],
            read: list[tuple[bytes, Ticket] | str | _Failed], tick: InboxTick) -> list[tuple[str, bytes, Ticket]]:
    """In the inbox's order: invalid tickets rejected, a request's second ticket removed as a duplicate,
    unread ones counted as failed; the tickets left to take, one per request."""
    chosen: list[tuple[str, bytes, Ticket]] = []
    seen: set[str] = set()
    for (key, _), outcome in zip(listed, read, strict=True):
        if isinstance(outcome, _Failed):
            tick.failed.append(outcome.error)
        elif isinstance(outcome, str):
            _reject(client, bucket, key, key[len(prefix):], tick, outcome)
        elif outcome[1].request_id in seen:  # a second ticket of a request in this tick
            tick.duplicates += 1
            client.delete_object(Bucket=bucket, Key=key)
        else:
            seen.add(outcome[1].request_id)
            chosen.append((key, *outcome))
    return chosen


def _take(client: Any, bucket: str, store: WorkStore, keys: KeyProvider, replay: ReplayRegistry | None,
          anchors: Any, key: str, raw: bytes, ticket: Ticket) -> Intake | _Failed | None:
    """Verify, seal and remove one ticket: its intake, None when its request was sealed before (a
    duplicate), `_Failed` when it stays in the inbox for the next tick."""
    request_id = ticket.request_id
    try:
        if store.exists(f"{request_id}/{TICKET_OBJECT}"):
            intake = None
        else:
            verdict = verify_ticket(ticket, trust_anchors=anchors, replay=replay, request_id=request_id)
            seal_ticket(store, keys, request_id, raw, verdict)
            intake = Intake(request_id, ticket.controller_id, ticket.subject_request_id, verdict)
    except Exception as exc:  # this ticket only: it stays in the inbox for the next tick
        return _Failed(type(exc).__name__)
    with contextlib.suppress(Exception):  # sealed already: the next tick finds a duplicate and removes it
        client.delete_object(Bucket=bucket, Key=key)
    return intake


def _read(client: Any, bucket: str, key: str, size: int) -> tuple[bytes, Ticket] | str | _Failed:
    """The ticket at `key` and its parse; a string: why it is invalid; `_Failed`: not read this time."""
    if size > MAX_TICKET_BYTES:
        return f"ticket larger than {MAX_TICKET_BYTES} bytes"
    try:
        raw = client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_TICKET_BYTES + 1)
    except Exception as exc:
        return _Failed(type(exc).__name__)
    try:
        return raw, parse_ticket(raw)
    except TicketError as exc:
        return str(exc)
    except Exception as exc:  # a parser fault on hostile bytes: the same bytes fail again, so not a retry
        return f"ticket could not be parsed ({type(exc).__name__})"


def _reject(client: Any, bucket: str, key: str, name: str, tick: InboxTick, reason: str) -> None:
    client.copy_object(Bucket=bucket, Key=REJECTED_PREFIX + name, CopySource={"Bucket": bucket, "Key": key})
    client.delete_object(Bucket=bucket, Key=key)
    tick.rejected.append((name, reason))
