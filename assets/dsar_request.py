"""The request asset: opens the sealed ticket and states the facts every later step needs."""


from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.partitions import requests_partitions, single_run
from assets.resources import WorkStoreResource
from dsar_pipeline.intake.sealed_tickets import RequestFacts, open_ticket, request_facts


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="intake",
          kinds={"python"}, description="The request: ticket opened, identity verification, received and due dates.")
def dsar_request(context: dg.AssetExecutionContext, work: WorkStoreResource) -> Any:
    store, keys = work.store(), work.key_provider()

    def step(request_id: str, _: dict) -> RequestFacts:
        return request_facts(*open_ticket(store, keys, request_id))

    return per_request(context, {}, step, describe=RequestFacts.public_facts)


defs = dg.Definitions(assets=[dsar_request])
