"""Names of the environment settings the intake reads, in one place.

Why a module: the deployment documentation, the Dagster resources and the tests must agree on the
exact names; spelling them once avoids a silently ignored, misspelled variable.
"""

from __future__ import annotations

import os
from pathlib import Path

TRUST_ANCHORS_DIR = "DSAR_TRUST_ANCHORS_DIR"
"""Directory of PEM CA certificates trusted for signed requests (roots and issuing CAs)."""

REQUEST_ID_KEY = "DSAR_REQUEST_ID_KEY"
"""Secret (at least 16 bytes of text) keying the opaque internal request id."""

AUDIT_KEY = "DSAR_AUDIT_KEY"
"""Secret (at least 16 bytes of text) keying the HMAC chain of the audit trail."""

DEV_REQUEST_ID_KEY = b"dsar-pipeline-development-request-id-key"
"""Fallback for the embedded default and tests only; production must set ``DSAR_REQUEST_ID_KEY``."""

MIN_SECRET_BYTES = 16


def _secret(name: str) -> bytes | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    value = raw.encode("utf-8")
    if len(value) < MIN_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes long")
    return value


def request_id_key() -> bytes:
    """The key for opaque request ids: ``DSAR_REQUEST_ID_KEY`` or the development fallback."""
    return _secret(REQUEST_ID_KEY) or DEV_REQUEST_ID_KEY


def audit_key() -> bytes:
    """The audit HMAC key from ``DSAR_AUDIT_KEY``; there is deliberately no fallback."""
    key = _secret(AUDIT_KEY)
    if key is None:
        raise ValueError(f"{AUDIT_KEY} is not set")
    return key


def trust_anchors_dir() -> Path | None:
    """The configured trust-anchor directory, or None when ``DSAR_TRUST_ANCHORS_DIR`` is unset."""
    raw = os.environ.get(TRUST_ANCHORS_DIR)
    return Path(raw) if raw else None


__all__ = [
    "AUDIT_KEY",
    "DEV_REQUEST_ID_KEY",
    "REQUEST_ID_KEY",
    "TRUST_ANCHORS_DIR",
    "audit_key",
    "request_id_key",
    "trust_anchors_dir",
]
