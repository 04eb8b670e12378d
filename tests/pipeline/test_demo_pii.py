"""`dsar demo --json` end to end in a fresh folder, then a scan of everything the pipeline left on
disk — Dagster's SQLite files included, as bytes — for the person's personal values: zero hits
outside the encrypted package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.population import generate

SIZE = 120
CONTRACT_KEYS = {"request_id", "person", "dagster_home", "status", "package", "link_outbox", "passphrase_outbox",
                 "systems", "seconds_total"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("demo")
    result = subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "demo", "--size", str(SIZE), "--json"],
                            cwd=folder, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return folder, json.loads(result.stdout.strip().splitlines()[-1])


def test_demo_json_contract(demo_run) -> None:
    folder, summary = demo_run
    assert set(summary) >= CONTRACT_KEYS
    assert summary["person"] == "demo" and summary["status"] == "delivered"
    assert Path(summary["dagster_home"]) == (folder / ".dagster_home").resolve()
    package = Path(summary["package"])
    assert package.is_file() and package.read_bytes()[:4] == b"PK\x03\x04"
    assert Path(summary["link_outbox"]).is_file() and Path(summary["passphrase_outbox"]).is_file()
    assert set(summary["systems"]) == {"billing", "volt", "recordings", "portal", "avp"}
    for state in summary["systems"].values():
        assert state["status"] == "complete" and state["records"] > 0 and state["seconds"] >= 0


def personal_values() -> list[str]:
    pop = generate(size=SIZE)
    person = pop.case("demo")
    (customer,) = pop.customer_of(person.key)
    values = [person.personal_code, person.first_name, person.last_name, person.email, person.phone,
              *(m.eic for m in pop.meters_of(customer.id))]
    return [v for v in values if v]


def test_no_personal_value_outside_the_encrypted_package(demo_run) -> None:
    folder, summary = demo_run
    package = Path(summary["package"]).resolve()
    needles = [(v, v.encode()) for v in personal_values()]
    scanned, hits = 0, []
    for root in (folder / ".dagster_home", folder / "out"):
        for path in root.rglob("*"):
            if not path.is_file() or path.resolve() == package:
                continue
            data = path.read_bytes()
            scanned += 1
            hits.extend((str(path.relative_to(folder)), value[:2] + "…") for value, raw in needles if raw in data)
    assert scanned > 10, "the Dagster home must hold the instance's files"
    assert any(p.suffix == ".db" for p in (folder / ".dagster_home").rglob("*")), "SQLite storage was scanned"
    assert hits == []
