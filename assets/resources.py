"""Dagster resources: settings, connectors, the encrypted work store, the audit trail.

Values come from the environment at run time (`dg.EnvVar` for secrets, the `DSAR_*` settings for
the systems), never from run config, so nothing personal or secret is stored in Dagster. Which
resources an environment gets is decided once, in `definitions.py`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
from botocore.config import Config

from connectors.contract import Connector
from connectors.registry import build_connectors
from dsar_pipeline.sealing.key_cache import RequestKeyFiles
from dsar_pipeline.sealing.keys import KeyProvider, key_provider_from_settings
from dsar_pipeline.sealing.workstore import LocalWorkStore, S3WorkStore, WorkStore
from dsar_pipeline.settings import SETTINGS


def current_settings() -> dict[str, str]:
    """The DSAR_* variables of this process (the env file was loaded into it at start-up)."""
    return {k: v for k, v in os.environ.items() if k.startswith("DSAR_") or k in SETTINGS}


def aws_client(service: str, settings: Mapping[str, str], endpoint_key: str) -> Any:
    """A boto3 client for AWS or the sandbox stand-in, with bounded timeouts."""
    return boto3.client(
        service, endpoint_url=settings.get(endpoint_key) or None, region_name=settings.get("DSAR_AWS_REGION") or None,
        aws_access_key_id=settings.get("DSAR_AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=settings.get("DSAR_AWS_SECRET_ACCESS_KEY") or None,
        config=Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 4}))


class ConnectorsResource(dg.ConfigurableResource):
    """Builds each system's connector from the `DSAR_*` settings (see connectors/systems.yaml)."""

    def build(self, system: str) -> Connector:
        return build_connectors(current_settings(), [system])[system]

    def build_all(self) -> dict[str, Connector]:
        return build_connectors(current_settings())


class WorkStoreResource(dg.ConfigurableResource):
    """Encrypted intermediates: a local folder (embedded) or an S3 bucket (production)."""

    kind: str = "local"  # local | s3
    local_root: str = ""  # default: $DSAR_WORK_DIR, else .dagster_home/work

    def store(self) -> WorkStore:
        settings = current_settings()
        if self.kind == "s3":
            return S3WorkStore(aws_client("s3", settings, "DSAR_S3_ENDPOINT_URL"), settings["DSAR_WORK_BUCKET"],
                               settings.get("DSAR_KMS_KEY_ID") or None)
        return LocalWorkStore(Path(self.local_root or os.environ.get("DSAR_WORK_DIR", ".dagster_home/work")))

    def key_provider(self) -> KeyProvider:
        """Data keys for this store's objects; with KMS, one request key per request kept in the store."""
        return key_provider_from_settings(current_settings(), roots=RequestKeyFiles(self.store))


class AuditResource(dg.ConfigurableResource):
    """The append-only audit trail: one SHA-256 chain, heads signed and anchored outside the database.

    Empty fields fall back to the `DSAR_*` settings at run time (`DSAR_AUDIT_SIGNING_KEY_ID`,
    `DSAR_AUDIT_SIGNING_KEY_FILE`, `DSAR_WORK_BUCKET`, `DSAR_AUDIT_ANCHOR_RETENTION_DAYS`), so
    definitions need only name the database. `key` is the obsolete HMAC key of chain version 1:
    accepted, unused.
    """

    database_url: str
    key: str = ""
    signing_key_id: str = ""
    signing_key_file: str = ""
    work_bucket: str = ""
    anchor_retention_days: int = 0

    def trail(self) -> Any:
        from dsar_pipeline.audit.trail import AuditTrail

        return AuditTrail(self.database_url)

    def settings(self) -> dict[str, str]:
        """The process settings with this resource's explicit fields on top."""
        settings = current_settings()
        explicit = {"DSAR_AUDIT_SIGNING_KEY_ID": self.signing_key_id,
                    "DSAR_AUDIT_SIGNING_KEY_FILE": self.signing_key_file, "DSAR_WORK_BUCKET": self.work_bucket,
                    "DSAR_AUDIT_ANCHOR_RETENTION_DAYS": str(self.anchor_retention_days or "")}
        settings.update({name: value for name, value in explicit.items() if value})
        return settings

    def signer(self) -> Any:
        """KMS signer (production) or the local key file (embedded default)."""
        from dsar_pipeline.audit.signing import signer_from_settings

        settings = self.settings()
        return signer_from_settings(settings, lambda: aws_client("kms", settings, "DSAR_KMS_ENDPOINT_URL"))

    def anchor(self) -> Any:
        """Sign the chain's head now and store it in the work bucket (Object Lock) and the database."""
        from dsar_pipeline.audit.anchor import anchor_from_settings

        settings = self.settings()
        endpoints = {"s3": "DSAR_S3_ENDPOINT_URL", "kms": "DSAR_KMS_ENDPOINT_URL"}
        return anchor_from_settings(self.trail(), settings,
                                    lambda service: aws_client(service, settings, endpoints[service]),
                                    signer=self.signer())
