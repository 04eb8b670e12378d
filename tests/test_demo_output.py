"""What `dsar demo` (without `--json`) shows: its own progress in a few lines, no library noise (no
Dagster DEBUG event lines, no warnings), the log file that holds all of that, where the link mail
and the passphrase SMS went, and the command that opens the package — never the passphrase."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SIZE = 120
MAX_LINES = 25
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("demo-output")
    result = subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "demo", "--size", str(SIZE)],
                            cwd=folder, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return folder, result


def shown(stdout: str, label: str) -> str:
    """The value of the progress line `demo: <label>: <value>` (the first word of it for paths)."""
    match = re.search(rf"^demo: {re.escape(label)}:\s+(.+)$", stdout, flags=re.MULTILINE)
    assert match, f"no {label!r} line in:\n{stdout}"
    return match.group(1)


def test_only_the_demos_own_progress_reaches_the_terminal(demo_run) -> None:
    _, result = demo_run
    lines = result.stdout.splitlines()
    assert 5 <= len(lines) <= MAX_LINES, result.stdout
    assert all(line.startswith("demo: ") for line in lines), result.stdout
    assert result.stderr == ""
    for noise in ("DEBUG", "Warning", "WARNING", "Traceback", "RUN_START", "STEP_"):
        assert noise not in result.stdout, noise


def test_the_log_file_is_named_and_holds_dagsters_events(demo_run) -> None:
    folder, result = demo_run
    log = folder / shown(result.stdout, "full log (Dagster's events, warnings, the steps' output)")
    assert log == folder / "out" / "demo.log" and log.is_file()
    assert log.stat().st_mode & 0o077 == 0, "the log is the owner's only"
    text = log.read_text(encoding="utf-8", errors="replace")
    assert " - dagster - DEBUG - " in text
    for event in ("RUN_START", "STEP_START", "STEP_SUCCESS", "RUN_SUCCESS"):
        assert event in text, event
    assert "STEP_WORKER_STARTED" in text, "the step processes' own lines land in the log too"
    assert "demo: status: delivered" in text


def test_it_says_where_the_link_and_the_passphrase_went_and_how_to_open_the_package(demo_run) -> None:
    folder, result = demo_run
    mail = folder / shown(result.stdout, "link mail")
    sms = folder / shown(result.stdout, "passphrase SMS").split()[0]
    assert mail.is_file() and mail.parent.name == "mail"
    assert sms.is_file() and sms.parent.name == "sms"
    command = shown(result.stdout, "open the package (AES-256 ZIP)")
    (package,) = (folder / "out").glob("r-*.zip")
    assert command.startswith("7zz x ") and str(package.relative_to(folder)) in command
    passphrase = json.loads(sms.read_text(encoding="utf-8"))["text"].split()[-1]
    assert passphrase not in result.stdout, "the passphrase stays in the SMS"
    link = next(w for w in json.loads(mail.read_text(encoding="utf-8"))["text"].split() if w.startswith("http"))
    assert link not in result.stdout, "the download link stays in the mail"


@pytest.mark.skipif(not (shutil.which("7zz") and shutil.which("jq")), reason="7zz or jq missing (apt-get install "
                    "7zip jq)")
def test_the_printed_command_opens_the_package(demo_run) -> None:
    folder, result = demo_run
    command = shown(result.stdout, "open the package (AES-256 ZIP)")
    opened = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=120,
                            check=False)
    assert opened.returncode == 0, opened.stdout[-2000:] + opened.stderr[-2000:]
    (package,) = (folder / "out").glob("r-*.zip")
    assert (package.with_suffix("") / "manifest.json").is_file(), "opened beside the package, not in the folder"


def test_the_embedded_instance_has_no_community_dialog(demo_run) -> None:
    import dagster as dg

    folder, _ = demo_run
    instance = dg.DagsterInstance.from_config(str(folder / ".dagster_home"))
    try:
        assert instance.nux_enabled is False
        assert instance.telemetry_enabled is False
    finally:
        instance.dispose()


def test_with_json_stdout_is_the_json_line_alone_and_progress_goes_to_stderr(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "demo", "--size", str(SIZE), "--json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = result.stdout.splitlines()
    summary = json.loads(line)
    assert set(summary) == {"request_id", "person", "dagster_home", "status", "package", "link_outbox",
                            "passphrase_outbox", "systems", "seconds_total", "log_file"}
    assert Path(summary["log_file"]) == (tmp_path / "out" / "demo.log").resolve()
    assert "RUN_SUCCESS" in Path(summary["log_file"]).read_text(encoding="utf-8", errors="replace")
    progress = result.stderr.splitlines()
    assert 5 <= len(progress) <= MAX_LINES and all(p.startswith("demo: ") for p in progress), result.stderr
