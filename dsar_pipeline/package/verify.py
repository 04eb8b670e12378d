"""The check a sealed package passes before anyone may receive it: it opens with its passphrase, and
every file matches its manifest entry (read back by an independent ZIP reader, not our writer)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyzipper


def verify_package(path: Path, passphrase: str) -> tuple[list[str], str]:
    """Open the ZIP with an independent reader (pyzipper) and check every file against the manifest;
    returns the problems and the SHA-256 of the manifest (what a DPO's approval is bound to)."""
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
