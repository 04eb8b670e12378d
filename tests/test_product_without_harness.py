"""The product works where the development harness's dependencies are not installed.

A production install is `pip install .` alone: no Flask, werkzeug, moto or Faker (the `harness` extra)
and no `harness`/`sandbox` packages. Each check runs in a fresh interpreter in which those modules are
made unimportable before anything else is imported, so that an import of one of them anywhere in the
product (even an indirect one) fails the test instead of passing on this fully installed venv.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]
HARNESS_DEPENDENCIES = ("flask", "werkzeug", "moto", "faker")
HARNESS_PACKAGES = ("harness", "sandbox")

BLOCK = """
import sys
for name in {names!r}:
    sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
for name in {names!r}:
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"the block did not hold: {{name}} imported")
"""

DEFINITIONS = """
import json
import assets.definitions as definitions
job = definitions.defs.resolve_job_def("dsar_request_job")
loaded = sorted({{m.split(".")[0] for m, module in sys.modules.items() if module is not None}} & set({watched!r}))
print("RESULT " + json.dumps({{"job": job.name, "loaded": loaded}}))
"""

CLI = """
from dsar_pipeline.cli import main
sys.exit(main({argv!r}))
"""


def run_blocked(body: str, blocked: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`body` in a new interpreter with `blocked` unimportable, outside the repository (so nothing it
    writes lands in the clone) and with no DSAR_* settings (the embedded default, as a fresh install)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    script = BLOCK.format(names=blocked) + body
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def test_definitions_load_without_the_harness_dependencies(tmp_path: Path) -> None:
    """`dagster` loads `assets.definitions` in production: it must need none of the harness's modules."""
    done = run_blocked(DEFINITIONS.format(watched=HARNESS_DEPENDENCIES + HARNESS_PACKAGES),
                       HARNESS_DEPENDENCIES, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["job"] == "dsar_request_job"
    assert result["loaded"] == [], f"the definitions import the development harness: {result['loaded']}"


@pytest.mark.parametrize("blocked", [HARNESS_DEPENDENCIES, HARNESS_DEPENDENCIES + HARNESS_PACKAGES],
                         ids=["deps-missing", "no-harness"])
def test_help_lists_the_production_commands(blocked: tuple[str, ...], tmp_path: Path) -> None:
    """The product's own plugged-in commands (`decide`, `desk`) stay, whatever the harness's state."""
    done = run_blocked(CLI.format(argv=["--help"]), blocked, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ticket check" in done.stdout
    assert "audit verify" in done.stdout
    assert "decide" in done.stdout and "desk" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("blocked", "argv"), [
    # the harness is installed but its dependencies are not: the command fails on its first import
    (HARNESS_DEPENDENCIES, ["sandbox", "up"]),
    # a production install: the `dsar.commands` entry point cannot load the harness at all
    (HARNESS_DEPENDENCIES + HARNESS_PACKAGES, ["sandbox", "up"]),
    (HARNESS_DEPENDENCIES + HARNESS_PACKAGES, ["demo"]),
    (HARNESS_DEPENDENCIES + HARNESS_PACKAGES, ["ui"]),
    (HARNESS_DEPENDENCIES + HARNESS_PACKAGES, ["ticket", "example"]),
    (HARNESS_DEPENDENCIES + HARNESS_PACKAGES, ["ticket", "submit"]),
], ids=["deps-missing-sandbox-up", "no-harness-sandbox-up", "no-harness-demo", "no-harness-ui",
        "no-harness-ticket-example", "no-harness-ticket-submit"])
def test_a_harness_command_says_it_belongs_to_the_harness(blocked: tuple[str, ...], argv: list[str],
                                                          tmp_path: Path) -> None:
    """One line and exit status 2, naming the development harness: never a traceback, never a start."""
    done = run_blocked(CLI.format(argv=argv), blocked, tmp_path)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert lines[0].startswith(f"dsar {argv[0]}")
    assert "development harness" in lines[0]
    assert not list(tmp_path.iterdir()), "the command wrote files before failing"


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (`moto[s3]>=5` -> `moto`)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"not a requirement: {requirement!r}"
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def test_the_product_distribution_leaves_the_harness_out() -> None:
    """`pip install .` must bring neither the harness's dependencies nor its packages."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    dependencies = {requirement_name(r) for r in pyproject["project"]["dependencies"]}
    assert "dagster" in dependencies  # the parse found the real list
    assert dependencies.isdisjoint(HARNESS_DEPENDENCIES), dependencies & set(HARNESS_DEPENDENCIES)

    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not [p for p in include if p.split(".")[0].rstrip("*") in HARNESS_PACKAGES], include
    packages = find_packages(where=str(REPO), include=include)
    assert "dsar_pipeline" in packages and "assets" in packages
    assert not [p for p in packages if p.split(".")[0] in HARNESS_PACKAGES], packages
