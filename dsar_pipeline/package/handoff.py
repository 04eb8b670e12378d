"""How packaging's files travel between steps: through the work store, never a worker's own disk.

The export step stages the package's files in a private scratch folder (`scratch`) and hands the
staging over as it is: its objects are envelopes already and its index is authenticated, so they go
to the work store unchanged (`put_staging`, under `<request>/staging/`). The packaging step fetches
them into its own scratch folder, builds the ZIP (and the CDOC) there and puts each sealed again
(`put_sealed_file`: the ZIP is passphrase-encrypted, but a leaked work bucket must not also have to
guard its passphrase's strength) under `<request>/package/`. Delivery fetches and opens them into
its own scratch folder. A scratch folder lives as long as its step, whatever happens.

What a later step needs to check what it fetched travels sealed through the IO manager: the staged
files' hashes (`StagedContents.staged`), the package's SHA-256 and its passphrase (`StoredPackage`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dsar_pipeline.package.assemble import SealedPackage
from dsar_pipeline.sealing.envelope import CHUNK_SIZE, EnvelopeReader, EnvelopeWriter
from dsar_pipeline.sealing.keys import KeyProvider
from dsar_pipeline.sealing.workstore import WorkStore

STAGING_FOLDER = "staging"
PACKAGE_FOLDER = "package"


@dataclass(frozen=True)
class StoredPackage:
    """The sealed package as delivery sees it: objects in the work store, and what checks them."""

    key: str  # the sealed ZIP in the work store
    cdoc_key: str | None
    size: int
    sha256: str  # of the ZIP itself: what the person downloads, and what delivery checks it against
    files: int
    complete: bool
    manifest_sha256: str  # of manifest.json inside the package: what a DPO's approval is bound to
    passphrase: str = field(repr=False)  # travels only sealed, inside this step output


@contextmanager
def scratch(purpose: str) -> Iterator[Path]:
    """A private (0700) folder in the temporary directory for one step's own use; removed on exit."""
    path = Path(tempfile.mkdtemp(prefix=f"dsar-{purpose}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def staging_prefix(request_id: str) -> str:
    return f"{request_id}/{STAGING_FOLDER}"


def put_staging(store: WorkStore, directory: Path, request_id: str) -> int:
    """Replace the request's staging in the work store with the files of `directory`; how many."""
    prefix = staging_prefix(request_id)
    store.delete_prefix(prefix)
    files = sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
    for path in files:
        store.put_file(f"{prefix}/{path.name}", path)
    return len(files)


def get_staging(store: WorkStore, request_id: str, directory: Path) -> int:
    """The request's staging from the work store into the new folder `directory`; how many files."""
    prefix = staging_prefix(request_id)
    directory.mkdir(mode=0o700, parents=True)
    keys = store.keys(prefix)
    for key in keys:
        name = key.removeprefix(f"{prefix}/")
        if "/" in name:
            raise ValueError("the staging in the work store holds a nested object: not written by the export step")
        store.get_file(key, directory / name)
    return len(keys)


def put_sealed_file(store: WorkStore, key: str, path: Path, keys: KeyProvider, context: Mapping[str, str]) -> None:
    """Seal the file at `path` (a fresh data key) into the work store under `key`, streaming."""
    sealed = path.with_name(f"{path.name}.sealed")
    try:
        with path.open("rb") as source, sealed.open("wb") as target:
            writer = EnvelopeWriter(target, keys, context)
            shutil.copyfileobj(source, writer, CHUNK_SIZE)
            writer.close()
        store.put_file(key, sealed)
    finally:
        sealed.unlink(missing_ok=True)


def get_sealed_file(store: WorkStore, key: str, path: Path, keys: KeyProvider, context: Mapping[str, str]) -> None:
    """Open the sealed object `key` into the file `path`, streaming; refused unless sealed for `context`."""
    sealed = path.with_name(f"{path.name}.sealed")
    try:
        store.get_file(key, sealed)
        with sealed.open("rb") as source, path.open("wb") as target:
            reader = EnvelopeReader(source, keys, context)
            shutil.copyfileobj(reader, target, CHUNK_SIZE)
            reader.close()
    finally:
        sealed.unlink(missing_ok=True)


def _file_context(request_id: str, name: str) -> dict[str, str]:
    return {"request": request_id, "asset": f"{PACKAGE_FOLDER}/{name}"}


def store_package(store: WorkStore, keys: KeyProvider, request_id: str, sealed: SealedPackage,
                  passphrase: str) -> StoredPackage:
    """Seal the built package's files into the work store; the handle later steps receive."""
    stored: dict[str, str] = {}
    for path in filter(None, (sealed.path, sealed.cdoc_path)):
        key = f"{request_id}/{PACKAGE_FOLDER}/{path.name}.sealed"
        put_sealed_file(store, key, path, keys, _file_context(request_id, path.name))
        stored[path.name] = key
    return StoredPackage(key=stored[sealed.path.name],
                         cdoc_key=stored[sealed.cdoc_path.name] if sealed.cdoc_path else None, size=sealed.size,
                         sha256=sealed.sha256, files=sealed.files, complete=sealed.complete,
                         manifest_sha256=sealed.manifest_sha256, passphrase=passphrase)


def fetch_package(store: WorkStore, keys: KeyProvider, request_id: str, package: StoredPackage,
                  directory: Path) -> tuple[Path, Path | None]:
    """The package's ZIP (and CDOC) opened into `directory`: their paths."""
    zip_path = _fetch_file(store, keys, request_id, package.key, directory)
    return zip_path, _fetch_file(store, keys, request_id, package.cdoc_key, directory) if package.cdoc_key else None


def _fetch_file(store: WorkStore, keys: KeyProvider, request_id: str, key: str, directory: Path) -> Path:
    name = key.rsplit("/", 1)[-1].removesuffix(".sealed")
    get_sealed_file(store, key, directory / name, keys, _file_context(request_id, name))
    return directory / name
