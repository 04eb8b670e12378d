"""The response package: the portability export and the letter staged encrypted, then sealed as an
AES-256 ZIP (and a CDOC for ID-card holders), with a check that it opens and its hashes match."""

import dataclasses
from typing import Any

import dagster as dg

from assets.batching import per_request
from assets.io_manager import load_stored
from assets.partitions import requests_partitions, single_run
from assets.request_checks import Verdict, check_result
from assets.resources import WorkStoreResource
from assets.resources.systems import resource_key
from connectors.classification import ReviewCause
from connectors.registry import systems
from dsar_pipeline.export.redaction import RECORDINGS_SYSTEM
from dsar_pipeline.package.assemble import StagedContents, seal_package, stage_contents, staging_for
from dsar_pipeline.package.handoff import (
    StoredPackage,
    get_staging,
    put_staging,
    scratch,
    staging_prefix,
    store_package,
)
from dsar_pipeline.package.passphrase import generate_passphrase
from dsar_pipeline.package.verify import verify_package

SYSTEM_INPUTS = {f"{name}_records": dg.AssetIn() for name in systems()}
AUDIO_SYSTEM = RECORDINGS_SYSTEM if RECORDINGS_SYSTEM in systems() else None  # whose calls' audio is copied


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="package", kinds={"python"},
          ins={"dsar_request": dg.AssetIn(), "review_findings": dg.AssetIn(), **SYSTEM_INPUTS},
          deps=["release_scope"],
          required_resource_keys={"work", *([resource_key(AUDIO_SYSTEM)] if AUDIO_SYSTEM else [])},
          description="Export (JSON, CSV, Parquet, data dictionary), readable report, recordings and the Art. 15 "
                      "letter, staged encrypted.")
def portability_export(context: dg.AssetExecutionContext, **inputs: Any) -> Any:
    """The call recordings' audio is streamed from their system while staging; a deployment without that
    system (only systems configured by their dataset files, say) needs no such resource."""
    work: WorkStoreResource = context.resources.work
    keys, store = work.key_provider(), work.store()
    recordings = getattr(context.resources, resource_key(AUDIO_SYSTEM)).build() if AUDIO_SYSTEM else None

    def copy_audio(attachment: Any, sink: Any) -> None:
        if recordings is None:
            raise RuntimeError("a call recording was released, but no recordings system is configured")
        recordings.copy_attachment(attachment, sink)

    def step(request_id: str, own: dict) -> StagedContents:
        results = {name: own[f"{name}_records"] for name in systems()}
        scope = load_stored(context.instance, work, request_id, "release_scope") or {}  # the DPO's, if they gave one
        include_review = {cause for cause, chosen in ((ReviewCause.WEAK_MATCH, scope.get("include_review_records")),
                                                      (ReviewCause.UNBOUND_IDENTIFIER,
                                                       scope.get("include_unbound_records"))) if chosen}
        with scratch("export") as folder:  # staged here for this step only, handed over through the work store
            staging = staging_for(folder, request_id, keys)
            contents = stage_contents(staging, own["dsar_request"], results, own["review_findings"],
                                      include_review=include_review, copy_audio=copy_audio)
            put_staging(store, staging.directory, request_id)
        return contents

    try:
        return per_request(context, inputs, step, describe=lambda c: {
            "files": c.files, "records": c.records, "complete": c.complete, "withheld": c.withheld,
            "letter_pdf": c.letter_pdf})
    finally:
        if recordings is not None:
            recordings.close()


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="package", kinds={"python"},
          check_specs=[dg.AssetCheckSpec("opens_and_hashes_match", asset="response_package",
                                         partitions_def=requests_partitions,
                                         description="the ZIP opens with its passphrase and every manifest hash "
                                                     "matches its file")],
          description="The sealed package: manifest, AES-256 ZIP, CDOC when the person has an ID-card certificate.")
def response_package(context: dg.AssetExecutionContext, dsar_request: Any, portability_export: Any,
                     work: WorkStoreResource):
    keys, store = work.key_provider(), work.store()

    def step(request_id: str, own: dict) -> StoredPackage:
        """Built in this step's scratch folder from the staging in the work store; sealed back into it."""
        passphrase = generate_passphrase()
        with scratch("package") as folder:
            staging = staging_for(folder, request_id, keys)
            get_staging(store, request_id, staging.directory)
            sealed = seal_package(staging, own["dsar_request"], own["portability_export"], folder / "package",
                                  passphrase)
            problems, manifest_sha256 = verify_package(sealed.path, passphrase)
            if problems:
                raise dg.Failure(f"package check failed: {problems[0]}")
            checked = dataclasses.replace(sealed, manifest_sha256=manifest_sha256)
            stored = store_package(store, keys, request_id, checked, passphrase)
        store.delete_prefix(staging_prefix(request_id))  # archived now, as `seal_package` empties its own copy
        return stored

    result = per_request(context, {"dsar_request": dsar_request, "portability_export": portability_export}, step,
                         describe=lambda p: {"size": p.size, "package_sha256": p.sha256, "files": p.files,
                                             "manifest_sha256": p.manifest_sha256, "complete": p.complete,
                                             "cdoc": p.cdoc_key is not None})
    packages = {context.partition_key: result} if isinstance(result, StoredPackage) else result
    yield dg.Output(result)
    yield check_result(context, "opens_and_hashes_match", {
        key: Verdict(True) if isinstance(package, StoredPackage) else Verdict(False, metadata={"cause": "not built"})
        for key, package in packages.items()})


defs = dg.Definitions(assets=[portability_export, response_package])
