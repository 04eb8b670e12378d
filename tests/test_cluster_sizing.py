"""`dsar cluster up` sizes production's instance to its workers: as many batched runs side by side as the
workers have slots (else a backlog keeps a few slots busy and a second worker takes nothing off the first),
the sensor told the same number, and everything else `deploy/dagster.yaml` as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cluster import ClusterError, batch_runs, instance_config

DEPLOYED = yaml.safe_load((Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml").read_text())


def test_batched_runs_are_every_slot_unless_the_setting_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DSAR_BATCH_RUNS", raising=False)
    assert batch_runs(2, 4) == 8 and batch_runs(1, 4) == 4
    monkeypatch.setenv("DSAR_BATCH_RUNS", "3")
    assert batch_runs(2, 4) == 3
    for bad in ("0", "-1", "two", "2.5"):
        monkeypatch.setenv("DSAR_BATCH_RUNS", bad)
        with pytest.raises(ClusterError, match="DSAR_BATCH_RUNS"):
            batch_runs(2, 4)


@pytest.mark.parametrize("runs", [1, 8, 20])
def test_the_instance_is_deploys_with_the_batch_limit_sized(runs: int) -> None:
    config = yaml.safe_load(instance_config(runs))
    limits = config["concurrency"]["runs"]
    [batch] = [e for e in limits["tag_concurrency_limits"] if e["key"] == "dsar/batch_size"]
    assert batch["limit"] == runs
    assert limits["max_concurrent_runs"] >= max(runs + 2, DEPLOYED["concurrency"]["runs"]["max_concurrent_runs"])
    unchanged = {k: v for k, v in config.items() if k != "concurrency"}
    assert unchanged == {k: v for k, v in DEPLOYED.items() if k != "concurrency"}
    assert config["concurrency"]["pools"] == DEPLOYED["concurrency"]["pools"]
