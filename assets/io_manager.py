"""An IO manager that never lets plaintext reach Dagster's storage.

Outputs are pickled, sealed with AES-256-GCM envelope encryption (a fresh data key per object,
from KMS or the local key file) and written to the work store under `<request id>/<asset>.sealed`;
Dagster records only the URI and the SHA-256 of the ciphertext. A run that carries several
requests (a batch) passes `{request id: value}` mappings, stored one object per request, so each
request's data stays separable and purgeable on its own.
"""

from __future__ import annotations

import hashlib
import pickle  # we only unpickle objects we sealed ourselves (authenticated encryption)
from typing import Any

import dagster as dg

from assets.resources import WorkStoreResource
from dsar_pipeline.sealing.envelope import decrypt_bytes, encrypt_bytes
from dsar_pipeline.sealing.objects import sealed_object_key


def object_key(request_id: str, asset_key: dg.AssetKey) -> str:
    return sealed_object_key(request_id, ".".join(asset_key.path))


def _context(request_id: str, asset_key: dg.AssetKey) -> dict[str, str]:
    return {"request": request_id, "asset": "/".join(asset_key.path)}


class EncryptedIOManager(dg.ConfigurableIOManager):
    work: WorkStoreResource

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        keys = _partition_keys(context)
        values = obj if len(keys) > 1 else {keys[0]: obj}
        store, provider = self.work.store(), self.work.key_provider()
        refs = {}
        for request_id in keys:
            blob = encrypt_bytes(pickle.dumps(values[request_id], protocol=5), provider,
                                 _context(request_id, context.asset_key))
            uri = store.put(object_key(request_id, context.asset_key), blob)
            refs[request_id] = (uri, hashlib.sha256(blob).hexdigest())
        if len(keys) == 1:  # a batch's objects are per request: no single uri belongs on the run's output
            uri, digest = refs[keys[0]]
            context.add_output_metadata({"uri": uri, "sha256": digest})

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        asset_key = context.asset_key if context.has_asset_key else upstream.asset_key  # type: ignore[union-attr]
        keys = list(context.asset_partition_keys)
        store, provider = self.work.store(), self.work.key_provider()
        values = {request_id: _open(store, provider, request_id, asset_key) for request_id in keys}
        return values if len(keys) > 1 else values[keys[0]]


def load_stored(work: WorkStoreResource, request_id: str, asset: str) -> Any | None:
    """The request's last stored output of `asset`, or None when it was never materialised: for the
    DPO's decisions, which the sensor's runs do not build (they would only ever say "pending")."""
    store, key = work.store(), dg.AssetKey(asset)
    return _open(store, work.key_provider(), request_id, key) if store.exists(object_key(request_id, key)) else None


def _open(store: Any, provider: Any, request_id: str, asset_key: dg.AssetKey) -> Any:
    """One request's sealed output of an asset, opened (authenticated encryption: sealed by us)."""
    blob = store.get(object_key(request_id, asset_key))
    return pickle.loads(decrypt_bytes(blob, provider, _context(request_id, asset_key)))  # noqa: S301


def _partition_keys(context: dg.OutputContext) -> list[str]:
    if not context.has_asset_partitions:
        raise dg.Failure("the encrypted IO manager stores only per-request (partitioned) assets")
    return list(context.asset_partition_keys)
