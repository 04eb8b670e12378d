"""The step forkserver's warm-up: every part of it works, so that no step worker pays for it again.

`step_preload` swallows its own failures (a failed warm-up must not kill the forkserver), so a
warm-up that silently broke — a renamed module, a moved Dagster class — would only show as slow
runs. Here each part runs unguarded, in a fresh process on a prepared Dagster home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.embedded import prepare_home

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import assets.step_preload as preload
for part in (preload._instance_classes, preload._paths, preload._caches, preload._service_models):
    part()
for entry in preload.systems().values():
    entry.connector_class()
from dsar_pipeline.letter.words import strings
from dsar_pipeline.profiles import load_profile
from dsar_pipeline.report.render import _environment
from connectors.http import tls_context
print(json.dumps({
    "modules": sorted(m for m in ("dagster._core.storage.sqlite_storage", "upath.registry", "sqlalchemy", "alembic",
                                  "connectors.avp.connector", "connectors.dataset.connector", "pyarrow.parquet",
                                  "pandas", "weasyprint", "pyhanko.sign")
                      if m in sys.modules),
    "profiles_cached": load_profile.cache_info().currsize, "strings_cached": strings.cache_info().currsize,
    "report_template_cached": _environment.cache_info().currsize, "tls_cached": tls_context.cache_info().currsize}))
"""


def test_every_part_of_the_warm_up_runs_and_leaves_the_modules_and_caches_loaded(tmp_path: Path) -> None:
    env = {**os.environ, **prepare_home(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["modules"] == sorted(["dagster._core.storage.sqlite_storage", "upath.registry", "sqlalchemy",
                                       "alembic", "connectors.avp.connector", "connectors.dataset.connector",
                                       "pyarrow.parquet", "pandas", "weasyprint", "pyhanko.sign"])
    assert found["profiles_cached"] == 5 and found["strings_cached"] == 4
    assert found["report_template_cached"] == 1 and found["tls_cached"] == 1


def test_the_executor_preloads_it() -> None:
    from assets.definitions import EXECUTOR_CONFIG

    assert "assets.step_preload" in EXECUTOR_CONFIG["start_method"]["forkserver"]["preload_modules"]
