"""The shape of the Dagster definitions, compared with a checked-in snapshot.

A renamed asset, a dependency gained or lost, a check dropped, a sensor's interval or a schedule's cron
changed: each is a change to what runs in production, and it should show up in review as a diff of
`definitions_snapshot.json` rather than pass unnoticed. Only the structure is recorded: no resources,
executor settings, descriptions, paths or environment values, so the file is the same on every machine.

Regenerate after an intended change:
    DSAR_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/pipeline/test_definitions_snapshot.py
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
UPDATE_SETTING = "DSAR_UPDATE_SNAPSHOT"
REGENERATE = f"{UPDATE_SETTING}=1 .venv/bin/python -m pytest tests/pipeline/test_definitions_snapshot.py"
KIND_TAG = "dagster/kind/"


def key_text(key: dg.AssetKey) -> str:
    return key.to_user_string()


def check_text(key: dg.AssetCheckKey) -> str:
    return f"{key_text(key.asset_key)}:{key.name}"


def partitions_name(partitions_def: dg.PartitionsDefinition | None) -> str | None:
    """The dynamic partition set's name (the one the sensor adds requests to), else Dagster's own summary."""
    if partitions_def is None:
        return None
    return getattr(partitions_def, "name", None) or str(partitions_def)


def sorted_texts(items: Iterable[str]) -> list[str]:
    return sorted(set(items))


def asset_entries(graph: Any, specs: dict[dg.AssetKey, dg.AssetSpec]) -> list[dict[str, Any]]:
    entries = []
    for node in graph.asset_nodes:
        spec = specs[node.key]
        policy = node.backfill_policy
        entries.append({
            "key": key_text(node.key),
            "group": node.group_name,
            "kinds": sorted(spec.kinds),
            "partitions": partitions_name(node.partitions_def),
            "backfill_policy": policy.policy_type.value if policy else None,
            "deps": sorted_texts(key_text(k) for k in node.parent_entity_keys),
            "checks": sorted_texts(k.name for k in node.check_keys),
            "tags": {k: v for k, v in sorted(spec.tags.items()) if not k.startswith(KIND_TAG)},
            "owners": sorted(spec.owners),
        })
    return sorted(entries, key=lambda e: e["key"])


def check_entries(graph: Any) -> list[dict[str, Any]]:
    entries = [{"asset": key_text(node.key.asset_key), "name": node.key.name, "blocking": node.blocking,
                "partitions": partitions_name(node.partitions_def)}
               for node in graph.asset_check_nodes]
    return sorted(entries, key=lambda e: (e["asset"], e["name"]))


def sensor_entries(sensors: Iterable[dg.SensorDefinition]) -> list[dict[str, Any]]:
    entries = [{"name": s.name, "type": s.sensor_type.value,
                "targets": sorted_texts(t.job_name for t in s.targets),
                "asset_selection": str(s.asset_selection) if s.asset_selection is not None else None,
                "minimum_interval_seconds": s.minimum_interval_seconds,
                "default_status": s.default_status.value}
               for s in sensors]
    return sorted(entries, key=lambda e: e["name"])


def schedule_entries(schedules: Iterable[dg.ScheduleDefinition]) -> list[dict[str, Any]]:
    entries = [{"name": s.name, "cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name,
                "default_status": s.default_status.value}
               for s in schedules]
    return sorted(entries, key=lambda e: e["name"])


def job_entries(jobs: Iterable[dg.JobDefinition]) -> list[dict[str, Any]]:
    """Asset jobs by the assets and checks they select, op jobs by their ops; Dagster's implicit
    `__ASSET_JOB` (every asset) is left out, as it is not ours."""
    entries = []
    for job in jobs:
        if job.name.startswith("__"):
            continue
        entry: dict[str, Any] = {"name": job.name, "partitions": partitions_name(job.partitions_def),
                                 "tags": dict(sorted(job.tags.items()))}
        if job.is_asset_job:
            layer = job.asset_layer
            entry["assets"] = sorted_texts(key_text(k) for k in layer.selected_asset_keys)
            entry["asset_checks"] = sorted_texts(check_text(k) for data in layer.data
                                                 for k in data.assets_def.check_keys)
        else:
            entry["ops"] = sorted_texts(job.graph.node_dict)
        entries.append(entry)
    return sorted(entries, key=lambda e: e["name"])


def definitions_snapshot(defs: dg.Definitions) -> dict[str, Any]:
    """A deterministic, sorted description of what `defs` would run."""
    graph = defs.resolve_asset_graph()
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    return {
        "assets": asset_entries(graph, specs),
        "asset_checks": check_entries(graph),
        "sensors": sensor_entries(defs.sensors or []),
        "schedules": schedule_entries(defs.schedules or []),
        "jobs": job_entries(defs.resolve_all_job_defs()),
    }


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """The definitions as `dagster` loads them on the embedded default (DSAR_ENV unset). Nothing the
    snapshot records depends on the environment, but production would refuse to load without secrets."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DSAR_ENV", raising=False)
        return importlib.import_module("assets.definitions").defs


def test_definitions_match_the_snapshot(defs: dg.Definitions) -> None:
    actual = render(definitions_snapshot(defs))
    if os.environ.get(UPDATE_SETTING) == "1":
        SNAPSHOT.write_text(actual)
        return
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT.name}; create it with `{REGENERATE}`"
    expected = SNAPSHOT.read_text()
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True), n=8,
                                            fromfile=f"{SNAPSHOT.name} (checked in)", tofile="definitions now"))
        pytest.fail(f"the Dagster definitions changed:\n{diff}\nIf the change is intended, regenerate the "
                    f"snapshot with `{REGENERATE}` and commit it.", pytrace=False)


def test_the_snapshot_sees_every_part(defs: dg.Definitions) -> None:
    """The snapshot builder itself: an empty section would make the comparison vacuous."""
    snapshot = definitions_snapshot(defs)
    assert {e["key"] for e in snapshot["assets"]} == {key_text(k) for k in defs.resolve_all_asset_keys()}
    assert {e["name"] for e in snapshot["sensors"]} == {s.name for s in defs.sensors or []}
    assert {e["name"] for e in snapshot["schedules"]} == {s.name for s in defs.schedules or []}
    assert "dsar_request_job" in {e["name"] for e in snapshot["jobs"]}
    assert snapshot["asset_checks"], "the request job's completeness checks are missing"
