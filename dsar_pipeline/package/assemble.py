"""Assemble one person's response package from what was released to them.

Two stages, so the orchestration can show and re-run them separately:
`stage_contents` writes the export, the readable report, the recordings and the letter (HTML, and
the same letter as a sealed PDF/A when `DSAR_LETTER_SEAL_DIR` names the controllers' e-seals) into an
encrypted staging folder; `seal_package` adds the manifest, archives everything as an AES-256 ZIP
(and a CDOC for ID-card holders) and empties the staging folder. Nothing here touches Dagster.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from connectors.classification import ReviewCause
from connectors.contract import Attachment, Record
from connectors.registry import systems
from dsar_pipeline.collection.collect import SystemResult
from dsar_pipeline.export.portability import write_export
from dsar_pipeline.export.redaction import (
    AGENT_IDENTITY,
    AGENT_NAME_IN_TEXT,
    AGENT_SPEAKER_LABEL,
    OTHER_NAME_IN_TEXT,
    OTHER_SPEAKER_LABEL,
    THIRD_PARTY_DATA,
    write_recordings,
)
from dsar_pipeline.formats.aeszip import staging_entries, write_aes_zip_file
from dsar_pipeline.formats.cdoc import write_cdoc
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.letter import load_facts, render_letter
from dsar_pipeline.letter.pdf import render_letter_pdf
from dsar_pipeline.letter.request_context import request_letter_context
from dsar_pipeline.letter.seal import LetterSeal, load_seal, seal_pdf
from dsar_pipeline.package.manifest import MANIFEST_PATH, write_manifest
from dsar_pipeline.package.staging import StagedFile
from dsar_pipeline.profiles import load_profile
from dsar_pipeline.report.render import write_report
from dsar_pipeline.review.findings import ReviewOutcome, released_records, source_rules
from dsar_pipeline.sealing.encrypted_staging import EncryptedStaging
from dsar_pipeline.sealing.keys import KeyProvider
from dsar_pipeline.settings import LETTER_SEAL_DIR, letter_seal_dir

LETTER_PATH = "letter/letter.html"
LETTER_PDF_PATH = "letter/letter.pdf"
"""The same letter as PDF/A-2b, sealed with the controller's e-seal (PAdES), beside the HTML."""
NO_LETTER_PDF = (f"no PDF letter: {LETTER_SEAL_DIR} is not set, so there is no e-seal to seal it with; "
                 "the package holds the HTML letter only")
LOG = logging.getLogger(__name__)


class StagingMismatchError(Exception):
    """What is in the staging now is not what the export step staged: a package must never lose
    (or gain, or change) a file silently. Messages hold counts and positions only, never names."""


@dataclass
class StagedContents:
    """What was staged for one request: counts (safe to show) and, for `seal_package` to check the
    staging against, the ordered (name, size, sha256) of every staged file. It travels between the
    steps through the encrypted IO manager, out of reach of whoever can edit the staging folder."""

    files: int
    records: int
    withheld: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    staged: tuple[StagedFile, ...] = ()
    # "sealed by <the seal certificate's subject>", or why the package has no PDF letter (`NO_LETTER_PDF`)
    letter_pdf: str = ""


@dataclass
class SealedPackage:
    path: Path
    size: int
    sha256: str
    files: int
    complete: bool
    cdoc_path: Path | None = None
    manifest_sha256: str = ""  # of manifest.json inside the package: what a DPO's approval is bound to


def staging_for(root: Path, request_id: str, keys: KeyProvider) -> EncryptedStaging:
    return EncryptedStaging(root / request_id / "staging", keys, request_id)


def system_outcomes(results: Mapping[str, SystemResult], released: list[Record]) -> dict[str, dict[str, Any]]:
    counts: dict[str, int] = {}
    for record in released:
        counts[record.system] = counts.get(record.system, 0) + 1
    return {name: {"status": result.status.value, "records": counts.get(name, 0)}
            for name, result in results.items()}


def stage_contents(staging: EncryptedStaging, facts: RequestFacts, results: Mapping[str, SystemResult],
                   outcome: ReviewOutcome, *, include_review: Collection[ReviewCause],
                   copy_audio: Callable[[Attachment, BinaryIO], None], today: date | None = None) -> StagedContents:
    """Export, report, recordings and letter (HTML and sealed PDF) of the released records, into an
    emptied staging. The controller's e-seal is loaded first: a seal directory that lacks it fails
    the step before anything is written (`SealError`), never a package without its PDF."""
    seal = _letter_seal(facts.controller)
    staging.remove_all()
    released = released_records(results, outcome, include=include_review)
    profile = load_profile(facts.controller)
    titles = {name: entry.title for name, entry in systems().items() if name in profile.systems}
    outcomes = {name: o for name, o in system_outcomes(results, released).items() if name in profile.systems}
    now = datetime.now(UTC).replace(microsecond=0)
    export = write_export(released, staging, systems=titles, language=facts.language,
                          electricity_supplier=load_facts(facts.controller).electricity_supplier)
    write_report(released, staging, person_language=facts.language, systems_summary=outcomes,
                 request_id=facts.request_id, generated_at=now, monthly=export.series.monthly,
                 time_zone=profile.time_zone)
    recordings = write_recordings(released, staging, copy_audio, language=facts.language)
    withheld = _withheld(outcome, recordings, unconfirmed=sum(
        1 for ref, cause in outcome.causes.items() if cause not in include_review))
    letter = request_letter_context(facts, results, released, withheld, source_rules(), today, now)
    html = render_letter(letter)
    with staging.create(LETTER_PATH) as handle:
        handle.write(html.encode("utf-8"))
    letter_pdf = _stage_letter_pdf(staging, html, seal, author=profile.legal_name)
    staged = tuple(staging.files())
    return StagedContents(files=len(staged), records=len(released), withheld=withheld,
                          complete=not outcome.failed_systems, systems=outcomes, staged=staged,
                          letter_pdf=letter_pdf)


def _letter_seal(controller: str) -> LetterSeal | None:
    """The controller's e-seal from `DSAR_LETTER_SEAL_DIR`; None (said in the log) when it is not set."""
    directory = letter_seal_dir()
    if directory is None:
        LOG.warning(NO_LETTER_PDF)
        return None
    return load_seal(directory, controller)


def _stage_letter_pdf(staging: EncryptedStaging, html: str, seal: LetterSeal | None, *, author: str) -> str:
    """Stage the letter's HTML as a sealed PDF/A-2b (`LETTER_PDF_PATH`); returns what was done, for the step's
    metadata: "sealed by …", or `NO_LETTER_PDF` when there is no seal."""
    if seal is None:
        return NO_LETTER_PDF
    with staging.create(LETTER_PDF_PATH) as handle:
        handle.write(seal_pdf(render_letter_pdf(html, author=author), seal))
    return f"sealed by {seal.subject}"


def check_staged(found: list[StagedFile], expected: tuple[StagedFile, ...]) -> None:
    """Refuse unless `found` is exactly `expected`: same files, same order, sizes and hashes.

    Why here and not only in the manifest: the manifest is built from the staging's own index, so a
    file dropped from the index (e.g. the log cut at a record boundary) would be missing from the
    manifest too and the package check would still pass.
    """
    if not expected:
        raise StagingMismatchError("the export step's list of staged files is missing (staged by an older "
                                   "version?): re-run portability_export")
    if list(found) == list(expected):
        return
    first = next((i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b),
                 min(len(found), len(expected)))
    raise StagingMismatchError(f"the staging holds {len(found)} files where the export step staged "
                               f"{len(expected)}, first difference at position {first + 1}: "
                               "re-run portability_export")


STAFF_KINDS = (AGENT_IDENTITY, AGENT_NAME_IN_TEXT, AGENT_SPEAKER_LABEL)
OTHER_KINDS = (OTHER_NAME_IN_TEXT, OTHER_SPEAKER_LABEL, THIRD_PARTY_DATA)


def _withheld(outcome: ReviewOutcome, recordings: Any, unconfirmed: int) -> dict[str, int]:
    """Counts per kind for Art. 15(4): staff identities redacted, other people's data, unconfirmed records.

    The recordings' redaction tally covers the call metadata (the export and report write the same
    redacted records, so counting them again would count each redaction three times).
    """
    tally = recordings.withheld.as_dict()
    counts = {"staff_identity": sum(tally.get(k, 0) for k in STAFF_KINDS),
              "other_person": sum(tally.get(k, 0) for k in OTHER_KINDS) + outcome.counts.get("other_person", 0),
              "unconfirmed_match": unconfirmed}
    return {k: v for k, v in counts.items() if v}


def seal_package(staging: EncryptedStaging, facts: RequestFacts, contents: StagedContents, out_dir: Path,
                 passphrase: str) -> SealedPackage:
    """Manifest, AES-256 ZIP (and CDOC when the ticket carries an ID-card certificate); staging emptied.

    Refuses (`StagingMismatchError`) unless the staging holds exactly what `stage_contents` staged,
    before the manifest is built from it and again once the archives are written.
    """
    check_staged(staging.files(), contents.staged)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    manifest = write_manifest(staging, request_id=facts.request_id, controller=facts.controller,
                              systems=contents.systems, generated_at=datetime.now(UTC).replace(microsecond=0))
    expected = tuple(staging.files())
    if not expected or expected[-1].name != MANIFEST_PATH:
        raise StagingMismatchError("the manifest is not the last staged file: re-run portability_export")
    check_staged(list(expected[:-1]), contents.staged)
    listed = tuple(StagedFile(e["path"], e["size"], e["sha256"]) for e in manifest["files"])
    if listed != contents.staged:
        raise StagingMismatchError("the manifest does not list exactly the staged files: re-run portability_export")
    path = out_dir / "response.zip"
    write_aes_zip_file(staging_entries(staging), path, passphrase)  # all or nothing: never half a package
    cdoc_path = None
    if facts.certificate_der:
        cdoc_path = out_dir / "response.cdoc"
        files = [(f.name, (lambda name=f.name: staging.open(name))) for f in staging.files()]
        with cdoc_path.open("wb") as out:
            write_cdoc(files, facts.certificate_der, out)
    check_staged(staging.files(), expected)  # nothing lost while archiving either
    files = len(expected)
    staging.remove_all()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return SealedPackage(path, path.stat().st_size, digest.hexdigest(), files, contents.complete, cdoc_path)
