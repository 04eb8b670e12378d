"""The contract a tester of impersonation relies on, through the real commands in a fresh folder:
`dsar ticket example` signs any request a person could sign with their own card, on its own, and
`dsar demo --ticket` files it. The impostor's signed request naming a stranger's customer number
releases nothing; the honest one is delivered; the same container on another ticket is replayed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.people import named_people

SIZE = 120  # the named people are the same at any size, so the default-size example verifies here too
pytestmark = pytest.mark.slow


def dsar(folder: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", *args], cwd=folder, capture_output=True,
                          text=True, timeout=timeout, check=False)


def demo(folder: Path, ticket: Path) -> tuple[int, dict]:
    result = dsar(folder, "demo", "--ticket", str(ticket), "--size", str(SIZE), "--json")
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("example-cli")


def test_an_impostor_naming_a_strangers_customer_number_gets_nothing(folder: Path) -> None:
    people = {p["name"]: p for p in named_people(size=SIZE)}
    stranger = people["stranger"]
    made = dsar(folder, "ticket", "example", "--person", "impostor", "--identity",
                f"customer_number={stranger['customer_id']}")
    assert made.returncode == 0, made.stderr
    ticket = json.loads(made.stdout)
    assert any(i["identity_value"] == str(stranger["customer_id"]) for i in ticket["subject_identities"])
    (folder / "attempt.json").write_text(made.stdout)
    code, summary = demo(folder, folder / "attempt.json")
    assert code == 0 and summary["person"] == "impostor"
    assert summary["status"] == "awaiting_review" and summary["package"] is None
    mails = list((folder / ".sandbox" / "demo" / "outbox" / "mail").glob("*.json"))
    assert not [m for m in mails if summary["request_id"] in m.read_text()], "nothing was sent"


def test_the_honest_example_is_delivered_and_its_container_cannot_be_replayed(folder: Path) -> None:
    made = dsar(folder, "ticket", "example", "--language", "en")
    assert made.returncode == 0, made.stderr
    (folder / "honest.json").write_text(made.stdout)
    code, summary = demo(folder, folder / "honest.json")
    assert code == 0 and (summary["person"], summary["status"]) == ("demo", "delivered")
    replay = json.loads(made.stdout)
    replay["subject_request_id"] += "-again"  # not signed: a new request id around the same container
    (folder / "replay.json").write_text(json.dumps(replay))
    code, summary = demo(folder, folder / "replay.json")
    assert code == 1 and summary["status"] == "rejected"


def test_bad_options_get_one_line_and_exit_2(folder: Path) -> None:
    for args in (("--person", "nobody"), ("--identity", "shoe_size=42"), ("--identity", "personal_code=1"),
                 ("--controller", "acme")):
        result = dsar(folder, "ticket", "example", *args, timeout=120)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
