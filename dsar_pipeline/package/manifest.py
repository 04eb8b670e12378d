"""`manifest.json`: what the package holds and how it was made, written as the package's last file.

Contents (format `dsar-manifest/1`):
- `request_id`, `controller`, `generated_at` (ISO 8601 UTC, `...Z`);
- `complete`: true only when every system searched reports `complete` (an incomplete package must
  never pass as complete: delivery checks this flag);
- `systems`: per system searched, its `status` and `records` (and `seconds` when known);
- `files`: every other file of the package with `path`, `size` (bytes) and `sha256` (hex), in the
  order they were staged; `totals` of both. The manifest cannot contain its own hash, so it lists
  every file but itself.
Sizes and hashes are the staging's own, computed while each file was written; `verify_manifest`
re-reads every file to check them (the tests do; so can the DPO before release).
The manifest holds no personal data: names of package files, counts, hashes and times.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dsar_pipeline.package.staging import Staging

MANIFEST_PATH = "manifest.json"
FORMAT = "dsar-manifest/1"
COMPLETE = "complete"
READ_CHUNK = 1 << 20


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _system(value: Any) -> dict[str, Any]:
    """{status, records, seconds?} from a mapping or an outcome object (e.g. `SystemResult`)."""
    def get(name: str) -> Any:
        return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)

    status = get("status")
    status = str(getattr(status, "value", status) or "")
    if not status:
        raise ValueError("every system needs a status")
    records = get("records")
    entry: dict[str, Any] = {"status": status,
                             "records": len(records) if isinstance(records, Sequence) else int(records or 0)}
    seconds = get("seconds")
    if seconds is not None:
        entry["seconds"] = round(float(seconds), 3)
    return entry


def build_manifest(staging: Staging, *, request_id: str, controller: str, systems: Mapping[str, Any],
                   generated_at: datetime) -> dict[str, Any]:
    """The manifest of everything staged so far (the manifest itself excepted)."""
    files = [{"path": f.name, "size": f.size, "sha256": f.sha256} for f in staging.files() if f.name != MANIFEST_PATH]
    outcomes = {name: _system(value) for name, value in systems.items()}
    return {
        "format": FORMAT,
        "request_id": request_id,
        "controller": controller,
        "generated_at": _utc(generated_at),
        "complete": bool(outcomes) and all(o["status"] == COMPLETE for o in outcomes.values()),
        "systems": outcomes,
        "files": files,
        "totals": {"files": len(files), "bytes": sum(f["size"] for f in files)},
    }


def write_manifest(staging: Staging, *, request_id: str, controller: str, systems: Mapping[str, Any],
                   generated_at: datetime) -> dict[str, Any]:
    """Build the manifest and stage it as `manifest.json`, the last file of the package."""
    manifest = build_manifest(staging, request_id=request_id, controller=controller, systems=systems,
                              generated_at=generated_at)
    with staging.create(MANIFEST_PATH) as out:
        out.write(json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    return manifest


def verify_manifest(staging: Staging, manifest: Mapping[str, Any]) -> list[str]:
    """Paths whose staged content does not match the manifest (re-read and re-hashed), plus any file
    staged but not listed. Empty means every hash and size matches."""
    problems = []
    listed = set()
    for entry in manifest["files"]:
        listed.add(entry["path"])
        digest, size = hashlib.sha256(), 0
        try:
            with staging.open(entry["path"]) as stream:
                while chunk := stream.read(READ_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            problems.append(entry["path"])
            continue
        if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            problems.append(entry["path"])
    problems.extend(f.name for f in staging.files() if f.name not in listed and f.name != MANIFEST_PATH)
    return problems
