"""Where package files wait between being written and being archived.

Plaintext personal data must never rest on disk, so the files of a package are written through a
`Staging`: the production implementation encrypts every file at rest (AES-256-GCM envelope
encryption, `dsar_pipeline.sealing.envelope`) and decrypts on read. Writers and the archiver see
only this protocol, so they stream: a file is written once and read once, chunk by chunk.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StagedFile:
    name: str  # path inside the package, '/'-separated, e.g. "export/csv/billing/invoices.csv"
    size: int  # plaintext bytes
    sha256: str  # hex digest of the plaintext


class Staging(Protocol):
    def create(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A writable binary stream for a new file `name`; the file is complete when the context exits."""
        ...

    def open(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A readable binary stream of the plaintext of `name`."""
        ...

    def files(self) -> list[StagedFile]:
        """Every completed file, in the order they were created."""
        ...

    def remove_all(self) -> None:
        """Delete every staged file (purge)."""
        ...
