"""A request's state as the DPO sees it, read back from what Dagster recorded (metadata only)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from connectors.registry import systems


def latest_materialization(instance: dg.DagsterInstance, asset: str, request_id: str) -> Any:
    """The event record of the asset's last materialisation for the request's partition, or None."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[request_id]), limit=1)
    return result.records[0] if result.records else None


def latest_metadata(instance: dg.DagsterInstance, asset: str, request_id: str) -> dict[str, Any]:
    """The request's facts from the asset's last run: each step puts them on the materialisation of
    the request's own partition (also when the request ran in a batch)."""
    return metadata_of(latest_materialization(instance, asset, request_id))


def metadata_of(record: Any) -> dict[str, Any]:
    """The plain metadata values of a materialisation's event record ({} for None)."""
    materialization = record.event_log_entry.asset_materialization if record else None
    metadata = materialization.metadata if materialization else {}
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def request_status(instance: dg.DagsterInstance, request_id: str) -> dict[str, Any]:
    """`status` (delivered | incomplete | awaiting_review | rejected | in_progress) and per-system state.

    `rejected` is the DPO's rejection, or a request stopped at intake because its identity evidence
    was rejected (then `reason_code` says why: content_mismatch, stale_signature, replayed, revoked, ...).
    """
    per_system = {}
    for name in systems():
        meta = latest_metadata(instance, f"{name}_records", request_id)
        per_system[name] = {"status": meta.get("status", "not_run"), "records": int(meta.get("records", 0)),
                            "seconds": float(meta.get("seconds", 0.0))}
    delivery = latest_metadata(instance, "delivery", request_id)
    intake = latest_metadata(instance, "dsar_request", request_id)
    if intake.get("verification") == "rejected" and not delivery:
        return {"request_id": request_id, "status": "rejected", "reason_code": intake.get("reason_code", ""),
                "systems": per_system}
    status = delivery.get("status") or ("incomplete" if any(s["status"] == "failed" for s in per_system.values())
                                        else "in_progress")
    return {"request_id": request_id, "status": status, "systems": per_system}


PAGE = 1000


def latest_by_partition(instance: dg.DagsterInstance, asset: str) -> dict[str, tuple[dict[str, Any], float]]:
    """Every request's last materialisation of `asset`: partition → (metadata, timestamp). One pass
    over the asset's events, newest first, rather than one query per request (the worklist reads
    every request at least hourly)."""
    latest: dict[str, tuple[dict[str, Any], float]] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(dg.AssetKey(asset), limit=PAGE, cursor=cursor)
        for record in result.records:
            partition = record.partition_key
            if partition and partition not in latest:
                latest[partition] = (metadata_of(record), record.timestamp)
        if not result.has_more:
            return latest
        cursor = result.cursor
