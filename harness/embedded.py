"""The embedded default's project-local Dagster home: SQLite storage, no compute logs, own secrets.

`prepare_home` is idempotent: it writes `dagster.yaml` and, once, `secrets.env` (the request-id
key, the local key-encryption key file, the audit trail's database and anchor-signing key file)
with owner-only permissions. Production
keeps these in its secret store instead (see deploy/).

It also gives every controller an e-seal for the PDF letter (`DSAR_LETTER_SEAL_DIR`), unless the
environment already names a seal directory: the sandbox's e-seal trust service (`sandbox.eseal`,
its CA kept under `<home>/sandbox/eseal`) issues one per controller profile into
`<home>/keys/letter-seal`, so every package of the embedded default carries the sealed PDF.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dsar_pipeline.profiles import list_controllers, load_profile
from dsar_pipeline.settings import LETTER_SEAL_DIR, load_env_file
from sandbox.eseal import SandboxEseal, SealHolder

DAGSTER_YAML = """\
# Embedded default: SQLite storage under this folder (Dagster's default), and nothing that could
# keep personal data: compute logs (captured stdout/stderr of steps) are off, telemetry is off.
# The UI's first-visit "Join the Dagster community" dialog (nux) is off: the DPO's tool asks for
# no e-mail address.
telemetry:
  enabled: false
nux:
  enabled: false
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
concurrency:
  pools:
    default_limit: 4
run_retries:
  enabled: false
"""


def prepare_home(home: Path) -> dict[str, str]:
    """Create the Dagster home and its secrets; returns the settings to export (DAGSTER_HOME included)."""
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    secrets_file = home / "secrets.env"
    if not secrets_file.exists():
        lines = {
            "DSAR_REQUEST_ID_KEY": secrets.token_urlsafe(32),
            "DSAR_LOCAL_KEY_FILE": str(home / "keys" / "local-kek.bin"),
            "DSAR_AUDIT_DATABASE_URL": f"sqlite:///{home / 'audit.sqlite3'}",
            "DSAR_AUDIT_SIGNING_KEY_FILE": str(home / "keys" / "audit-signing-key.pem"),
            "DSAR_WORK_DIR": str(home / "work"),
        }
        fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(f"{k}={v}\n" for k, v in lines.items())
    values = load_env_file(secrets_file, environ={})
    values["DAGSTER_HOME"] = str(home)
    # The embedded default signs audit anchors with the home's key file, not with the sandbox's KMS
    # key: the anchors then still verify (`dsar audit verify`) once the sandbox has stopped.
    values["DSAR_AUDIT_SIGNING_KEY_ID"] = ""
    if not (os.environ.get(LETTER_SEAL_DIR) or "").strip():
        values[LETTER_SEAL_DIR] = str(prepare_letter_seals(home))
    return values


def prepare_letter_seals(home: Path) -> Path:
    """Every controller's e-seal from the sandbox's trust service, in `<home>/keys/letter-seal` (kept
    while still good); returns the directory, the value of `DSAR_LETTER_SEAL_DIR`."""
    holders = [SealHolder(p.id, p.legal_name, p.registration_number, p.country)
               for p in map(load_profile, list_controllers())]
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / "keys").mkdir(mode=0o700, exist_ok=True)  # beside the home's other keys, owner only
    return SandboxEseal(home / "sandbox").write_seals(holders, home / "keys" / "letter-seal")
