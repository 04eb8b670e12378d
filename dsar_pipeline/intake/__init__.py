"""Intake: request tickets, identity verification, deadlines, the approval gate and the audit trail.

Names are resolved lazily (PEP 562) so that ``import dsar_pipeline.intake`` stays cheap: the CLI
and the Dagster sensor import only what they use (cryptography, lxml and SQLAlchemy are loaded
only for signature checks and the audit trail).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # tickets
    "Ticket": "ticket",
    "SubjectIdentity": "ticket",
    "IdentityType": "ticket",
    "RequestType": "ticket",
    "EvidenceType": "ticket",
    "TicketError": "errors",
    "parse_ticket": "parse",
    "derive_request_id": "request_ids",
    "is_request_id": "request_ids",
    # verification
    "VerificationResult": "verification",
    "VerificationStatus": "verification",
    "verify_container": "verification",
    "verify_ticket": "verification",
    "load_trust_anchors": "certificates",
    # deadlines
    "Deadline": "deadlines",
    "DeadlineError": "deadlines",
    "ExtensionReason": "deadlines",
    "compute_deadline": "deadlines",
    "deadline_for_ticket": "deadlines",
    # approval
    "Approval": "approval",
    "Decision": "approval",
    "GateOutcome": "approval",
    "ReleaseBinding": "approval",
    "ReleasePolicy": "approval",
    "ReviewReason": "approval",
    "approval_gate": "approval",
    "delivery_gate": "approval",
    # audit
    "AuditTrail": "audit",
    "AuditEventType": "audit_chain",
    "AuditPayloadError": "audit_chain",
    "ChainVerification": "audit_chain",
    "verify_evidence": "audit",
    # examples
    "example_person": "example",
    "example_ticket": "example",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
