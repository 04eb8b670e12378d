"""Production refuses to start without its secrets; the development fallback stays in development."""

from __future__ import annotations

import pytest

from dsar_pipeline import settings
from dsar_pipeline.settings import DEV_REQUEST_ID_KEY, check_production_secrets, request_id_key

COMPLETE = {"DSAR_REQUEST_ID_KEY": "r" * 32, "DSAR_HELPDESK_CALLBACK_SECRET": "h" * 32,
            "DSAR_AUDIT_SIGNING_KEY_ID": "arn:aws:kms:eu-north-1:1:key/s", "DSAR_WORK_BUCKET": "work",
            "DSAR_KMS_KEY_ID": "arn:aws:kms:eu-north-1:1:key/x", "DSAR_GATEWAY_API_KEY": "gw",
            "DSAR_AUDIT_DATABASE_URL": "postgresql+psycopg://audit@db/audit", "DSAR_VOLT_CLIENT_SECRET": "v",
            "DSAR_AVP_CLIENT_SECRET": "avp", "DSAR_PORTAL_API_KEY": "p",
            "DSAR_LETTER_SEAL_DIR": "/etc/dsar/letter-seal"}


def test_production_without_a_request_id_key_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DSAR_REQUEST_ID_KEY", raising=False)
    monkeypatch.setenv("DSAR_ENV", "production")
    with pytest.raises(ValueError, match="DSAR_REQUEST_ID_KEY is not set"):
        request_id_key()
    monkeypatch.setenv("DSAR_REQUEST_ID_KEY", "k" * 16)
    assert request_id_key() == b"k" * 16


@pytest.mark.parametrize("environment", [None, "embedded"])
def test_the_development_fallback_is_for_the_embedded_default_only(monkeypatch: pytest.MonkeyPatch,
                                                                   environment: str | None) -> None:
    monkeypatch.delenv("DSAR_REQUEST_ID_KEY", raising=False)
    if environment is None:
        monkeypatch.delenv("DSAR_ENV", raising=False)
    else:
        monkeypatch.setenv("DSAR_ENV", environment)
    assert request_id_key() == DEV_REQUEST_ID_KEY


def test_complete_production_settings_pass() -> None:
    assert check_production_secrets(COMPLETE) == []


def test_every_missing_or_short_secret_is_named_without_its_value() -> None:
    problems = check_production_secrets({"DSAR_REQUEST_ID_KEY": "short-secret", "DSAR_GATEWAY_API_KEY": "  "})
    assert "DSAR_REQUEST_ID_KEY is shorter than 16 bytes" in problems
    assert all("short-secret" not in line for line in problems)
    missing = {line.split()[0] for line in problems if line.endswith("is not set")}
    assert missing == set(COMPLETE) - {"DSAR_REQUEST_ID_KEY"}
    for name in COMPLETE:
        assert [line for line in check_production_secrets(COMPLETE | {name: ""}) if line.startswith(name)]


def test_dead_helpers_are_gone() -> None:
    assert not hasattr(settings, "missing_settings")
    assert not hasattr(settings, "audit_key")


def test_the_production_definitions_do_not_load_without_their_secrets() -> None:
    """`dagster dev` / the code server on DSAR_ENV=production stops at once with one line naming what is missing."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")} | {"DSAR_ENV": "production"}
    result = subprocess.run([sys.executable, "-c", "import assets.definitions"], capture_output=True,
                            text=True, env=env, timeout=120, check=False)
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("production refuses to start without its secrets: DSAR_REQUEST_ID_KEY is not set")
    full = {**env, **COMPLETE}
    loaded = subprocess.run([sys.executable, "-c", "import assets.definitions"], capture_output=True,
                            text=True, env=full, timeout=120, check=False)
    assert loaded.returncode == 0, loaded.stderr[-500:]
