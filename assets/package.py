"""The response package: the portability export and the letter staged encrypted, then sealed as an
AES-256 ZIP (and a CDOC for ID-card holders), with a check that it opens and its hashes match."""

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pyzipper

from assets.batching import per_request
from assets.io_manager import load_stored
from assets.partitions import requests_partitions, single_run
from assets.resources import ConnectorsResource, WorkStoreResource
from connectors.classification import ReviewCause
from connectors.registry import systems
from dsar_pipeline.package.assemble import SealedPackage, StagedContents, seal_package, stage_contents, staging_for
from dsar_pipeline.package.passphrase import generate_passphrase
from dsar_pipeline.sealing.envelope import encrypt_bytes

SYSTEM_INPUTS = {f"{name}_records": dg.AssetIn() for name in systems()}
PASSPHRASE_OBJECT = "passphrase.sealed"  # noqa: S105 - an object name, not a secret


def work_root() -> Path:
    """Encrypted staging and sealed packages live on the worker's disk (ciphertext only)."""
    return Path(os.environ.get("DSAR_WORK_DIR", ".dagster_home/work")).resolve()


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="package", kinds={"python"},
          ins={"dsar_request": dg.AssetIn(), "review_findings": dg.AssetIn(), **SYSTEM_INPUTS},
          deps=["release_scope"],
          description="Export (JSON, CSV, Parquet, data dictionary), readable report, recordings and the Art. 15 "
                      "letter, staged encrypted.")
def portability_export(context: dg.AssetExecutionContext, work: WorkStoreResource,
                       connectors: ConnectorsResource, **inputs: Any) -> Any:
    keys = work.key_provider()
    recordings = connectors.build("recordings")

    def copy_audio(attachment: Any, sink: Any) -> None:
        recordings.copy_attachment(attachment, sink)  # type: ignore[attr-defined]

    def step(request_id: str, own: dict) -> StagedContents:
        results = {name: own[f"{name}_records"] for name in systems()}
        scope = load_stored(work, request_id, "release_scope") or {}  # the DPO's, if they gave one
        include_review = {cause for cause, chosen in ((ReviewCause.WEAK_MATCH, scope.get("include_review_records")),
                                                      (ReviewCause.UNBOUND_IDENTIFIER,
                                                       scope.get("include_unbound_records"))) if chosen}
        return stage_contents(staging_for(work_root(), request_id, keys), own["dsar_request"], results,
                              own["review_findings"], include_review=include_review, copy_audio=copy_audio)

    try:
        return per_request(context, inputs, step, describe=lambda c: {
            "files": c.files, "records": c.records, "complete": c.complete, "withheld": c.withheld})
    finally:
        recordings.close()


@dg.asset(partitions_def=requests_partitions, backfill_policy=single_run, group_name="package", kinds={"python"},
          check_specs=[dg.AssetCheckSpec("opens_and_hashes_match", asset="response_package",
                                         description="the ZIP opens with its passphrase and every manifest hash "
                                                     "matches its file")],
          description="The sealed package: manifest, AES-256 ZIP, CDOC when the person has an ID-card certificate.")
def response_package(context: dg.AssetExecutionContext, dsar_request: Any, portability_export: Any,
                     work: WorkStoreResource):
    keys, store = work.key_provider(), work.store()

    def step(request_id: str, own: dict) -> SealedPackage:
        passphrase = generate_passphrase()
        store.put(f"{request_id}/{PASSPHRASE_OBJECT}",
                  encrypt_bytes(passphrase.encode(), keys, {"request": request_id, "asset": "passphrase"}))
        sealed = seal_package(staging_for(work_root(), request_id, keys), own["dsar_request"],
                              own["portability_export"], work_root() / request_id / "package", passphrase)
        problems, manifest_sha256 = verify_package(sealed.path, passphrase)
        if problems:
            raise dg.Failure(f"package check failed: {problems[0]}")
        return dataclasses.replace(sealed, manifest_sha256=manifest_sha256)

    result = per_request(context, {"dsar_request": dsar_request, "portability_export": portability_export}, step,
                         describe=lambda p: {"size": p.size, "package_sha256": p.sha256, "files": p.files,
                                             "manifest_sha256": p.manifest_sha256, "complete": p.complete,
                                             "cdoc": p.cdoc_path is not None})
    packages = {context.partition_key: result} if isinstance(result, SealedPackage) else result
    failed = [k for k, v in packages.items() if not isinstance(v, SealedPackage)]
    yield dg.Output(result)
    yield dg.AssetCheckResult(check_name="opens_and_hashes_match", passed=not failed,
                              metadata={"packages_checked": len(packages) - len(failed)})


def verify_package(path: Path, passphrase: str) -> tuple[list[str], str]:
    """Open the ZIP with an independent reader (pyzipper) and check every file against the manifest;
    returns the problems and the SHA-256 of the manifest (what a DPO's approval is bound to)."""
    import hashlib

    problems: list[str] = []
    with pyzipper.AESZipFile(path) as archive:
        archive.setpassword(passphrase.encode())
        raw_manifest = archive.read("manifest.json")
        manifest = json.loads(raw_manifest)
        listed = {entry["path"]: entry for entry in manifest["files"]}
        names = set(archive.namelist()) - {"manifest.json"}
        if names != set(listed):
            problems.append(f"{len(names ^ set(listed))} files differ between the archive and the manifest")
        for name in sorted(names & set(listed)):
            digest, size = hashlib.sha256(), 0
            with archive.open(name) as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
            if digest.hexdigest() != listed[name]["sha256"] or size != listed[name]["size"]:
                problems.append(f"file #{sorted(listed).index(name)} does not match its manifest hash")
    return problems, hashlib.sha256(raw_manifest).hexdigest()


defs = dg.Definitions(assets=[portability_export, response_package])
