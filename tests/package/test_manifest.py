"""manifest.json: every staged file with its size and SHA-256 (re-computed here from the bytes), the systems
with status and counts, the completeness flag, written last."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from dsar_pipeline.collection.collect import SystemResult, SystemStatus
from dsar_pipeline.export.portability import write_export
from dsar_pipeline.package.manifest import MANIFEST_PATH, build_manifest, verify_manifest, write_manifest
from dsar_pipeline.report.render import write_report
from tests.package.test_export import SYSTEMS, DirStaging, person_records

GENERATED = datetime(2026, 1, 15, 12, 30, 5, tzinfo=timezone(timedelta(hours=2)))


def package(tmp_path: Path) -> DirStaging:
    staging = DirStaging(tmp_path)
    records = person_records()
    write_export(records, staging, systems=SYSTEMS)
    write_report(records, staging, person_language="en",
                 systems_summary={s: {"status": "complete", "records": 1} for s in SYSTEMS})
    return staging


def test_every_file_is_listed_with_the_size_and_hash_of_its_bytes(tmp_path: Path) -> None:
    staging = package(tmp_path)
    systems = {s: {"status": "complete", "records": 2, "seconds": 0.51234} for s in SYSTEMS}
    manifest = write_manifest(staging, request_id="req-7", controller="enefit-ee", systems=systems,
                              generated_at=GENERATED)
    assert staging.files()[-1].name == MANIFEST_PATH
    assert json.loads(staging.read(MANIFEST_PATH)) == manifest
    listed = {entry["path"]: entry for entry in manifest["files"]}
    on_disk = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {MANIFEST_PATH}
    for path, entry in listed.items():
        content = (tmp_path / path).read_bytes()
        assert entry["size"] == len(content) and entry["sha256"] == hashlib.sha256(content).hexdigest(), path
    assert manifest["totals"] == {"files": len(listed), "bytes": sum(e["size"] for e in listed.values())}
    assert manifest["request_id"] == "req-7" and manifest["controller"] == "enefit-ee"
    assert manifest["generated_at"] == "2026-01-15T10:30:05Z"
    assert manifest["complete"] is True and manifest["systems"]["avp"] == {"status": "complete", "records": 2,
                                                                            "seconds": 0.512}
    assert verify_manifest(staging, manifest) == []


def test_verification_catches_a_changed_file(tmp_path: Path) -> None:
    staging = package(tmp_path)
    manifest = build_manifest(staging, request_id="r", controller="enefit-lv",
                              systems={"billing": {"status": "complete", "records": 1}}, generated_at=GENERATED)
    target = tmp_path / "export" / "csv" / "billing" / "contacts.csv"
    target.write_bytes(target.read_bytes().replace(b"mari@", b"mary@"))
    assert verify_manifest(staging, manifest) == ["export/csv/billing/contacts.csv"]


def test_a_failed_system_makes_the_package_incomplete(tmp_path: Path) -> None:
    staging = package(tmp_path)
    systems = {"billing": SystemResult("billing", SystemStatus.COMPLETE, records=[], seconds=1.0),
               "volt": SystemResult("volt", SystemStatus.FAILED, error="volt: timeout")}
    manifest = build_manifest(staging, request_id="r", controller="kilowats-lv", systems=systems,
                              generated_at=GENERATED.astimezone(UTC))
    assert manifest["complete"] is False
    assert manifest["systems"]["volt"] == {"status": "failed", "records": 0, "seconds": 0.0}
    assert "error" not in json.dumps(manifest)  # causes stay with the DPO, not in the customer's package
    assert build_manifest(staging, request_id="r", controller="c", systems={}, generated_at=GENERATED)[
        "complete"] is False


def test_naive_times_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build_manifest(DirStaging(tmp_path), request_id="r", controller="c", systems={},
                       generated_at=datetime(2026, 1, 1))


def test_the_encrypted_staging_verifies_too(tmp_path: Path) -> None:
    from dsar_pipeline.sealing.encrypted_staging import EncryptedStaging
    from dsar_pipeline.sealing.keys import LocalKeyProvider

    staging = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "kek"), "req-9")
    write_export(person_records(), staging, systems=SYSTEMS)
    manifest = write_manifest(staging, request_id="req-9", controller="enefit-ee",
                              systems={s: {"status": "complete", "records": 1} for s in SYSTEMS},
                              generated_at=GENERATED)
    assert staging.files()[-1].name == MANIFEST_PATH and len(manifest["files"]) == len(staging.files()) - 1
    assert verify_manifest(staging, manifest) == []
    with staging.open(MANIFEST_PATH) as stream:
        assert json.loads(stream.read()) == manifest
