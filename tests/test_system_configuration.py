"""A deployment's own systems file (`DSAR_SYSTEMS_FILE`) and profile folder (`DSAR_PROFILE_DIR`):
what is refused, in one line and exit 2, before any command runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from connectors.registry import SYSTEMS_FILE, SystemsFileError, systems
from dsar_pipeline.profiles import PROFILE_DIR

ENTRY = {"factory": "connectors.dataset:DatasetConnector.from_settings", "settings": ["DSAR_CRM_DATABASE_URL"],
         "dataset": str(Path(__file__).parent / "pipeline" / "crm_dataset.yml")}


@pytest.fixture
def systems_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A systems file of our own for this test; the shipped one is back afterwards."""
    path = tmp_path / "systems.yaml"
    monkeypatch.setenv("DSAR_SYSTEMS_FILE", str(path))
    systems.cache_clear()
    yield path
    monkeypatch.delenv("DSAR_SYSTEMS_FILE")
    systems.cache_clear()


BAD = {
    "not-a-mapping": ("- billing\n", "must map system names"),
    "bad-name": (yaml.safe_dump({"Bad Name": ENTRY}), "is not a system name"),
    "no-factory": (yaml.safe_dump({"crm": {"settings": ["X"]}}), "needs a factory"),
    "two-settings": (yaml.safe_dump({"crm": {**ENTRY, "settings": ["A", "B"]}}), "exactly one setting"),
    "missing-dataset": (yaml.safe_dump({"crm": {**ENTRY, "dataset": "nowhere.yml"}}), "does not exist"),
    "bad-titles": (yaml.safe_dump({"crm": {**ENTRY, "titles": ["CRM"]}}), "titles maps a language"),
    "not-yaml": ("crm: [unclosed\n", "is not YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_systems_file_is_refused_in_one_line(systems_file: Path, case: str) -> None:
    text, expected = BAD[case]
    systems_file.write_text(text, encoding="utf-8")
    with pytest.raises(SystemsFileError, match=expected) as refused:
        systems()
    assert "\n" not in str(refused.value) and str(systems_file) in str(refused.value)


def test_a_relative_dataset_path_counts_from_the_systems_file(systems_file: Path) -> None:
    (systems_file.parent / "files").mkdir()
    (systems_file.parent / "files" / "crm.yml").write_text(Path(ENTRY["dataset"]).read_text(encoding="utf-8"))
    systems_file.write_text(yaml.safe_dump({"crm": {**ENTRY, "dataset": "files/crm.yml",
                                                    "titles": {"et": "Kliendihaldus"}}}), encoding="utf-8")
    entry = systems()["crm"]
    assert entry.dataset == (systems_file.parent / "files" / "crm.yml").resolve()
    declared = entry.connector_class()
    assert declared.system == "crm" and declared.url_setting == "DSAR_CRM_DATABASE_URL"
    assert set(declared.sources) == {"persons", "interactions", "marketing_consents"}
    assert entry.title_in("et") == "Kliendihaldus" and entry.title_in("lv") == "crm"


def dsar(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def test_commands_refuse_a_broken_configuration_before_running(tmp_path: Path) -> None:
    broken = tmp_path / "systems.yaml"
    broken.write_text(yaml.safe_dump({"crm": {**ENTRY, "dataset": "nowhere.yml"}}), encoding="utf-8")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    profile = yaml.safe_load((PROFILE_DIR / "enefit-ee.yaml").read_text(encoding="utf-8"))
    profile["systems"] = [*profile["systems"], "crm"]  # a system the (shipped) systems file lacks
    (profiles / "enefit-ee.yaml").write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    cases = [({"DSAR_SYSTEMS_FILE": str(tmp_path / "absent.yaml")}, "the systems file cannot be read"),
             ({"DSAR_SYSTEMS_FILE": str(broken)}, "dataset file"),
             ({"DSAR_PROFILE_DIR": str(tmp_path / "absent")}, "is not a folder"),
             ({"DSAR_PROFILE_DIR": str(profiles)}, "system 'crm' is not in the systems file")]
    for env, expected in cases:
        result = dsar(env, "ticket", "check", str(tmp_path / "ticket.json"))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], (env, result.stderr)
        assert "Traceback" not in result.stderr


def test_the_shipped_configuration_is_usable() -> None:
    result = dsar({}, "dataset", "check", str(SYSTEMS_FILE.parent / "dataset" / "files" / "billing.yml"))
    assert result.returncode == 0, result.stderr
