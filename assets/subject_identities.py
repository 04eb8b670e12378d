"""Identity resolution: the request's identifiers expanded across the systems, in rounds."""


from collections import Counter
from typing import Any

import dagster as dg

from assets.batching import PerThread, per_request
from assets.partitions import requests_partitions, single_run
from assets.resources import resource_key
from connectors.contract import Connector
from connectors.registry import systems
from connectors.resolution import IdentityGraph, expand


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="identity",
          kinds={"python"}, required_resource_keys={*(resource_key(name) for name in systems()), "run_settings"},
          description="Every identifier of the person, with match strength and path.")
def subject_identities(context: dg.AssetExecutionContext, dsar_request: Any) -> Any:
    def build_all() -> dict[str, Connector]:
        return {name: getattr(context.resources, resource_key(name)).build() for name in systems()}

    built = PerThread(build_all, lambda each: [connector.close() for connector in each.values()])

    def step(_: str, inputs: dict) -> IdentityGraph:
        return expand(inputs["dsar_request"].identifiers, built.get())

    try:
        return per_request(context, {"dsar_request": dsar_request}, step, describe=describe_graph,
                           workers=context.resources.run_settings.threads())
    finally:
        built.close()


def describe_graph(graph: IdentityGraph) -> dict[str, Any]:
    """Counts per identifier type and strength; never a value."""
    kinds = Counter(f"{i.type.value}:{i.strength.value}" for i in graph.identifiers.values())
    return {"identifiers": len(graph.identifiers), "rounds": graph.rounds, "calls": graph.calls,
            "by_type": dict(sorted(kinds.items())), "systems_unreachable": sorted(graph.errors)}


defs = dg.Definitions(assets=[subject_identities])
