"""Controller profiles as data, the ``ticket`` commands, and example tickets for sandbox people."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from dsar_pipeline.cli import main as dsar
from dsar_pipeline.intake import parse_ticket
from dsar_pipeline.intake.commands import main, register
from dsar_pipeline.profiles import ProfileError, list_controllers, load_profile

from .conftest import BASE_TICKET, FIXED_NOW

CONTROLLERS = ["enefit-ee", "enefit-lv", "enertek-lv", "kilowats-lv", "set-lv"]
SANDBOX = importlib.util.find_spec("sandbox.people") is not None
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason="sandbox.people (example persons) is not importable yet")


def test_all_five_controllers_have_profiles():
    assert list_controllers() == CONTROLLERS


@pytest.mark.parametrize("controller", CONTROLLERS)
def test_profile_fields(controller):
    profile = load_profile(controller)
    assert profile.id == controller
    assert profile.answer_deadline_months == 1 and profile.extension_months == 2
    assert profile.country == controller[-2:].upper()
    assert profile.time_zone == {"EE": "Europe/Tallinn", "LV": "Europe/Riga"}[profile.country]
    assert profile.supervisory_authority.url.startswith("https://")
    assert profile.default_language in profile.languages


def test_profile_facts_from_the_notices():
    assert load_profile("enefit-ee").registration_number == "16130213"
    assert load_profile("enefit-ee").signed_requests_required is True
    assert load_profile("enefit-lv").registration_number == "40003824046"
    assert load_profile("set-lv").registration_number == "40203265643"
    assert load_profile("kilowats-lv").registration_number == "40003952958"
    assert load_profile("enertek-lv").registration_number is None  # the notice does not state one
    assert not load_profile("enefit-lv").signed_requests_required


def test_profile_keeps_unknown_keys(tmp_path, monkeypatch):
    import dsar_pipeline.profiles as profiles

    source = (profiles.PROFILE_DIR / "enefit-ee.yaml").read_text(encoding="utf-8")
    (tmp_path / "enefit-ee.yaml").write_text(source + "retention:\n  - period: P3Y\n", encoding="utf-8")
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    profiles.load_profile.cache_clear()
    try:
        extended = profiles.load_profile("enefit-ee")
        assert (extended.model_extra or {})["retention"] == [{"period": "P3Y"}]
    finally:
        profiles.load_profile.cache_clear()


@pytest.mark.parametrize("bad", ["../etc/passwd", "ENEFIT-EE", "", "a" * 60, "acme-ee"])
def test_unknown_or_unsafe_controller_ids(bad):
    with pytest.raises(ProfileError):
        load_profile(bad)


def test_register_adds_the_ticket_group(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="dsar")
    register(parser.add_subparsers(dest="command", required=True))
    path = tmp_path / "t.json"
    path.write_text(json.dumps(BASE_TICKET))
    args = parser.parse_args(["ticket", "check", str(path), "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["controller"] == "enefit-ee"
    # Enefit AS's notice promises 30 calendar days: 1 April, a day before the statutory month ends.
    assert out["received_date"] == "2026-03-02" and out["due_date"] == "2026-04-01"
    assert out["due_basis"] == "notice_promise"
    assert out["request_id"].startswith("r-") and len(out["request_id"]) == 28
    assert out["verification"] == {
        "status": "needs_manual_verification",
        "reason": "no signed container was provided; verify the requester's identity manually",
        "reason_code": "no_container",
    }


def test_check_human_output(tmp_path, capsys):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(BASE_TICKET))
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ticket OK" in out and "2026-04-01" in out and "Europe/Tallinn" in out
    assert "the notice's promised answer period" in out


def test_unknown_controller_for_example_is_one_line(capsys):
    assert dsar(["ticket", "example", "--controller", "acme-ee"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("unknown controller")


def test_usage_error_is_one_line_exit_2():
    result = subprocess.run([sys.executable, "-m", "dsar_pipeline.intake.commands", "frobnicate"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@needs_sandbox
@pytest.mark.parametrize(("controller", "country"), [("enefit-ee", "EE"), ("enefit-lv", "LV"), ("set-lv", "LV")])
def test_example_tickets_are_valid(controller, country):
    from harness.ticket_example import example_person, example_ticket

    ticket_dict = example_ticket(controller, now=FIXED_NOW)
    ticket = parse_ticket(json.dumps(ticket_dict).encode(), now=FIXED_NOW)
    person = example_person(country)
    assert ticket.controller_id == controller
    assert ticket.personal_code is not None and ticket.personal_code[0] == country
    assert person["name"] == {"EE": "demo", "LV": "latvian"}[country]


@needs_sandbox
def test_example_command_output_passes_check(tmp_path, capsys):
    """``example`` in-process (the population is cached), then ``check`` on its output as a subprocess."""
    assert dsar(["ticket", "example", "--controller", "kilowats-lv"]) == 0
    (tmp_path / "example.json").write_text(capsys.readouterr().out)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    argv = [sys.executable, "-m", "dsar_pipeline.intake.commands", "check", str(tmp_path / "example.json"), "--json"]
    check = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    summary = json.loads(check.stdout)
    assert summary["controller"] == "kilowats-lv"
    assert summary["received_date"] == datetime.now(UTC).astimezone(load_profile("kilowats-lv").zone).date().isoformat()
