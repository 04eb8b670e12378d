"""Checks are per request, also in a batch: each request's partition gets its own evaluation, and one
failing request does not mark the others (nor leaves them "not evaluated")."""


from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

from assets.request_checks import Verdict, check_result
from assets.ticket_inbox import merged_tags

PARTS = dg.DynamicPartitionsDefinition(name="requests_for_checks")
KEYS = [f"r-{i:026d}" for i in range(4)]
BROKEN = KEYS[2]


@dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run(),
          check_specs=[dg.AssetCheckSpec("answered", asset="collected", partitions_def=PARTS)])
def collected(context: dg.AssetExecutionContext):
    yield dg.MaterializeResult()
    yield check_result(context, "answered", {key: Verdict(key != BROKEN, metadata={"cause": "down" if key == BROKEN
                                                                                   else ""})
                                             for key in context.partition_keys})


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        test_instance.add_dynamic_partitions(PARTS.name, KEYS)
        yield test_instance


def outcomes(instance: dg.DagsterInstance, key: str) -> list[bool]:
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("collected"), "answered"), limit=10, partition_filter=PartitionKeyFilter(key=key))
    return [r.status == Status.SUCCEEDED for r in records if r.status in (Status.SUCCEEDED, Status.FAILED)]


def test_each_request_of_a_batch_has_its_own_check_result(instance: dg.DagsterInstance) -> None:
    result = dg.materialize([collected], instance=instance, tags={
        "dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]})
    assert result.success
    assert {key: outcomes(instance, key) for key in KEYS} == {
        key: [key != BROKEN] for key in KEYS}
    for key in KEYS:  # each evaluation belongs to the run that made it
        [record] = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("collected"), "answered"), limit=10,
            partition_filter=PartitionKeyFilter(key=key))
        assert record.run_id == result.run_id


def test_a_single_request_run_checks_its_own_partition(instance: dg.DagsterInstance) -> None:
    assert dg.materialize([collected], instance=instance, partition_key=BROKEN).success
    assert outcomes(instance, BROKEN) == [False]
    assert outcomes(instance, KEYS[0]) == []


def test_a_batch_run_is_tagged_where_its_requests_agree() -> None:
    tags = merged_tags([{"dsar/controller": "enefit-ee", "dsar/due_week": "2027-W02"},
                        {"dsar/controller": "enefit-ee", "dsar/due_week": "2027-W03"}])
    assert tags == {"dsar/controller": "enefit-ee", "dsar/due_week": "mixed"}
