"""Reading an ASiC-E container (BDOC, Latvian .edoc) from bytes, defensively.

Why by hand on top of ``zipfile``: the container comes from the requester. It is never extracted
to disk (so entry names cannot traverse paths), every entry is read through a byte budget that
ignores the sizes the ZIP headers claim (zip bombs lie about them), and the ASiC-E layout rules
(ETSI EN 319 162-1) are enforced: ``mimetype`` first, stored, with the exact media type; a
``META-INF/manifest.xml`` that lists exactly the data files; at least one
``META-INF/*signatures*.xml``.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field

ASIC_E_MIMETYPE = b"application/vnd.etsi.asic-e+zip"
MANIFEST_NAME = "META-INF/manifest.xml"
MANIFEST_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"

MAX_ENTRIES = 64
MAX_ENTRY_BYTES = 20 * 1024 * 1024
MAX_TOTAL_BYTES = 40 * 1024 * 1024
MAX_RATIO = 200
MAX_NAME_CHARS = 255

_SIGNATURE_NAME = re.compile(r"^META-INF/[^/]*signatures[^/]*\.xml$")
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\:*?\"<>|]")


class ContainerError(ValueError):
    """The container is not a well-formed, safe ASiC-E; the message names no personal data."""


@dataclass
class AsicContainer:
    """The parts of an ASiC-E container needed to verify it."""

    data_files: dict[str, bytes] = field(default_factory=dict)
    signature_files: dict[str, bytes] = field(default_factory=dict)
    manifest_media_types: dict[str, str] = field(default_factory=dict)


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_CHARS:
        raise ContainerError("entry name is empty or too long")
    if name.startswith("/") or _BAD_NAME.search(name):
        raise ContainerError("entry name is absolute or contains forbidden characters")
    if any(part in {"", ".", ".."} for part in name.rstrip("/").split("/")):
        raise ContainerError("entry name contains a path traversal or empty segment")


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    if info.flag_bits & 0x1:
        raise ContainerError("container holds an encrypted entry")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ContainerError("container uses an unsupported compression method")
    limit = min(MAX_ENTRY_BYTES, budget)
    if info.file_size > limit:
        raise ContainerError("container entry is too large")
    chunks: list[bytes] = []
    total = 0
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(64 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise ContainerError("container entry is larger than allowed (zip bomb?)")
            if info.compress_size and total > MAX_RATIO * info.compress_size + 64 * 1024:
                raise ContainerError("container entry has a suspicious compression ratio (zip bomb?)")
            chunks.append(chunk)
    return b"".join(chunks)


def _parse_manifest(data: bytes) -> dict[str, str]:
    from dsar_pipeline.signatures.safe_xml import XmlError, parse_xml

    try:
        root = parse_xml(data)
    except XmlError as exc:
        raise ContainerError(f"manifest.xml: {exc}") from None
    if root.tag != f"{{{MANIFEST_NS}}}manifest":
        raise ContainerError("manifest.xml has the wrong root element")
    entries: dict[str, str] = {}
    for entry in root.findall(f"{{{MANIFEST_NS}}}file-entry"):
        path = entry.get(f"{{{MANIFEST_NS}}}full-path")
        media = entry.get(f"{{{MANIFEST_NS}}}media-type") or ""
        if path is None:
            raise ContainerError("manifest.xml has a file-entry without full-path")
        if path in entries:
            raise ContainerError("manifest.xml lists a file twice")
        entries[path] = media
    if entries.get("/") != ASIC_E_MIMETYPE.decode():
        raise ContainerError("manifest.xml does not declare the ASiC-E media type for '/'")
    del entries["/"]
    return entries


def read_asic_container(blob: bytes) -> AsicContainer:
    """Open and structurally validate an ASiC-E container held in memory."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise ContainerError("not a readable ZIP container") from None
    with archive:
        infos = archive.infolist()
        if not infos or len(infos) > MAX_ENTRIES:
            raise ContainerError("container is empty or has too many entries")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise ContainerError("container has duplicate entry names")
        for name in names:
            _check_name(name)
        first = infos[0]
        if first.filename != "mimetype":
            raise ContainerError("'mimetype' is not the first entry")
        if first.compress_type != zipfile.ZIP_STORED:
            raise ContainerError("'mimetype' entry is compressed (must be stored)")
        budget = MAX_TOTAL_BYTES
        container = AsicContainer()
        manifest: bytes | None = None
        try:
            for info in infos:
                if info.is_dir():
                    continue
                data = _read_entry(archive, info, budget)
                budget -= len(data)
                name = info.filename
                if name == "mimetype":
                    if data != ASIC_E_MIMETYPE:
                        raise ContainerError("'mimetype' is not application/vnd.etsi.asic-e+zip")
                elif name == MANIFEST_NAME:
                    manifest = data
                elif _SIGNATURE_NAME.fullmatch(name):
                    container.signature_files[name] = data
                elif name.startswith("META-INF/"):
                    continue  # other metadata (e.g. ASiC archive manifests) is not a data file
                else:
                    container.data_files[name] = data
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, zlib.error,
                NotImplementedError, RuntimeError) as exc:
            if isinstance(exc, ContainerError):
                raise
            raise ContainerError("container entry is corrupt (CRC or header mismatch)") from None
    if manifest is None:
        raise ContainerError("META-INF/manifest.xml is missing")
    if not container.signature_files:
        raise ContainerError("container holds no META-INF/signatures*.xml")
    if not container.data_files:
        raise ContainerError("container holds no signed data file")
    container.manifest_media_types = _parse_manifest(manifest)
    if set(container.manifest_media_types) != set(container.data_files):
        raise ContainerError("manifest.xml does not list exactly the data files in the container")
    return container


__all__ = ["ASIC_E_MIMETYPE", "AsicContainer", "ContainerError", "read_asic_container"]
