"""`dsar dataset check|access`: usable → exit 0; every problem one line on stderr with exit 2; never a
traceback; without `--json` no personal value printed; with it, the documented JSON as the last line.
Against the billing dataset on the sandbox's SQLite file, and a hostile schema on all three back ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from sandbox.billing.seed import seed_database
from sandbox.population import generate
from tests.connectors.dataset_databases import BACKENDS, fresh_database
from tests.connectors.test_dataset_walk import ANCHOR, DATASET, SHARED_PHONE, create

BILLING = Path(__file__).resolve().parents[1] / "connectors" / "dataset" / "files" / "billing.yml"


def dsar(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "dataset", *args], capture_output=True,
                          text=True, timeout=120, env=None if env is None else {**os.environ, **env})


def one_line_refusal(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dataset") / "awkward.yml"
    path.write_text(yaml.safe_dump(DATASET, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as (write_url, read_url):
        create(write_url)
        yield read_url


@pytest.fixture(scope="module")
def billing_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return seed_database(generate(size=40), None, tmp_path_factory.mktemp("billing") / "billing.sqlite3")


# -- check ---------------------------------------------------------------------------------------------------


def test_the_billing_dataset_is_usable_on_the_sandbox_database(billing_url: str) -> None:
    done = dsar("check", str(BILLING), "--url", billing_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("ok: ") and done.stderr == ""


def test_check_without_a_database(awkward: Path) -> None:
    done = dsar("check", str(awkward))
    assert done.returncode == 0 and "usable" in done.stdout


def test_check_reports_a_missing_table_and_column_and_warns_of_a_missing_index(awkward: Path, database: str) -> None:
    data = yaml.safe_load(awkward.read_text(encoding="utf-8"))
    collections = data["dataset"][0]["collections"]
    collections.append({"name": "ghost", "fields": [{"name": "id", "fides_meta": {"primary_key": True}}]})
    collections[0]["fields"].append({"name": "nickname", "data_categories": ["user.name"]})
    # `order.placed` becomes an entry point, and no index starts with it
    collections[1]["fields"][2]["fides_meta"]["identity"] = "customer_eic"
    changed = awkward.with_name(f"changed-{abs(hash(database))}.yml")
    changed.write_text(yaml.safe_dump(data), encoding="utf-8")
    done = dsar("check", str(changed), "--url", database)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    problems = done.stderr.strip().splitlines()
    assert problems == [f"{changed}: Person Data.nickname: no such column in the database",
                        f"{changed}: ghost: no such table in the database"]
    assert "warning: order.placed: not indexed; every walk that reaches it reads the whole table" in \
        done.stdout.splitlines()
    assert "warning: ghost: no identity and no reference reaches it: never read" in done.stdout.splitlines()


def test_check_lists_every_problem_of_the_file_one_line_each(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(yaml.safe_dump(DATASET))
    collections = data["dataset"][0]["collections"]
    collections[1]["fields"][1]["fides_meta"]["references"] = [{"dataset": "awkward", "field": "people.id"}]
    collections[0]["fields"][4]["data_categories"] = ["user.shoe_size"]
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    done = dsar("check", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert any("dangling reference to 'people.id'" in line for line in lines)
    assert any("unknown data category 'user.shoe_size'" in line for line in lines)
    assert all(line.startswith(f"{path}: ") for line in lines)


@pytest.mark.parametrize(("args", "says"), [
    (["check", "/nowhere/billing.yml"], "/nowhere/billing.yml: no such file"),
    (["check", str(BILLING), "--url", "oracle://scott@db/orcl"], "not oracle://"),
    (["check", str(BILLING), "--url", "not a url"], "not an SQLAlchemy URL"),
    (["check", str(BILLING), "--url", "sqlite:////nowhere/billing.sqlite3"], "SQLite database file does not exist"),
])
def test_check_refuses_bad_input_in_one_line(args: list[str], says: str) -> None:
    one_line_refusal(dsar(*args), says)


def test_check_of_an_unreachable_database_is_one_line_without_the_password() -> None:
    done = dsar("check", str(BILLING), "--url", "postgresql+psycopg://someone:s3cret@127.0.0.1:1/none")
    one_line_refusal(done, "cannot read the database schema")
    assert "s3cret" not in done.stderr


# -- access --------------------------------------------------------------------------------------------------


def test_access_json_holds_every_declared_field_and_the_revealed_identifiers(awkward: Path, database: str) -> None:
    done = dsar("access", str(awkward), "--url", database, "--identity", f"personal_code={ANCHOR}", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(answer) == {"collections", "revealed", "queries", "seconds"}
    declared = {c["name"]: [f["name"] for f in c["fields"]] for c in DATASET["dataset"][0]["collections"]}
    assert set(answer["collections"]) == set(declared)
    for name, rows in answer["collections"].items():
        assert rows and all(list(row) == declared[name] for row in rows), name
    assert answer["collections"]["Person Data"] == [{"id": 1, "code": ANCHOR, "Email": "Anna@Example.ee",
                                                     "phone": SHARED_PHONE, "select": "Anna"}]
    assert {"type": "phone", "value": SHARED_PHONE, "strength": "weak"} in answer["revealed"]
    assert {"type": "personal_code", "value": ANCHOR, "strength": "strong"} in answer["revealed"]
    assert isinstance(answer["queries"], int) and answer["queries"] > 0
    assert isinstance(answer["seconds"], float | int) and answer["seconds"] >= 0


def test_access_without_json_prints_counts_only(awkward: Path, database: str) -> None:
    done = dsar("access", str(awkward), "--url", database, "--identity", f"personal_code={ANCHOR}",
                "--identity", "email=anna@example.ee")
    assert done.returncode == 0, done.stderr
    assert "Person Data: 1 rows" in done.stdout and "line: 6 rows" in done.stdout
    for personal in (ANCHOR, "anna@example.ee", "Anna", SHARED_PHONE, "5001"):
        assert personal.lower() not in done.stdout.lower()


def test_access_on_billing_finds_a_latvian_code_without_its_hyphen(billing_url: str) -> None:
    latvian = generate(size=40).case("latvian").personal_code
    done = dsar("access", str(BILLING), "--url", billing_url, "--identity",
                f"personal_code={latvian.replace('-', '')}", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert [row["personal_code"] for row in answer["collections"]["customers"]] == [latvian]


@pytest.mark.parametrize(("identity", "says"), [
    ("shoe_size=42", "unknown identity type"),
    ("email", "expected TYPE=VALUE"),
    ("email=not-an-address", "not an e-mail address"),
    ("volt_account_id=7", "no entry point of this dataset"),
])
def test_access_refuses_a_bad_identity_in_one_line(billing_url: str, identity: str, says: str) -> None:
    one_line_refusal(dsar("access", str(BILLING), "--url", billing_url, "--identity", identity), says)


def test_access_refuses_a_missing_file_and_a_bad_url_in_one_line(tmp_path: Path) -> None:
    one_line_refusal(dsar("access", str(tmp_path / "none.yml"), "--url", "sqlite:///x", "--identity", "email=a@b.ee"),
                     "none.yml")
    one_line_refusal(dsar("access", str(BILLING), "--url", "mssql://x", "--identity", "email=a@b.ee"), "not mssql://")


def test_the_url_can_come_from_the_environment_and_stay_off_the_command_line(billing_url: str) -> None:
    """`--url env:NAME`: a URL with a password need not be typed where the process list shows it."""
    latvian = generate(size=40).case("latvian").personal_code
    env = {"BILLING_READER_URL": billing_url}
    assert dsar("check", str(BILLING), "--url", "env:BILLING_READER_URL", env=env).returncode == 0
    done = dsar("access", str(BILLING), "--url", "env:BILLING_READER_URL", "--identity",
                f"personal_code={latvian}", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout.strip().splitlines()[-1])["collections"]["customers"]) == 1
    one_line_refusal(dsar("check", str(BILLING), "--url", "env:NOT_SET_ANYWHERE", env={"NOT_SET_ANYWHERE": ""}),
                     "the environment variable NOT_SET_ANYWHERE is not set")
    one_line_refusal(dsar("access", str(BILLING), "--url", "env:1;rm", "--identity", "email=a@b.ee"),
                     "is not an environment variable name")
    done = dsar("access", str(BILLING), "--url", "env:HIDDEN_URL", "--identity", "email=a@b.ee",
                env={"HIDDEN_URL": "mysql+pymysql://root:s3cret@127.0.0.1:1/none"})
    one_line_refusal(done, "billing: ")
    assert "s3cret" not in done.stderr


def test_access_to_an_unreachable_database_is_one_line() -> None:
    done = dsar("access", str(BILLING), "--url", "mysql+pymysql://root:s3cret@127.0.0.1:1/none",
                "--identity", "email=a@b.ee")
    one_line_refusal(done, "billing: ")
    assert "s3cret" not in done.stderr


def test_the_schema_is_left_as_it_was(database: str, awkward: Path) -> None:
    """A dry run reads: a walk with hostile values leaves every row in place."""
    dsar("access", str(awkward), "--url", database, "--identity", "personal_code=1'; DELETE FROM line; --")
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM line")).scalar() == 12
    engine.dispose()
