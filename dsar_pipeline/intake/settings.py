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

DEV_REQUEST_ID_KEY = b"dsar-pipeline-development-request-id-key"
"""Fallback for the embedded default and tests only; production must set ``DSAR_REQUEST_ID_KEY``."""

ENVIRONMENT = "DSAR_ENV"
"""``embedded`` (the default when unset) or ``production``."""

DEV_ENVIRONMENTS = ("", "embedded")
"""The environments that may use development fallbacks: a hard-coded key in production would let
anyone who reads this source link request ids to tickets, so everything else refuses."""

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
    """The key for opaque request ids: ``DSAR_REQUEST_ID_KEY``, or the development fallback outside production.

    The fallback is public (it is in this file), so only the embedded default and the tests
    (``DSAR_ENV`` unset or ``embedded``) may use it; any other environment refuses, naming the setting.
    """
    key = _secret(REQUEST_ID_KEY)
    if key is not None:
        return key
    if os.environ.get(ENVIRONMENT, "") not in DEV_ENVIRONMENTS:
        raise ValueError(f"{REQUEST_ID_KEY} is not set (required when {ENVIRONMENT} is not embedded)")
    return DEV_REQUEST_ID_KEY


def trust_anchors_dir() -> Path | None:
    """The configured trust-anchor directory, or None when ``DSAR_TRUST_ANCHORS_DIR`` is unset."""
    raw = os.environ.get(TRUST_ANCHORS_DIR)
    return Path(raw) if raw else None


__all__ = [
    "DEV_REQUEST_ID_KEY",
    "MIN_SECRET_BYTES",
    "REQUEST_ID_KEY",
    "TRUST_ANCHORS_DIR",
    "request_id_key",
    "trust_anchors_dir",
]
