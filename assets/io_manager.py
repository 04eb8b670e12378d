"""An IO manager that never lets plaintext reach Dagster's storage, and never runs what it opens.

Outputs are written as data (`dsar_pipeline.sealing.codec`: JSON and byte buffers, never pickles),
sealed with AES-256-GCM envelope encryption (a fresh data key per object, from KMS or the local key
file) and put in the work store under `<request id>/<asset>.sealed`. Dagster records the URI and
the SHA-256 of the ciphertext on the request's own materialisation, and a step opens an object only
when its SHA-256 is the one Dagster recorded last for that request and asset (`recorded_digests`):
whoever can write to the work store, even with a data key, cannot hand a worker another object.
A run that carries several requests (a batch) passes `{request id: value}` mappings, stored one
object per request, so each request's data stays separable and purgeable on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import dagster as dg

from assets.resources import WorkStoreResource
from dsar_pipeline.sealing import codec
from dsar_pipeline.sealing.envelope import decrypt_bytes, encrypt_bytes
from dsar_pipeline.sealing.objects import sealed_object_key

DIGEST = "sha256"
"""The metadata key of a sealed object's SHA-256 on its request's materialisation."""


class UnrecordedObjectError(dg.Failure):
    """A work-store object Dagster has no record of, or another one than it recorded: never opened.
    Messages hold the asset and request id only, so the step shows them (a `dg.Failure`), not retried."""

    def __init__(self, description: str) -> None:
        super().__init__(description=description, allow_retries=False)


def object_key(request_id: str, asset_key: dg.AssetKey) -> str:
    return sealed_object_key(request_id, ".".join(asset_key.path))


def _context(request_id: str, asset_key: dg.AssetKey) -> dict[str, str]:
    return {"request": request_id, "asset": "/".join(asset_key.path)}


class EncryptedIOManager(dg.ConfigurableIOManager):
    work: WorkStoreResource

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        keys = _partition_keys(context)
        values = obj if len(keys) > 1 else {keys[0]: obj}
        facts = getattr(obj, "facts", {}) if len(keys) > 1 else {}  # a batch's `RequestResults`
        targeted = frozenset(keys)
        store, provider = self.work.store(), self.work.key_provider()
        for request_id in keys:
            blob = encrypt_bytes(codec.dumps(values[request_id]), provider, _context(request_id, context.asset_key))
            uri = store.put(object_key(request_id, context.asset_key), blob)
            recorded = {"uri": uri, DIGEST: hashlib.sha256(blob).hexdigest()}
            if len(keys) == 1:
                context.add_output_metadata(recorded)
            else:  # each request's object and facts on its own partition's materialisation
                add_partition_metadata(context.step_context, context.asset_key, request_id, targeted,
                                       {**facts.get(request_id, {}), **recorded})

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        asset_key = context.asset_key if context.has_asset_key else upstream.asset_key  # type: ignore[union-attr]
        keys = list(context.asset_partition_keys)
        store, provider = self.work.store(), self.work.key_provider()
        digests = recorded_digests(context.instance, asset_key, keys)
        values = {request_id: _open(store, provider, request_id, asset_key, digests.get(request_id))
                  for request_id in keys}
        return values if len(keys) > 1 else values[keys[0]]


def add_partition_metadata(step_context: Any, asset_key: dg.AssetKey, partition_key: str,
                           targeted: frozenset[str], metadata: dict[str, Any]) -> None:
    """`step_context.add_asset_metadata(metadata, asset_key, partition_key)`, without reading the partitions
    back per call.

    Dagster's method checks that `partition_key` is one of the step's by reading every partition of the
    run's range back from the instance, three queries (each with a schema check on SQLite) per call: half
    of a batch step's own time went there. The check here is the same, against the step's partition keys
    read once (`targeted`); the metadata goes into the same accumulator Dagster's method fills (pinned
    Dagster; where that accumulator is not found, Dagster's own method is used).
    """
    if partition_key not in targeted:
        raise dg.DagsterInvariantViolationError(f"partition {partition_key} is not one of this step's")
    accumulator = getattr(step_context, "_metadata_accumulator", None)
    if not hasattr(accumulator, "with_additional_asset_metadata") or asset_key not in step_context.assets_def.keys:
        step_context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=partition_key)
        return
    step_context._metadata_accumulator = accumulator.with_additional_asset_metadata(
        asset_key=asset_key, metadata=metadata, partition_key=partition_key)


def load_stored(instance: dg.DagsterInstance, work: WorkStoreResource, request_id: str, asset: str) -> Any | None:
    """The request's last materialisation of `asset`, or None when it was never materialised: for the
    DPO's decisions, which the sensor's runs do not build (they would only ever say "pending")."""
    key = dg.AssetKey(asset)
    digest = recorded_digests(instance, key, [request_id]).get(request_id)
    if digest is None:
        return None
    return _open(work.store(), work.key_provider(), request_id, key, digest)


def recorded_digests(instance: dg.DagsterInstance, asset_key: dg.AssetKey,
                     request_ids: Iterable[str]) -> dict[str, str | None]:
    """The SHA-256 recorded on each request's latest materialisation of `asset_key` (None: recorded
    without one); requests never materialised are left out."""
    wanted, found = set(request_ids), {}
    records_filter = dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=sorted(wanted))
    cursor = None
    while wanted - found.keys():
        page = instance.fetch_materializations(records_filter, limit=max(100, 2 * len(wanted)), cursor=cursor)
        for record in page.records:
            materialization = record.asset_materialization
            partition = materialization.partition if materialization else None
            if partition in wanted and partition not in found:
                value = materialization.metadata.get(DIGEST)  # type: ignore[union-attr]
                found[partition] = value.value if isinstance(value, dg.TextMetadataValue) else None
        if not page.has_more:
            break
        cursor = page.cursor
    return found


def _open(store: Any, provider: Any, request_id: str, asset_key: dg.AssetKey, digest: str | None) -> Any:
    """One request's sealed output of an asset, opened only when it is the object Dagster recorded."""
    asset = asset_key.to_user_string()
    if digest is None:
        raise UnrecordedObjectError(f"request {request_id}: Dagster recorded no sealed {asset} with a hash; "
                                    f"materialise {asset} again")
    blob = store.get(object_key(request_id, asset_key))
    if hashlib.sha256(blob).hexdigest() != digest:
        raise UnrecordedObjectError(f"request {request_id}: the work store's {asset} is not the object Dagster "
                                    "recorded (SHA-256 differs): refused unopened")
    return codec.loads(decrypt_bytes(blob, provider, _context(request_id, asset_key)))


def _partition_keys(context: dg.OutputContext) -> list[str]:
    if not context.has_asset_partitions:
        raise dg.Failure("the encrypted IO manager stores only per-request (partitioned) assets")
    return list(context.asset_partition_keys)
