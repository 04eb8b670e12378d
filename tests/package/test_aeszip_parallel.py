"""The three-stage AES ZIP engine (`aeszip_parallel`): order, bounded buffers, failures in any stage.

The archive must not depend on how the work was spread over threads: with fixed keys, the
threaded engine, the inline one and any chunk size or buffer count write the same bytes. A
failure in a stage thread is raised in the caller's thread, every thread has ended by then, and
`write_aes_zip_file` leaves no file behind. Nothing here asserts on timing.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dsar_pipeline.formats import aeszip, aeszip_parallel
from dsar_pipeline.formats.aeszip import ZipEntry, ZipWriteError, staging_entries, write_aes_zip, write_aes_zip_file
from dsar_pipeline.formats.aeszip_crypto import EntryMac, derive_keys
from dsar_pipeline.package.staging import StagedFile

SEVENZIP = shutil.which("7zz")
requires_7zz = pytest.mark.skipif(SEVENZIP is None, reason="7-Zip's `7zz` is not installed (Debian package `7zip`)")
PASSPHRASE = "T4XE-9QWM-RC3K-7HZP-B2NV-6LJD"
CHUNK = 16 << 10  # small chunks: the large entry spans many, the pipeline cycles its buffers often
MTIME = datetime(2025, 3, 30, 0, 59, 58, tzinfo=UTC)


def _data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _files() -> dict[str, bytes]:
    """Many entries: empty ones (first, consecutive, last), sizes around the chunk, one of many chunks."""
    files: dict[str, bytes] = {"00-empty-first.txt": b""}
    for index in range(120):
        size = random.Random(index).choice([0, 1, 15, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 3000, 2 * CHUNK + 5])
        files[f"kaust-{index // 10}/fail-{index:03d}.bin"] = _data(100 + index, size)
    files["empty-a.txt"] = b""
    files["empty-b.txt"] = b""
    files["suur/helisalvestus.wav"] = _data(7, 9 * CHUNK + 12_345)  # larger than several chunks
    files["zz-empty-last.txt"] = b""
    return files


FILES = _files()


def _entries(files: dict[str, bytes], declare_sizes: bool = True) -> list[ZipEntry]:
    return [ZipEntry(name, lambda data=data: io.BytesIO(data), len(data) if declare_sizes else None, MTIME)
            for name, data in files.items()]


def _no_stage_threads() -> bool:
    return not any(thread.name.startswith("aeszip") for thread in threading.enumerate())


def _extract_7zz(archive: Path, target: Path) -> dict[str, bytes]:
    assert SEVENZIP is not None
    result = subprocess.run([SEVENZIP, "x", f"-p{PASSPHRASE}", f"-o{target}", "-y", str(archive)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return {path.relative_to(target).as_posix(): path.read_bytes() for path in target.rglob("*") if path.is_file()}


@pytest.fixture
def fixed_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """One salt for every entry, so that two writes of the same entries can be compared byte by byte."""
    keys = derive_keys(PASSPHRASE.encode(), bytes(range(16)))
    monkeypatch.setattr(aeszip, "derive_keys", lambda password: keys)


# --- what 7-Zip reads back ----------------------------------------------------------------------------


@requires_7zz
@pytest.mark.parametrize("declare_sizes", [True, False], ids=["sizes-known", "data-descriptors"])
def test_7zip_extracts_many_entries_empty_and_large_ones(tmp_path: Path, declare_sizes: bool) -> None:
    archive = tmp_path / "package.zip"
    report = write_aes_zip_file(_entries(FILES, declare_sizes), archive, PASSPHRASE, chunk_size=CHUNK, buffers=4)
    assert report.archive_size == archive.stat().st_size
    assert _extract_7zz(archive, tmp_path / "out") == FILES  # empty entries come back as empty files
    assert _no_stage_threads()


# --- order and layout -----------------------------------------------------------------------------------


def test_entries_are_written_in_the_order_given() -> None:
    out = io.BytesIO()
    report = write_aes_zip(_entries(FILES), out, PASSPHRASE, chunk_size=CHUNK, buffers=3)
    assert [entry.name for entry in report.entries] == list(FILES)
    offsets = [entry.offset for entry in report.entries]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zipped:
        infos = zipped.infolist()
    assert [info.filename for info in infos] == list(FILES)
    assert [info.header_offset for info in infos] == offsets
    assert [info.file_size for info in infos] == [len(data) for data in FILES.values()]


def test_layout_is_the_same_in_every_run() -> None:
    """Salts are random, so bytes differ between runs; where every entry lies does not."""
    reports = [write_aes_zip(_entries(FILES), io.BytesIO(), PASSPHRASE, chunk_size=CHUNK, buffers=buffers)
               for buffers in (3, 8, 64)]
    assert reports[0] == reports[1] == reports[2]


@pytest.mark.usefixtures("fixed_keys")
@pytest.mark.parametrize("declare_sizes", [True, False], ids=["sizes-known", "data-descriptors"])
def test_threads_chunk_size_and_buffers_do_not_change_a_byte(declare_sizes: bool) -> None:
    outputs = []
    for options in ({"threaded": False}, {"buffers": 1}, {"buffers": 64}, {"chunk_size": 4096},
                    {"chunk_size": 1 << 20}):
        out = io.BytesIO()
        write_aes_zip(_entries(FILES, declare_sizes), out, PASSPHRASE,
                      **{"chunk_size": CHUNK, **options})  # type: ignore[arg-type]
        outputs.append(out.getvalue())
    assert all(output == outputs[0] for output in outputs[1:])


# --- failures: raised in the caller's thread, no thread left, no file left -------------------------------


class _Longer(io.RawIOBase):
    """Gives `actual` bytes whatever was declared: the reading stage finds out only chunks later."""

    def __init__(self, actual: int) -> None:
        self._left = actual

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._left)
        memoryview(b)[:n] = b"\x5a" * n
        self._left -= n
        return n


@pytest.mark.timeout(60)
@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "inline"])
def test_a_failure_mid_write_leaves_no_file(tmp_path: Path, threaded: bool) -> None:
    declared = 10 * CHUNK
    entries = [*_entries(FILES), ZipEntry("Mari Maasikas.wav", lambda: _Longer(12 * CHUNK), declared)]
    archive = tmp_path / "package.zip"
    with pytest.raises(ZipWriteError, match=f"entry #{len(FILES)}: more bytes") as raised:
        write_aes_zip_file(entries, archive, PASSPHRASE, chunk_size=CHUNK, buffers=4, threaded=threaded)
    assert "Mari" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # neither the archive nor its temporary file
    assert _no_stage_threads()


@pytest.mark.timeout(60)
def test_a_failure_leaves_an_existing_file_as_it_was(tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    archive.write_bytes(b"the previous package")
    entries = [*_entries(FILES), ZipEntry("short.bin", lambda: io.BytesIO(b"x" * 100), 101)]
    with pytest.raises(ZipWriteError, match="fewer bytes"):
        write_aes_zip_file(entries, archive, PASSPHRASE, chunk_size=CHUNK)
    assert archive.read_bytes() == b"the previous package"
    assert [path.name for path in tmp_path.iterdir()] == ["package.zip"]


@pytest.mark.timeout(60)
def test_a_failure_in_the_authenticating_thread_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class FailingMac(EntryMac):
        def update(self, ciphertext: memoryview | bytes) -> None:
            calls.append(len(ciphertext))
            if len(calls) == 20:
                raise ZipWriteError("MAC stage failed")
            super().update(ciphertext)

    monkeypatch.setattr(aeszip_parallel, "EntryMac", FailingMac)
    archive = tmp_path / "package.zip"
    with pytest.raises(ZipWriteError, match="MAC stage failed"):
        write_aes_zip_file(_entries(FILES), archive, PASSPHRASE, chunk_size=CHUNK, buffers=3)
    assert list(tmp_path.iterdir()) == []
    assert _no_stage_threads()


@pytest.mark.timeout(60)
def test_a_failure_in_a_key_derivation_thread_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    derived = []

    def failing_derive(password: bytes) -> object:
        derived.append(threading.current_thread().name)
        if len(derived) == 30:
            raise ZipWriteError("key derivation failed")
        return derive_keys(password)

    monkeypatch.setattr(aeszip, "derive_keys", failing_derive)
    archive = tmp_path / "package.zip"
    with pytest.raises(ZipWriteError, match="key derivation failed"):
        write_aes_zip_file(_entries(FILES), archive, PASSPHRASE, chunk_size=CHUNK)
    assert all(name.startswith("aeszip-keys") for name in derived)  # derived ahead, in the pool's threads
    assert list(tmp_path.iterdir()) == []
    assert _no_stage_threads()


@pytest.mark.timeout(60)
def test_a_failure_of_the_entries_iterable_is_raised() -> None:
    def entries():  # type: ignore[no-untyped-def]
        yield from _entries(FILES)[:5]
        raise RuntimeError("listing the staging failed")

    with pytest.raises(RuntimeError, match="listing the staging failed"):
        write_aes_zip(entries(), io.BytesIO(), PASSPHRASE, chunk_size=CHUNK)
    assert _no_stage_threads()


@pytest.mark.timeout(60)
def test_success_leaves_no_thread_and_no_temporary_file(tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    write_aes_zip_file(_entries(FILES), archive, PASSPHRASE, chunk_size=CHUNK)
    assert [path.name for path in tmp_path.iterdir()] == ["package.zip"]
    assert archive.stat().st_mode & 0o077 == 0  # created private, like every file holding personal data
    assert _no_stage_threads()


class _FailingOutput(io.RawIOBase):
    def __init__(self, after: int) -> None:
        self._left = after

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            raise OSError("no space left on device")
        self._left -= len(b)
        return len(b)


class _FailingInput(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        raise OSError("staging disk went away")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("buffers", [1, 8])
def test_input_and_output_errors_are_raised_as_they_are_and_end_every_thread(buffers: int) -> None:
    with pytest.raises(OSError, match="no space left"):
        write_aes_zip(_entries(FILES), _FailingOutput(5 * CHUNK), PASSPHRASE, chunk_size=CHUNK,  # type: ignore[arg-type]
                      buffers=buffers)
    assert _no_stage_threads()
    entries = [*_entries(FILES)[:50], ZipEntry("broken.bin", _FailingInput, 10)]
    with pytest.raises(OSError, match="staging disk went away"):
        write_aes_zip(entries, io.BytesIO(), PASSPHRASE, chunk_size=CHUNK, buffers=buffers)
    assert _no_stage_threads()


class _Staging:
    """The two methods of `Staging` that archiving uses, over plaintext in memory."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    def files(self) -> list[StagedFile]:
        return [StagedFile(name, len(data), "") for name, data in self._files.items()]

    def open(self, name: str) -> io.BytesIO:
        return io.BytesIO(self._files[name])


@requires_7zz
def test_staging_written_all_or_nothing_opens_in_7zip(tmp_path: Path) -> None:
    archive = tmp_path / "response.zip"
    report = write_aes_zip_file(staging_entries(_Staging(FILES)), archive, PASSPHRASE)  # type: ignore[arg-type]
    assert [entry.name for entry in report.entries] == list(FILES)
    assert _extract_7zz(archive, tmp_path / "out") == FILES
