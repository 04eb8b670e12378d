"""One request's release: the delivery gate, then the package out and the helpdesk told.

Never delivered automatically: an incomplete package (a system failed), anything that needs review
until the DPO approves *this* package (its binding unchanged), or a package the DPO rejected
(`review.approval.delivery_gate`). The outcome's `status` is the word the DPO, the helpdesk and
`dsar demo` see: delivered | incomplete | awaiting_review | rejected; `gate_reason` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dsar_pipeline.audit.trail import AuditTrail
from dsar_pipeline.delivery.notify import send_status
from dsar_pipeline.delivery.send import deliver
from dsar_pipeline.package.handoff import StoredPackage, fetch_package, scratch
from dsar_pipeline.review.approval import Approval, Decision, DeliveryState, delivery_gate
from dsar_pipeline.review.binding import current_binding
from dsar_pipeline.sealing.keys import KeyProvider
from dsar_pipeline.sealing.workstore import WorkStore


@dataclass(frozen=True)
class DeliveryDesk:
    """What releasing needs: the work store and its keys, the audit trail, the delivery settings
    (`DSAR_*` mapping: package bucket, gateways, helpdesk) and an S3 client for the package bucket."""

    store: WorkStore
    keys: KeyProvider
    trail: AuditTrail
    settings: Mapping[str, str]
    client: Any

    def release(self, request_id: str, facts: Any, package: StoredPackage, review: Any,
                approval: Approval) -> dict[str, Any]:
        """Deliver the package if the gate allows; the outcome's non-personal facts either way. The package
        comes from the work store into a scratch folder of this call's own (`handoff`)."""
        current = current_binding(self.store, request_id, package) if approval.decision is Decision.APPROVE else None
        verdict = delivery_gate(requires_approval=review.requires_approval, failed_systems=review.failed_systems,
                                approval=approval, current=current)
        if verdict.state is not DeliveryState.DELIVER:
            if verdict.reason == "approval_void":
                self.trail.append(request_id, "failed", {"stage": "delivery", "reason": "approval_void",
                                                         "changed": list(verdict.changed)})
            cancelled = verdict.state is DeliveryState.REJECTED
            self.tell_helpdesk(facts, "cancelled" if cancelled else "in_progress", verdict.state.value)
            return {"status": verdict.state.value, "gate_reason": verdict.reason,
                    "changed": ", ".join(verdict.changed)}
        with scratch("delivery") as folder:
            zip_path, cdoc_path = fetch_package(self.store, self.keys, request_id, package, folder)
            evidence = deliver(self.client, self.settings, request_id=request_id, package=zip_path,
                               passphrase=package.passphrase, email=facts.delivery_email, phone=facts.delivery_phone,
                               language=facts.language, cdoc=cdoc_path, package_sha256=package.sha256)
        self.trail.append(request_id, "delivered", {"package_sha256": evidence.sha256, "size": evidence.size,
                                                    "manifest_sha256": package.manifest_sha256,
                                                    "complete": package.complete, "gate_reason": verdict.reason,
                                                    "cdoc": evidence.cdoc_key is not None})
        self.tell_helpdesk(facts, "completed", "delivered")
        return {"status": "delivered", "gate_reason": verdict.reason, **evidence.public()}

    def tell_helpdesk(self, facts: Any, status: str, reason: str) -> None:
        if not self.settings.get("DSAR_HELPDESK_CALLBACK_URL"):
            return
        send_status(self.settings, controller=facts.controller, subject_request_id=facts.subject_request_id,
                    status=status, due=facts.due_date, reason=reason)
