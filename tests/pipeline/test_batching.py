"""One run, many requests: each keeps its own status, and one request's failure fails no other.

`per_request` runs inside real Dagster materialisations here (a small partitioned asset on an
ephemeral instance), over a partition range as the sensor's batched runs are.
"""

import threading
import time

import dagster as dg
import pytest

from assets.batching import PerThread, StepFailed, per_request
from assets.io_manager import EncryptedIOManager
from assets.resources import WorkStoreResource
from assets.status import latest_metadata

KEYS = [f"r-{i:026d}" for i in range(6)]
BROKEN = KEYS[2]
partitions = dg.DynamicPartitionsDefinition(name="batch_test")
single_run = dg.BackfillPolicy.single_run()
seen_threads: set[str] = set()
RESOURCES = {"io_manager": EncryptedIOManager(work=WorkStoreResource(kind="local"))}


def facts(value: dict) -> dict:
    return {"status": value["status"], "records": value["records"]}


def step(request_id: str, _: dict) -> dict:
    seen_threads.add(threading.current_thread().name)
    time.sleep(0.2)  # a wait on another system: the threads overlap it
    if request_id == BROKEN:
        raise RuntimeError("Mari Maasikas 38001085718")  # a message with personal data: never recorded
    return {"status": "complete", "records": int(request_id[-1])}


@dg.asset(partitions_def=partitions, backfill_policy=single_run)
def collected(context: dg.AssetExecutionContext) -> object:
    return per_request(context, {}, step, describe=facts, workers=4)


@dg.asset(partitions_def=partitions, backfill_policy=single_run)
def downstream(context: dg.AssetExecutionContext, collected: object) -> object:
    return per_request(context, {"collected": collected}, lambda _, own: own["collected"], describe=facts)


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """An ephemeral instance; intermediates sealed by the pipeline's own IO manager under tmp_path."""
    monkeypatch.setenv("DSAR_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("DSAR_LOCAL_KEY_FILE", str(tmp_path / "kek.bin"))
    monkeypatch.setenv("DSAR_KMS_KEY_ID", "")
    with dg.instance_for_test() as test_instance:
        test_instance.add_dynamic_partitions(partitions.name, KEYS)
        yield test_instance


def test_a_batch_run_keeps_each_requests_status_and_isolates_a_failure(instance: dg.DagsterInstance) -> None:
    seen_threads.clear()
    started = time.monotonic()
    result = dg.materialize([collected, downstream], instance=instance, resources=RESOURCES, tags={
        "dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]})
    elapsed = time.monotonic() - started
    assert result.success, "one request's failure does not fail the run"
    for key in KEYS:
        upstream, after = latest_metadata(instance, "collected", key), latest_metadata(instance, "downstream", key)
        sealed = upstream.pop("uri"), upstream.pop("sha256")  # each request's own object, as Dagster recorded it
        assert sealed[0].endswith(f"/{key}/collected.sealed") and len(sealed[1]) == 64
        if key == BROKEN:
            assert upstream == {"failed": "collected: RuntimeError"}, "a batch's counts are not a request's facts"
            assert after["failed"] == "collected: RuntimeError", "the marker is passed on, the step not run"
        else:
            assert "requests" not in upstream and "failed_requests" not in upstream
            assert upstream["status"] == after["status"] == "complete"
            assert upstream["records"] == after["records"] == int(key[-1])
    assert len(seen_threads) > 1 and elapsed < 6 * 0.2 + 5
    logged = " ".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    assert "38001085718" not in logged and "Maasikas" not in logged


def test_a_single_request_raises_so_dagster_can_retry_it(instance: dg.DagsterInstance) -> None:
    result = dg.materialize([collected], instance=instance, resources=RESOURCES, partition_key=BROKEN,
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "38001085718" not in str(failure.event_specific_data)
    assert latest_metadata(instance, "collected", KEYS[1]) == {}


def test_per_thread_builds_one_object_per_thread_and_closes_all() -> None:
    closed: list[int] = []
    serial = iter(range(100))
    made = PerThread(lambda: [next(serial)], lambda value: closed.append(value[0]))
    threads = [threading.Thread(target=lambda: [made.get() for _ in range(3)]) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made.get() is made.get()
    made.close()
    assert sorted(closed) == [0, 1, 2, 3]


def test_step_failed_is_a_plain_marker() -> None:
    assert StepFailed("a", "B") == StepFailed("a", "B")


def forging_facts(value: dict) -> dict:
    return {**facts(value), "sha256": "0" * 64, "uri": "file:///elsewhere"}


@dg.asset(partitions_def=partitions, backfill_policy=single_run)
def forging(context: dg.AssetExecutionContext) -> object:
    return per_request(context, {}, lambda key, _: {"status": "complete", "records": int(key[-1])},
                       describe=forging_facts)


def test_a_steps_facts_cannot_replace_the_recorded_hash_and_uri(instance: dg.DagsterInstance) -> None:
    """The facts and the sealed object's record go onto the materialisation in one call; the record wins."""
    result = dg.materialize([forging], instance=instance, resources=RESOURCES, tags={
        "dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]})
    assert result.success
    for key in KEYS:
        recorded = latest_metadata(instance, "forging", key)
        assert recorded["records"] == int(key[-1])
        assert recorded["sha256"] != "0" * 64 and recorded["uri"].endswith(f"/{key}/forging.sealed")


def test_partition_metadata_goes_only_to_the_steps_own_partitions() -> None:
    from assets.io_manager import add_partition_metadata

    class OlderDagster:  # no accumulator where this Dagster keeps it: Dagster's own method is used
        def __init__(self) -> None:
            self.added: list[tuple] = []

        def add_asset_metadata(self, metadata: dict, asset_key: object, partition_key: str) -> None:
            self.added.append((metadata, asset_key, partition_key))

    context = OlderDagster()
    with pytest.raises(dg.DagsterInvariantViolationError):
        add_partition_metadata(context, dg.AssetKey("collected"), "r-other", frozenset(KEYS), {"records": 1})
    add_partition_metadata(context, dg.AssetKey("collected"), KEYS[0], frozenset(KEYS), {"records": 1})
    assert context.added == [({"records": 1}, dg.AssetKey("collected"), KEYS[0])]
