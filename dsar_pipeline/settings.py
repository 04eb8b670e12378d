"""The settings the pipeline reads from its environment, one name per fact.

`dsar sandbox up` writes exactly these names for the embedded default; a production deployment
sets the same names to real endpoints (secrets from the orchestrator's secret store). Resources
read them with `dg.EnvVar(name)`, so no value is ever stored in Dagster's run config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TRUST_ANCHORS_DIR = "DSAR_TRUST_ANCHORS_DIR"
"""Directory of PEM CA certificates trusted for signed requests (roots and issuing CAs)."""

REQUEST_ID_KEY = "DSAR_REQUEST_ID_KEY"
"""Secret (at least 16 bytes of text) keying the opaque internal request id."""

DEV_REQUEST_ID_KEY = b"dsar-pipeline-development-request-id-key"
"""Fallback for the embedded default and tests only; production must set ``DSAR_REQUEST_ID_KEY``."""

ENVIRONMENT = "DSAR_ENV"
"""``embedded`` (the default when unset), ``cluster`` or ``production`` (`assets/environments.py`)."""

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


LETTER_SEAL_DIR = "DSAR_LETTER_SEAL_DIR"
"""Directory of the controllers' e-seals for the PDF letter: ``<controller id>.crt.pem``,
``<controller id>.key.pem`` and (optional) ``<controller id>.chain.pem`` (the issuing CAs)."""


def letter_seal_dir() -> Path | None:
    """The configured e-seal directory, or None when ``DSAR_LETTER_SEAL_DIR`` is unset or blank.

    Unset means "no sealed PDF letter": production refuses to start that way (``PRODUCTION_REQUIRED``);
    the embedded default then ships the HTML letter alone and says so (the harness sets it for the demo).
    """
    raw = (os.environ.get(LETTER_SEAL_DIR) or "").strip()
    return Path(raw) if raw else None


SETTINGS: dict[str, str] = {
    "DSAR_ENV": "embedded (sandbox systems, SQLite Dagster storage) or production",
    "DSAR_BILLING_DATABASE_URL": "SQLAlchemy URL of the billing database (sqlite:///… or postgresql+psycopg://…)",
    "DSAR_VOLT_BASE_URL": "Volt charging app API base URL",
    "DSAR_VOLT_TOKEN_URL": "Volt OAuth2 token endpoint (client credentials)",
    "DSAR_VOLT_CLIENT_ID": "Volt OAuth2 client id",
    "DSAR_VOLT_CLIENT_SECRET": "Volt OAuth2 client secret",
    "DSAR_PORTAL_BASE_URL": "self-service portal API base URL",
    "DSAR_PORTAL_API_KEY": "self-service portal API key",
    "DSAR_AVP_BASE_URL": "AVP / e-elering data hub API base URL",
    "DSAR_AVP_TOKEN_URL": "data hub token endpoint (JWT bearer, client credentials)",
    "DSAR_AVP_CLIENT_ID": "data hub client id",
    "DSAR_AVP_CLIENT_SECRET": "data hub client secret",
    "DSAR_AVP_MARKET_PARTICIPANT_EIC": "our EIC as a market participant (open supplier)",
    "DSAR_AVP_MAX_PERIOD_DAYS": "longest period the hub serves in one meter-data call",
    "DSAR_AVP_MAX_PAGE_SIZE": "largest page size the hub accepts",
    "DSAR_AVP_MIN_CALL_INTERVAL_SECONDS": "minimum seconds between two calls to the hub",
    "DSAR_S3_ENDPOINT_URL": "the controller's own S3 endpoint: inbox, work store, packages (empty for AWS itself)",
    "DSAR_KMS_ENDPOINT_URL": "the controller's KMS endpoint (empty for AWS itself)",
    "DSAR_AWS_REGION": "AWS region of the controller's own S3 and KMS",
    "DSAR_AWS_ACCESS_KEY_ID": "the controller's AWS access key id (empty to use the default credential chain)",
    "DSAR_AWS_SECRET_ACCESS_KEY": "the controller's AWS secret access key",
    "DSAR_RECORDINGS_ENDPOINT_URL": "the call centre's S3 endpoint, where the recordings are (empty for AWS itself)",
    "DSAR_RECORDINGS_REGION": "the call centre's AWS region (empty: DSAR_AWS_REGION)",
    "DSAR_RECORDINGS_ACCESS_KEY_ID": "access key id in the call centre's account (empty: the default credential chain)",
    "DSAR_RECORDINGS_SECRET_ACCESS_KEY": "its secret access key",
    "DSAR_RECORDINGS_BUCKET": "bucket of call recordings",
    "DSAR_INBOX_BUCKET": "bucket where request tickets arrive",
    "DSAR_INBOX_PREFIX": "key prefix of new tickets in the inbox bucket",
    "DSAR_PACKAGE_BUCKET": "bucket for delivered response packages (SSE-KMS)",
    "DSAR_WORK_BUCKET": "bucket for encrypted intermediates between steps",
    "DSAR_KMS_KEY_ID": "KMS key for envelope encryption and SSE-KMS",
    "DSAR_MAIL_GATEWAY_URL": "mail gateway endpoint (the download link goes by e-mail)",
    "DSAR_SMS_GATEWAY_URL": "SMS gateway endpoint (the passphrase goes by SMS)",
    "DSAR_GATEWAY_API_KEY": "API key of the mail and SMS gateways",
    "DSAR_HELPDESK_CALLBACK_URL": "helpdesk endpoint for signed OpenDSR status callbacks",
    "DSAR_HELPDESK_CALLBACK_SECRET": "key that signs status callbacks",
}

# The pipeline's own secrets and places (not the sandbox's): `dsar demo` / `dsar ui` create them for
# the embedded default in .dagster_home/secrets.env; production sets them from its secret store.
OWN_SETTINGS: dict[str, str] = {
    "DSAR_AUDIT_DATABASE_URL": "SQLAlchemy URL of the audit trail (SQLite file or PostgreSQL; INSERT-only role)",
    "DSAR_AUDIT_SIGNING_KEY_ID": "KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY) that signs the audit anchors",
    "DSAR_AUDIT_SIGNING_KEY_FILE": "embedded default: local EC key file signing the anchors (created 0600)",
    "DSAR_AUDIT_PUBLIC_KEY_FILE": "public key(s) (PEM) `dsar audit verify` checks anchors with",
    "DSAR_AUDIT_ANCHOR_RETENTION_DAYS": "Object Lock retention of each audit anchor (default 3650)",
    "DSAR_SIGNATURE_MAX_AGE_HOURS": "how long before submission a request may be signed (default 72)",
    "DSAR_PRESIGN_ACCESS_KEY_ID": "long-term key of a presign-only user: links live their promised 7 days",
    "DSAR_PRESIGN_SECRET_ACCESS_KEY": "its secret",
    "DSAR_REQUEST_ID_KEY": "key deriving opaque request ids from ticket ids",
    "DSAR_LOCAL_KEY_FILE": "key-encryption key file when no KMS key is set (created 0600)",
    "DSAR_WORK_DIR": "folder of encrypted intermediates in the embedded default",
    "DSAR_TRUST_ANCHORS_DIR": "PEM CA certificates trusted for eID-signed requests",
    "DSAR_LETTER_SEAL_DIR": "the controllers' e-seals sealing the PDF letter (<controller>.crt.pem, .key.pem, "
                            ".chain.pem); required in production",
    "DSAR_RELEASE_POLICY": "auto_release (default) or always_review when nothing needs review",
    "DSAR_BATCH_SIZE": "most requests one run carries when tickets arrive together (default 50)",
    "DSAR_BATCH_RUNS": "batched runs the deployment runs side by side: the dsar/batch_size limit (default 2)",
    "DSAR_REQUEST_THREADS": "requests of a batch one collection, identity or delivery step serves at once (default 4)",
    "DSAR_PURGE_AFTER_DAYS": "days a request's data is kept after it closes or its extended deadline (default 30)",
    "DSAR_DEADLINE_WARNING_DAYS": "the deadline watch flags requests due within this many days (default 7)",
    "DSAR_MAX_CONCURRENT_STEPS": "steps one run executes at once (default 6)",
    "DSAR_REVIEW_DESK_URL": "where the DPO's review desk answers (default http://127.0.0.1:3001)",
    "DSAR_REVIEW_LINK_SECONDS": "how long a review link stays valid (default 28800: a working day)",
    "DSAR_DESK_IDENTITY_HEADER": "production: the SSO proxy's header naming the signed-in DPO (X-Forwarded-Email)",
    "DSAR_DAGSTER_URL": "Dagster webserver that desk and `dsar decide` launch on (default http://127.0.0.1:3000)",
    "DSAR_CELERY_BROKER": "cluster and production: the Celery workers' broker (default "
                          "pyamqp://guest:guest@127.0.0.1:5672//, RabbitMQ)",
    "DSAR_CELERY_BACKEND": "cluster and production: the Celery result backend (default redis://127.0.0.1:6379/0)",
}


# Settings a deployment may leave unset, with the value that means "unset" or the documented default.
# The Dagster resources read every setting at run time (`dg.EnvVar`), which needs the variable to
# exist, so the environments (`assets/environments.py`) put these defaults in place of absent ones.
DEFAULTS: dict[str, str] = {
    **dict.fromkeys(("DSAR_S3_ENDPOINT_URL", "DSAR_KMS_ENDPOINT_URL", "DSAR_AWS_REGION", "DSAR_AWS_ACCESS_KEY_ID",
                     "DSAR_AWS_SECRET_ACCESS_KEY", "DSAR_VOLT_MAX_REQUESTS_PER_SECOND", "DSAR_WORK_BUCKET",
                     "DSAR_KMS_KEY_ID", "DSAR_LOCAL_KEY_FILE", "DSAR_AUDIT_SIGNING_KEY_ID",
                     "DSAR_AUDIT_SIGNING_KEY_FILE", "DSAR_AUDIT_ANCHOR_RETENTION_DAYS", "DSAR_MAIL_GATEWAY_URL",
                     "DSAR_SMS_GATEWAY_URL", "DSAR_GATEWAY_API_KEY", "DSAR_PRESIGN_ACCESS_KEY_ID",
                     "DSAR_PRESIGN_SECRET_ACCESS_KEY", "DSAR_HELPDESK_CALLBACK_URL",
                     "DSAR_HELPDESK_CALLBACK_SECRET", "DSAR_RECORDINGS_ENDPOINT_URL", "DSAR_RECORDINGS_REGION",
                     "DSAR_RECORDINGS_ACCESS_KEY_ID", "DSAR_RECORDINGS_SECRET_ACCESS_KEY"), ""),
    "DSAR_WORK_DIR": ".dagster_home/work",
    "DSAR_INBOX_PREFIX": "tickets/",
    "DSAR_REQUEST_THREADS": "4",
    "DSAR_BATCH_SIZE": "50",
    "DSAR_BATCH_RUNS": "2",
    "DSAR_PURGE_AFTER_DAYS": "30",
    "DSAR_DEADLINE_WARNING_DAYS": "7",
    "DSAR_REVIEW_DESK_URL": "http://127.0.0.1:3001",
    "DSAR_REVIEW_LINK_SECONDS": "28800",
    "DSAR_DESK_IDENTITY_HEADER": "",
    "DSAR_DAGSTER_URL": "http://127.0.0.1:3000",
    "DSAR_CELERY_BROKER": "pyamqp://guest:guest@127.0.0.1:5672//",
    "DSAR_CELERY_BACKEND": "redis://127.0.0.1:6379/0",
}


def apply_defaults(environ: dict[str, str] | None = None) -> None:
    """Put each default in place of an absent setting (a set one, even empty, is kept)."""
    target = os.environ if environ is None else environ
    for name, value in DEFAULTS.items():
        target.setdefault(name, value)


def load_env_file(path: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Read KEY=VALUE lines into `environ` (default: this process's environment), without overriding."""
    target = os.environ if environ is None else environ
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value
    for key, value in values.items():
        target.setdefault(key, value)
    return values


# What production cannot run without. Keys we make ourselves must be long enough to resist guessing
# (HMAC keys); credentials other organisations issue only have to be present (their length is theirs).
PRODUCTION_OWN_SECRETS = ("DSAR_REQUEST_ID_KEY", "DSAR_HELPDESK_CALLBACK_SECRET")
PRODUCTION_REQUIRED = ("DSAR_KMS_KEY_ID", "DSAR_GATEWAY_API_KEY", "DSAR_AUDIT_DATABASE_URL",
                       "DSAR_AUDIT_SIGNING_KEY_ID", "DSAR_WORK_BUCKET",
                       "DSAR_VOLT_CLIENT_SECRET", "DSAR_AVP_CLIENT_SECRET", "DSAR_PORTAL_API_KEY",
                       # without it the customer would get an unsealed HTML letter only
                       "DSAR_LETTER_SEAL_DIR")


def check_production_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per secret production is missing (or has too short); empty when it may start.

    Why: without these, parts of the pipeline fell back to development keys or failed only at the
    first request that needed them. Call it at start-up when ``DSAR_ENV=production`` and refuse to
    start on any line. Lines name settings only, never values.
    """
    source = os.environ if environ is None else environ
    problems = []
    for name in PRODUCTION_OWN_SECRETS:
        value = source.get(name) or ""
        if not value:
            problems.append(f"{name} is not set")
        elif len(value.encode("utf-8")) < MIN_SECRET_BYTES:
            problems.append(f"{name} is shorter than {MIN_SECRET_BYTES} bytes")
    problems.extend(f"{name} is not set" for name in PRODUCTION_REQUIRED if not (source.get(name) or "").strip())
    return problems
