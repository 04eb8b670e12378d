"""`dsar sandbox …` end to end: start-up, settings file, people, run-time faults, bad settings."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
from stdnum.ee import ik
from stdnum.lv import pvn

from dsar_pipeline.settings import SETTINGS, load_env_file
from sandbox.population import CASES, generate

DSAR = [sys.executable, "-m", "dsar_pipeline.cli"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DSAR, *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    state = tmp_path_factory.mktemp("up")
    env_file = state / "out" / "sandbox.env"
    proc = subprocess.Popen([*DSAR, "sandbox", "up", "--size", "50", "--port-base", "0", "--state-dir", str(state),
                             "--env-file", str(env_file), "--faults", "portal=latency:0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not env_file.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "sandbox not ready"
        time.sleep(0.05)
    yield proc, env_file
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_up_writes_every_setting_the_pipeline_reads(running) -> None:
    _, env_file = running
    settings = load_env_file(env_file, environ={})
    assert set(SETTINGS) <= set(settings), set(SETTINGS) - set(settings)
    assert settings["DSAR_ENV"] == "embedded"
    assert settings["DSAR_BILLING_DATABASE_URL"].startswith("sqlite:///")
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"


def test_faults_given_at_start_apply_and_change_at_run_time(running) -> None:
    _, env_file = running
    result = run("sandbox", "faults", "--env-file", str(env_file))
    assert result.stdout.strip() == "portal=latency:0.2"
    result = run("sandbox", "faults", "volt=down", "--env-file", str(env_file))
    assert result.returncode == 0 and result.stdout.strip() == "volt=down"
    settings = load_env_file(env_file, environ={})
    with pytest.raises(httpx.ConnectError):
        httpx.post(settings["DSAR_VOLT_TOKEN_URL"], data={"grant_type": "client_credentials"}, timeout=2)
    assert run("sandbox", "faults", "none", "--env-file", str(env_file)).stdout.strip() == "no faults"
    response = httpx.post(settings["DSAR_VOLT_TOKEN_URL"], data={"grant_type": "client_credentials"},
                          auth=(settings["DSAR_VOLT_CLIENT_ID"], settings["DSAR_VOLT_CLIENT_SECRET"]), timeout=5)
    assert response.status_code == 200
    assert_one_line_error(run("sandbox", "faults", "volt=melt", "--env-file", str(env_file)), "unknown fault kind")


def test_the_call_centre_and_the_controller_are_two_accounts(running) -> None:
    """The recordings (a source system) and the controller's own inbox, work store, packages and KMS are
    two endpoints of two accounts: each refuses the other's key, buckets and KMS, and a fault on
    `recordings` leaves the controller's own endpoint answering."""
    from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

    from sandbox.recordings.accounts import CALL_CENTRE, CONTROLLER, Account
    from sandbox.recordings.seed import client as sandbox_client

    _, env_file = running
    s = load_env_file(env_file, environ={})

    def client(service: str, url: str, account: Account):
        return sandbox_client(service, url, s["DSAR_AWS_REGION"], account=account, retries={"max_attempts": 1},
                              connect_timeout=2, read_timeout=5)

    def refused(call, code: str) -> None:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code

    recordings, own = s["DSAR_RECORDINGS_ENDPOINT_URL"], s["DSAR_S3_ENDPOINT_URL"]
    assert recordings != own and s["DSAR_KMS_ENDPOINT_URL"] == own
    assert (s["DSAR_RECORDINGS_ACCESS_KEY_ID"], s["DSAR_AWS_ACCESS_KEY_ID"]) == (CALL_CENTRE.access_key_id,
                                                                               CONTROLLER.access_key_id)
    call_centre, controller = client("s3", recordings, CALL_CENTRE), client("s3", own, CONTROLLER)
    call_centre.head_bucket(Bucket=s["DSAR_RECORDINGS_BUCKET"])
    controller.head_bucket(Bucket=s["DSAR_INBOX_BUCKET"])
    for bucket in ("DSAR_INBOX_BUCKET", "DSAR_WORK_BUCKET", "DSAR_PACKAGE_BUCKET"):
        refused(lambda b=s[bucket]: call_centre.list_objects_v2(Bucket=b), "AccessDenied")
    refused(lambda: controller.list_objects_v2(Bucket=s["DSAR_RECORDINGS_BUCKET"]), "AccessDenied")
    refused(lambda: client("s3", recordings, CONTROLLER).list_objects_v2(Bucket=s["DSAR_RECORDINGS_BUCKET"]),
            "InvalidAccessKeyId")
    refused(lambda: client("kms", recordings, CALL_CENTRE).describe_key(KeyId=s["DSAR_KMS_KEY_ID"]),
            "AccessDeniedException")
    assert httpx.get(f"{recordings}/{s['DSAR_RECORDINGS_BUCKET']}?list-type=2", timeout=5).status_code == 403
    client("kms", own, CONTROLLER).describe_key(KeyId=s["DSAR_KMS_KEY_ID"])

    assert run("sandbox", "faults", "recordings=down", "--env-file", str(env_file)).returncode == 0
    try:
        with pytest.raises((EndpointConnectionError, ConnectionClosedError)):  # a kept connection: closed
            call_centre.head_bucket(Bucket=s["DSAR_RECORDINGS_BUCKET"])
        controller.put_object(Bucket=s["DSAR_INBOX_BUCKET"], Key="tickets/fault-probe.json", Body=b"{}")
        controller.delete_object(Bucket=s["DSAR_INBOX_BUCKET"], Key="tickets/fault-probe.json")
        client("kms", own, CONTROLLER).describe_key(KeyId=s["DSAR_KMS_KEY_ID"])
    finally:
        assert run("sandbox", "faults", "none", "--env-file", str(env_file)).returncode == 0


def test_up_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env_file = tmp_path / "s.env"
    proc = subprocess.Popen([*DSAR, "sandbox", "up", "--size", "20", "--port-base", "0", "--state-dir",
                             str(tmp_path), "--env-file", str(env_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while not env_file.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


@pytest.mark.parametrize(("args", "words"), [
    (["--faults", "volt=melt"], ["unknown fault kind", "melt"]),
    (["--faults", "kitchen=down"], ["unknown system", "kitchen"]),
    (["--faults", "volt=latency:soon"], ["needs a number"]),
    (["--faults", "volt=error:7"], ["out of range"]),
    (["--faults", "billing=latency:1"], ["SQLite", "--billing-url"]),
    (["--size", "-3"], ["--size"]),
    (["--bogus"], ["unrecognized arguments"]),
    (["--size", "20", "--billing-url", "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/none"],
     ["billing: cannot seed the database at", "postgres:***@127.0.0.1:1/none"]),
])
def test_bad_settings_give_one_line_and_nonzero_exit(tmp_path: Path, args: list[str], words: list[str]) -> None:
    result = run("sandbox", "up", "--port-base", "0", "--state-dir", str(tmp_path), "--env-file",
                 str(tmp_path / "x.env"), *args)
    assert_one_line_error(result, *words)
    assert "s3cret" not in result.stderr
    assert not (tmp_path / "x.env").exists()


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        base = sock.getsockname()[1]
        result = run("sandbox", "up", "--size", "20", "--port-base", str(base), "--state-dir", str(tmp_path),
                     "--env-file", str(tmp_path / "x.env"))
    assert_one_line_error(result, "already in use", str(base))


def test_people_lists_every_named_case_with_valid_identifiers() -> None:
    result = run("sandbox", "people", "--json")
    assert result.returncode == 0, result.stderr
    people = json.loads(result.stdout)
    assert [p["name"] for p in people] == list(CASES)
    for person in people:
        if person["country"] == "EE":
            assert ik.is_valid(person["personal_code"])
        else:
            assert pvn.is_valid(person["personal_code"]) and person["personal_code"][0] <= "3"
    text = run("sandbox", "people").stdout
    assert all(name in text for name in CASES)


def test_population_is_deterministic_and_named_cases_do_not_depend_on_size() -> None:
    first, second, other = generate(seed=7, size=40), generate(seed=7, size=40), generate(seed=8, size=40)
    assert [asdict(p) for p in first.people] == [asdict(p) for p in second.people]
    assert [asdict(c) for c in first.calls] == [asdict(c) for c in second.calls]
    assert [asdict(i) for i in first.invoices] == [asdict(i) for i in second.invoices]
    assert first.case("demo").personal_code != other.case("demo").personal_code
    bigger = generate(seed=7, size=80)
    for name in CASES:
        assert asdict(bigger.case(name)) == asdict(first.case(name))


def test_named_cases_have_the_shapes_the_issues_describe() -> None:
    pop = generate(size=30)
    a, b = pop.case("household-a"), pop.case("household-b")
    assert a.phone == b.phone and a.personal_code != b.personal_code
    demo = pop.case("demo")
    (customer,) = pop.customer_of(demo.key)
    assert len(pop.meters_of(customer.id)) == 2
    assert 18 <= len([c for c in pop.calls if c.person_key == demo.key]) <= 22
    (trader,) = pop.customer_of(pop.case("sole-trader").key)
    assert trader.kind == "sole_trader" and len(pop.meters_of(trader.id)) == 10
    (two,) = pop.customer_of(pop.case("two-contracts").key)
    contracts = sorted((c for c in pop.contracts if c.customer_id == two.id), key=lambda c: c.start_date)
    assert contracts[0].end_date is not None and (pop.as_of - contracts[0].end_date).days >= 4 * 365
    assert contracts[1].end_date is None
    (debtor,) = pop.customer_of(pop.case("debtor").key)
    assert [d for d in pop.debts if d.customer_id == debtor.id]
    assert [c for c in pop.credit_checks if c.customer_id == debtor.id]
    volt_only = pop.case("volt-only")
    assert not pop.customer_of(volt_only.key)
    assert [v for v in pop.volt_accounts if v.person_key == volt_only.key and v.google_sub]
    unknown = pop.case("unknown")
    everything = json.dumps([asdict(x) for x in [*pop.customers, *pop.contacts, *pop.volt_accounts,
                                                  *pop.portal_users, *pop.calls, *pop.hub_customers]], default=str)
    for value in (unknown.personal_code, unknown.email, unknown.phone):
        assert value and value not in everything
    assert pop.case("latvian").country == "LV"
    portal_only = pop.case("portal-only")
    assert not pop.customer_of(portal_only.key)
    assert [u for u in pop.portal_users if u.person_key == portal_only.key]


def test_help_explains_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for word in ("sandbox", "ticket", "demo"):
        assert word in result.stdout
    assert "up" in run("sandbox", "--help").stdout
    assert_one_line_error(run("nonsense"), "invalid choice")
