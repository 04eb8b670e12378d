"""`seal_package` refuses a staging that lost, gained or changed a file since the export step.

The manifest is built from the staging's own index, so a file dropped from the index would be
dropped from the manifest too and the package check would still pass: the sealing step checks the
staging against the list `stage_contents` handed over instead.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
import pyzipper

from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.package.assemble import StagedContents, StagingMismatchError, check_staged, seal_package
from dsar_pipeline.package.staging import StagedFile
from dsar_pipeline.sealing.encrypted_staging import INDEX_HEAD, INDEX_LOG, EncryptedStaging, StagingError
from dsar_pipeline.sealing.keys import LocalKeyProvider
from tests.package.test_encrypted_staging import _record_ends

REQUEST = "req-seal-check"
PASSPHRASE = "amber-falcon-river-42"
FILES = {"letter/letter.html": b"<p>Tere</p>", "export/csv/billing/contacts.csv": b"kind;value\nemail;x@y.ee\n",
         "export/json/volt.json": b'{"accounts": []}'}


def _facts() -> RequestFacts:
    return RequestFacts(request_id=REQUEST, subject_request_id="sub-1", controller="enefit-as-ee", language="et",
                        request_type="access", identifiers=(), delivery_email=None, delivery_phone=None,
                        certificate_der=None, received_date=date(2026, 1, 5), due_date=date(2026, 2, 4),
                        verification="verified", verification_reason=None, callback_urls=())


def _staging(tmp_path: Path) -> EncryptedStaging:
    return EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST)


def _stage(tmp_path: Path) -> StagedContents:
    """What `stage_contents` returns, for these files (it takes `staged` from `files()` the same way)."""
    staging = _staging(tmp_path)
    for name, data in FILES.items():
        with staging.create(name) as handle:
            handle.write(data)
    staged = tuple(staging.files())
    return StagedContents(files=len(staged), records=0, staged=staged)


def test_an_intact_staging_seals_with_every_file(tmp_path: Path) -> None:
    contents = _stage(tmp_path)
    sealed = seal_package(_staging(tmp_path), _facts(), contents, tmp_path / "package", PASSPHRASE)
    assert sealed.files == len(FILES) + 1
    with pyzipper.AESZipFile(sealed.path) as archive:
        archive.setpassword(PASSPHRASE.encode())
        assert archive.namelist() == [*FILES, "manifest.json"]
        assert all(archive.read(name) == data for name, data in FILES.items())


def test_an_index_cut_at_a_record_boundary_fails_the_seal(tmp_path: Path) -> None:
    contents = _stage(tmp_path)
    log = tmp_path / "staging" / INDEX_LOG
    raw = log.read_bytes()
    log.write_bytes(raw[:_record_ends(raw)[1]])  # the last file's record, whole, gone
    with pytest.raises(StagingError, match="cut off"):
        seal_package(_staging(tmp_path), _facts(), contents, tmp_path / "package", PASSPHRASE)
    assert not (tmp_path / "package" / "response.zip").exists()


def test_an_index_rolled_back_with_its_head_fails_the_seal(tmp_path: Path) -> None:
    """Log and head cut back together to an older consistent pair: only the export step's list shows it."""
    staging = _staging(tmp_path)
    names = list(FILES)
    for name in names[:2]:
        with staging.create(name) as handle:
            handle.write(FILES[name])
    old_head = (tmp_path / "staging" / INDEX_HEAD).read_bytes()
    old_log = (tmp_path / "staging" / INDEX_LOG).read_bytes()
    with staging.create(names[2]) as handle:
        handle.write(FILES[names[2]])
    contents = StagedContents(files=3, records=0, staged=tuple(staging.files()))
    (tmp_path / "staging" / INDEX_LOG).write_bytes(old_log)
    (tmp_path / "staging" / INDEX_HEAD).write_bytes(old_head)
    assert len(_staging(tmp_path).files()) == 2  # the index alone cannot tell
    with pytest.raises(StagingMismatchError, match="holds 2 files where the export step staged 3") as caught:
        seal_package(_staging(tmp_path), _facts(), contents, tmp_path / "package", PASSPHRASE)
    assert not any(name in str(caught.value) for name in FILES)  # no names in the message
    assert not (tmp_path / "package" / "response.zip").exists()


def test_a_seal_without_the_export_steps_list_is_refused(tmp_path: Path) -> None:
    contents = _stage(tmp_path)
    legacy = StagedContents(files=contents.files, records=0)  # what an older version handed over
    with pytest.raises(StagingMismatchError, match="re-run portability_export"):
        seal_package(_staging(tmp_path), _facts(), legacy, tmp_path / "package", PASSPHRASE)


def test_any_difference_is_refused() -> None:
    files = [StagedFile("a", 1, hashlib.sha256(b"a").hexdigest()), StagedFile("b", 1, hashlib.sha256(b"b").hexdigest())]
    check_staged(list(files), tuple(files))
    changed = StagedFile("b", 1, hashlib.sha256(b"c").hexdigest())
    for found in ([files[0]], [*files, changed], [files[1], files[0]], [files[0], changed],
                  [files[0], StagedFile("b", 2, files[1].sha256)]):
        with pytest.raises(StagingMismatchError):
            check_staged(found, tuple(files))
