"""Issue 15, part 3: a new SQL system is a dataset file plus a systems-file entry, no Python.

A small CRM is created on MariaDB (127.0.0.1:3306) with the demo person's rows and a stranger's. It is
added the way an operator would add it: a systems file (`DSAR_SYSTEMS_FILE`) holding the shipped
entries plus one `crm:` entry naming `tests/pipeline/crm_dataset.yml`, and the controller profiles
(`DSAR_PROFILE_DIR`) listing `crm` among their systems. Then `dsar demo --json` runs the real pipeline:
the CRM is searched, its rows are packaged and delivered, and the stranger's rows are not in the package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pyzipper
import sqlalchemy as sa
import yaml

from connectors.registry import SYSTEMS_FILE
from dsar_pipeline.profiles import PROFILE_DIR
from sandbox.population import generate
from tests.connectors.dataset_databases import MARIADB, listening

SIZE = 120
DATASET = Path(__file__).with_name("crm_dataset.yml")
TITLES = {"en": "Sales CRM", "et": "Müügi kliendihaldus", "lv": "Pārdošanas klientu vadība",
          "ru": "CRM отдела продаж"}
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not listening(3306),
                                                   reason="MariaDB is not listening on 127.0.0.1:3306")]

SCHEMA = """
CREATE TABLE persons (id INT PRIMARY KEY, personal_code VARCHAR(20) NOT NULL, full_name VARCHAR(200),
  email VARCHAR(200), phone VARCHAR(40), preferred_language CHAR(2), created_at DATETIME(6) NOT NULL,
  INDEX (personal_code), INDEX (email));
CREATE TABLE interactions (id INT PRIMARY KEY, person_id INT NOT NULL, channel VARCHAR(20),
  subject VARCHAR(200), occurred_at DATETIME(6) NOT NULL, INDEX (person_id));
CREATE TABLE marketing_consents (id INT PRIMARY KEY, person_id INT NOT NULL, topic VARCHAR(40),
  granted BOOLEAN NOT NULL, changed_at DATETIME(6) NOT NULL, INDEX (person_id))
"""


def seed(url: str) -> dict[str, list[str]]:
    """The demo person's rows and a stranger's; returns the interaction subjects of each."""
    pop = generate(size=SIZE)
    demo, stranger = pop.case("demo"), pop.case("stranger")
    when = datetime(2026, 3, 2, 10, 30)
    subjects = {"demo": [f"CRM-DEMO-{n}" for n in range(3)], "stranger": [f"CRM-STRANGER-{n}" for n in range(2)]}
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in SCHEMA.split(";"):
            conn.exec_driver_sql(statement)
        conn.execute(sa.text("INSERT INTO persons VALUES (:id, :code, :name, :email, :phone, 'et', :at)"), [
            {"id": 7, "code": demo.personal_code, "name": f"{demo.first_name} {demo.last_name}",
             "email": (demo.email or "").upper(), "phone": demo.phone, "at": when},
            {"id": 8, "code": stranger.personal_code, "name": f"{stranger.first_name} {stranger.last_name}",
             "email": stranger.email, "phone": stranger.phone, "at": when}])
        rows = [(7, subject) for subject in subjects["demo"]] + [(8, subject) for subject in subjects["stranger"]]
        conn.execute(sa.text("INSERT INTO interactions VALUES (:id, :person, 'phone', :subject, :at)"), [
            {"id": 100 + n, "person": person, "subject": subject, "at": when}
            for n, (person, subject) in enumerate(rows)])
        conn.execute(sa.text("INSERT INTO marketing_consents VALUES (:id, :person, :topic, :granted, :at)"), [
            {"id": 1, "person": 7, "topic": "newsletter", "granted": True, "at": when},
            {"id": 2, "person": 7, "topic": "partner_offers", "granted": False, "at": when},
            {"id": 3, "person": 8, "topic": "newsletter", "granted": True, "at": when}])
    engine.dispose()
    return subjects


@pytest.fixture(scope="module")
def crm() -> Iterator[tuple[str, dict[str, list[str]]]]:
    name = f"crm_e2e_{os.getpid()}"
    admin = sa.create_engine(MARIADB, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"{MARIADB}{name}", seed(f"{MARIADB}{name}")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def configure(folder: Path, only_crm: bool = False) -> dict[str, str]:
    """The operator's configuration: the shipped systems plus `crm:` (or `crm:` alone), and profiles that
    run it."""
    entries = {} if only_crm else yaml.safe_load(SYSTEMS_FILE.read_text(encoding="utf-8"))
    for entry in entries.values():  # relative dataset paths count from the file that names them
        if "dataset" in entry:
            entry["dataset"] = str((SYSTEMS_FILE.parent / entry["dataset"]).resolve())
    entries["crm"] = {"factory": "connectors.dataset:DatasetConnector.from_settings", "dataset": str(DATASET),
                      "title": TITLES["en"], "titles": TITLES, "kinds": ["sql"], "retries": 2,
                      "settings": ["DSAR_CRM_DATABASE_URL"]}
    systems_file = folder / "config" / "systems.yaml"
    systems_file.parent.mkdir(parents=True)
    systems_file.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    profiles = folder / "config" / "profiles"
    profiles.mkdir()
    for path in PROFILE_DIR.glob("*.yaml"):
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
        profile["systems"] = ["crm"] if only_crm else [*profile["systems"], "crm"]
        if only_crm:
            _drop_other_systems(profile)
        (profiles / path.name).write_text(yaml.safe_dump(profile, allow_unicode=True, sort_keys=False),
                                          encoding="utf-8")
    return {"DSAR_SYSTEMS_FILE": str(systems_file), "DSAR_PROFILE_DIR": str(profiles)}


def _drop_other_systems(node: Any) -> None:
    """Facts tied to systems this deployment lacks (a purpose of the Volt app, say) name only those it has."""
    if isinstance(node, dict):
        if isinstance(node.get("systems"), list):
            node["systems"] = [name for name in node["systems"] if name == "crm"]
        for value in node.values():
            _drop_other_systems(value)
    elif isinstance(node, list):
        for value in node:
            _drop_other_systems(value)


def run_demo(folder: Path, env: dict[str, str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    result = subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "demo", "--size", str(SIZE), "--json"],
                            cwd=folder, env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
                            check=False)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    passphrase = json.loads(Path(summary["passphrase_outbox"]).read_text(encoding="utf-8"))["text"].split()[-1]
    with pyzipper.AESZipFile(summary["package"]) as archive:
        archive.setpassword(passphrase.encode())
        files = {name: archive.read(name) for name in archive.namelist()}
    return summary, files


@pytest.fixture(scope="module")
def delivered(crm: tuple[str, dict[str, list[str]]],
              tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, bytes]]:
    url, _ = crm
    folder = tmp_path_factory.mktemp("crm-demo")
    return run_demo(folder, {**configure(folder), "DSAR_CRM_DATABASE_URL": url})


def test_the_crm_is_searched_and_its_rows_are_delivered(delivered: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    summary, _ = delivered
    assert summary["status"] == "delivered"
    assert set(summary["systems"]) == {"billing", "volt", "recordings", "portal", "avp", "crm"}
    assert summary["systems"]["crm"]["status"] == "complete"
    assert summary["systems"]["crm"]["records"] == 6  # the person, three interactions, two consents


def test_the_package_holds_the_persons_crm_rows_and_none_of_the_strangers(
        crm: tuple[str, dict[str, list[str]]], delivered: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    _, subjects = crm
    _, files = delivered
    crm_files = {name: body for name, body in files.items() if "crm" in name.lower()}
    assert crm_files, sorted(files)
    everything = b"\n".join(files.values())
    for subject in subjects["demo"]:
        assert any(subject.encode() in body for body in crm_files.values()), subject
    for subject in subjects["stranger"]:
        assert subject.encode() not in everything, subject
    stranger = generate(size=SIZE).case("stranger")
    assert stranger.personal_code.encode() not in everything


def test_the_letter_names_the_crm_in_its_language(delivered: tuple[dict[str, Any], dict[str, bytes]]) -> None:
    _, files = delivered
    [letter] = [body.decode() for name, body in files.items() if name.endswith("letter.html")]
    assert any(title in letter for title in TITLES.values())


def test_a_deployment_whose_only_system_is_the_crm_delivers(crm: tuple[str, dict[str, list[str]]],
                                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    """No recordings system, no billing: the profile's one system is the CRM, and the request is delivered."""
    url, subjects = crm
    folder = tmp_path_factory.mktemp("crm-only")
    summary, files = run_demo(folder, {**configure(folder, only_crm=True), "DSAR_CRM_DATABASE_URL": url})
    assert summary["status"] == "delivered" and set(summary["systems"]) == {"crm"}
    assert summary["systems"]["crm"] == {**summary["systems"]["crm"], "status": "complete", "records": 6}
    everything = b"\n".join(files.values())
    assert all(subject.encode() in everything for subject in subjects["demo"])
    assert not any(subject.encode() in everything for subject in subjects["stranger"])
