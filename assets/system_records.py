"""The fan-out: one asset per system (from connectors/systems.yaml), each with its own retry policy
and concurrency pool, and a check that the system answered completely.

A system that still fails after the connector's bounded retries and Dagster's step retries does
not fail the run: it materialises a flagged `failed` outcome (visible in the UI, the check fails)
so that the package is marked incomplete and never delivered automatically, and the DPO can re-run
just this asset for this request later.
"""


from typing import Any

import dagster as dg

from assets.batching import PerThread, per_request
from assets.partitions import requests_partitions, single_run
from assets.request_checks import Verdict, check_result
from assets.resources import SystemResource, resource_key
from connectors.registry import SystemEntry, systems
from dsar_pipeline.collection.collect import SystemResult, SystemStatus, collect_system, records_asset_name
from dsar_pipeline.profiles import load_profile


def build_system_asset(entry: SystemEntry) -> dg.AssetsDefinition:
    name = records_asset_name(entry.name)

    @dg.asset(name=name, partitions_def=requests_partitions, backfill_policy=single_run, group_name="collection",
              kinds=set(entry.kinds) or None, pool=entry.pool,
              retry_policy=dg.RetryPolicy(max_retries=entry.retries, delay=1, backoff=dg.Backoff.EXPONENTIAL,
                                          jitter=dg.Jitter.PLUS_MINUS),
              check_specs=[dg.AssetCheckSpec("answered_completely", asset=name, partitions_def=requests_partitions,
                                             description=f"{entry.title} was searched to the end")],
              required_resource_keys={resource_key(entry.name), "run_settings"},
              description=f"Everything {entry.title} holds on the person (records stay encrypted).")
    def system_records(context: dg.AssetExecutionContext, dsar_request: Any, subject_identities: Any):
        system: SystemResource = getattr(context.resources, resource_key(entry.name))
        built = PerThread(system.build, lambda connector: connector.close())
        last_attempt = context.retry_number >= entry.retries
        single = len(context.partition_keys) == 1

        def step(_: str, inputs: dict) -> SystemResult:
            if entry.name not in load_profile(inputs["dsar_request"].controller).systems:
                return SystemResult(entry.name, SystemStatus.NOT_APPLICABLE)
            result = collect_system(built.get(), inputs["subject_identities"])
            if result.status is SystemStatus.FAILED and not last_attempt and single:
                raise dg.Failure(f"{entry.name}: {result.error}")  # Dagster retries the step
            return result

        try:
            result = per_request(context, {"dsar_request": dsar_request, "subject_identities": subject_identities},
                                 step, describe=describe_result,
                                 workers=context.resources.run_settings.threads())
        finally:
            built.close()
        outcomes = {context.partition_key: result} if isinstance(result, SystemResult) else result
        yield dg.Output(result)
        yield check_result(context, "answered_completely", {key: answered(o) for key, o in outcomes.items()})

    return system_records


def answered(outcome: object) -> Verdict:
    """Complete, or not applicable to the controller: passed. Failed or not run: an error."""
    if isinstance(outcome, SystemResult) and outcome.status is not SystemStatus.FAILED:
        return Verdict(True)
    cause = outcome.error if isinstance(outcome, SystemResult) else f"{outcome.step}: {outcome.error}"  # type: ignore[attr-defined]
    return Verdict(False, metadata={"cause": cause or ""})


def describe_result(result: SystemResult) -> dict[str, Any]:
    return {"status": result.status.value, "records": len(result.records), "seconds": round(result.seconds, 3),
            "calls": result.calls, "error": result.error or ""}


system_assets = [build_system_asset(entry) for entry in systems().values()]

defs = dg.Definitions(assets=system_assets)
