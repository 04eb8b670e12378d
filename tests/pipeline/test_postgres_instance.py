"""The production Dagster instance (deploy/dagster.yaml) on PostgreSQL: it loads with its queued run
coordinator, run queue limits, pools, run monitoring and retries, and one request runs through it (the
inbox sensor's tick, then `runner.execute` on the multiprocess executor) to `delivered`, with the run,
the request's dynamic partition and every asset's materialisation stored in PostgreSQL.

`test_deploy_dagster_yaml_works_as_committed` guards two things this file once got wrong: run queue
limits belong under `concurrency.runs` (Dagster 1.13 refuses them under `run_coordinator.config` next
to `concurrency:`), and `postgres_db` needs `scheme: postgresql+psycopg2` (without it SQLAlchemy 2.1
picks psycopg 3, on which dagster-postgres' `NOTIFY run_events, :notify_id` is a syntax error).

A throwaway database `dagster_test_<random>` on 127.0.0.1:5432 per test, dropped afterwards. The run
executes in a child process (tests/pipeline/support/execute_request.py) so that the step forkserver,
which keeps the environment it started with, does not outlive the test in the pytest process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.tags import PARTITION_NAME_TAG, RUN_KEY_TAG
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from assets.definitions import request_job
from assets.resources import RunSettingsResource
from assets.status import request_status
from connectors.registry import systems
from harness import runner

from ..conftest import requires_postgres
from .conftest import drop, person_ticket
from .support import postgres
from .support.processes import ARTIFACTS, PROJECT, child_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow, requires_postgres]

DEPLOY_YAML = PROJECT / "deploy" / "dagster.yaml"
PARTITIONS = "dsar_requests"


def instance_config() -> dict:
    """deploy/dagster.yaml as committed."""
    return yaml.safe_load(DEPLOY_YAML.read_text(encoding="utf-8"))


@pytest.fixture
def pg_home(pipeline_env: dict[str, str], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """An empty DAGSTER_HOME whose DAGSTER_PG_* point at a throwaway database; the pipeline's settings
    (sandbox, secrets) are those of `pipeline_env`."""
    with postgres.throwaway_database() as db_name:
        home = tmp_path / "dagster_home_pg"
        home.mkdir(mode=0o700)
        for key, value in {"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": postgres.HOST,
                           "DAGSTER_PG_PORT": str(postgres.PORT), "DAGSTER_PG_USER": postgres.USER,
                           "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": db_name}.items():
            monkeypatch.setenv(key, value)
        yield home, db_name


@pytest.fixture
def pg_instance(pg_home: tuple[Path, str]) -> Iterator[tuple[dg.DagsterInstance, str]]:
    home, db_name = pg_home
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(), sort_keys=False), encoding="utf-8")
    with dg.DagsterInstance.get() as instance:
        yield instance, db_name


def test_deploy_dagster_yaml_works_as_committed(pg_home: tuple[Path, str]) -> None:
    home, _ = pg_home
    shutil.copyfile(DEPLOY_YAML, home / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        instance.report_runless_asset_event(dg.AssetMaterialization("deploy_config_probe"))  # stores one event


def test_production_instance_config_loads_on_postgres(pg_instance) -> None:
    instance, _ = pg_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.compute_log_manager, NoOpComputeLogManager)

    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    concurrency = instance.get_concurrency_config()
    queue = concurrency.run_queue_config
    assert queue is not None and queue.max_concurrent_runs == 10
    assert [dict(limit) for limit in queue.tag_concurrency_limits] == [{"key": "dsar/batch_size", "limit": 2}]
    assert RunSettingsResource().batch_runs == 2  # by default the sensor cuts a burst into this many batches at once
    assert concurrency.pool_config.default_pool_limit == 4
    assert str(getattr(concurrency.pool_config.pool_granularity, "value", "")) == "op"

    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_start_timeout_seconds == 300
    assert instance.run_monitoring_cancel_timeout_seconds == 180
    assert instance.run_monitoring_max_runtime_seconds == 7200
    assert instance.run_monitoring_poll_interval_seconds == 60
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
    assert not instance.run_retries_retry_on_asset_or_op_failure


def test_one_request_runs_to_delivered_with_everything_stored_in_postgres(federation, empty_inbox,
                                                                         pg_instance) -> None:
    instance, db_name = pg_instance
    drop(federation, person_ticket(federation, "demo", suffix="-pg"), "web-pg")
    tick = runner.tick(instance)
    assert len(tick.runs) == 1 and len(tick.new_requests) == 1, tick.skip_reason
    (request_id,) = tick.new_requests
    run_request = tick.runs[0]
    assert run_request.partition_key == request_id

    spec = json.dumps({"run_key": run_request.run_key, "partition_key": run_request.partition_key,
                       "tags": dict(run_request.tags or {})})
    child = subprocess.run([sys.executable, "-m", "tests.pipeline.support.execute_request", spec], cwd=PROJECT,
                           env=child_env(os.environ), capture_output=True, text=True, errors="replace",
                           timeout=240, check=False)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "postgres-run.log").write_text(child.stderr, encoding="utf-8")  # the run's event log, for CI
    tail = "\n".join(line for line in child.stderr.splitlines()[-40:] if "Warning" not in line)
    assert child.returncode == 0, f"the run failed (exit {child.returncode}):\n{tail}"
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["success"], tail

    status = request_status(instance, request_id)
    assert status["status"] == "delivered", status
    assert all(s["status"] == "complete" and s["records"] > 0 for s in status["systems"].values()), status

    # as the instance reads it back ...
    run = instance.get_run_by_id(outcome["run_id"])
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    assert run.job_name == "dsar_request_job"
    assert run.tags[PARTITION_NAME_TAG] == request_id and run.tags[RUN_KEY_TAG] == request_id
    assert request_id in instance.get_dynamic_partitions(PARTITIONS)
    job_assets = set(request_job().asset_layer.selected_asset_keys)
    assert len(job_assets) >= 10
    for key in job_assets:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[request_id]), limit=1).records
        assert records and records[0].run_id == run.run_id, f"{key.to_user_string()} not materialised by the run"

    # ... and as it sits in PostgreSQL: the storage is the database, not a file in the home
    with postgres.connect(db_name) as conn:
        assert conn.execute("SELECT status FROM runs WHERE run_id = %s", (run.run_id,)).fetchone() == ("SUCCESS",)
        partitions = {row[0] for row in conn.execute(
            "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = %s", (PARTITIONS,))}
        assert request_id in partitions
        materialized = {row[0] for row in conn.execute(
            "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = %s AND partition = %s"
            " AND dagster_event_type = 'ASSET_MATERIALIZATION'", (run.run_id, request_id))}
        assert materialized == {key.to_string() for key in job_assets}
    assert not list(Path(os.environ["DAGSTER_HOME"]).rglob("*.db")), "no SQLite storage next to PostgreSQL"

    # the collection steps ran in their per-system pools, at op granularity, with the default limit
    pools = {entry.pool for entry in systems().values()}
    assert pools <= instance.event_log_storage.get_concurrency_keys()
    for pool in pools:
        info = instance.event_log_storage.get_concurrency_info(pool)
        assert info.slot_count == 4 and info.claimed_slots == [] and info.pending_steps == [], (pool, info)
