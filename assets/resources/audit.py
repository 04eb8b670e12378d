"""The append-only audit trail: one SHA-256 chain, heads signed and anchored outside the database."""

from __future__ import annotations

from typing import Any

from assets.resources.aws import AwsResource
from dsar_pipeline.audit.anchor import anchor_from_settings
from dsar_pipeline.audit.signing import signer_from_settings
from dsar_pipeline.audit.trail import AuditTrail


class AuditResource(AwsResource):
    """The trail's database, the key that signs its anchors (KMS, or a local key file embedded) and
    the bucket that keeps the anchors under Object Lock."""

    SETTINGS = (*AwsResource.SETTINGS, "env", "audit_database_url", "audit_signing_key_id", "audit_signing_key_file",
                "work_bucket",
                "audit_anchor_retention_days")
    env: str = "embedded"
    audit_database_url: str
    audit_signing_key_id: str = ""
    audit_signing_key_file: str = ""
    work_bucket: str = ""
    audit_anchor_retention_days: str = ""

    def trail(self) -> AuditTrail:
        return AuditTrail(self.audit_database_url)

    def signer(self) -> Any:
        """KMS signer (production) or the local key file (embedded default)."""
        return signer_from_settings(self.settings(), lambda: self.client("kms"))

    def anchor(self) -> Any:
        """Sign the chain's head now and store it in the work bucket (Object Lock) and the database."""
        return anchor_from_settings(self.trail(), self.settings(), self.client,
                                    signer=self.signer())
