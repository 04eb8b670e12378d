"""EncryptedStaging: the Staging protocol over envelopes, opaque names, atomic completion, purge."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import stat
from pathlib import Path

import pytest

from dsar_pipeline.package.staging import StagedFile, Staging
from dsar_pipeline.sealing.encrypted_staging import INDEX_HEAD, INDEX_KEY, INDEX_LOG, EncryptedStaging, StagingError
from dsar_pipeline.sealing.envelope import EnvelopeContextError
from dsar_pipeline.sealing.keys import LocalKeyProvider

MARKER = "Kristjan-Põder-39001011234"  # a distinctive "personal" value: must never be found on disk
REQUEST = "7f3c1a9e-request"


@pytest.fixture
def provider(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider(tmp_path / "local.key")


@pytest.fixture
def staging(tmp_path: Path, provider: LocalKeyProvider) -> EncryptedStaging:
    return EncryptedStaging(tmp_path / "staging", provider, REQUEST, chunk_size=4096)


def _write(staging: Staging, name: str, data: bytes, piece: int = 1000) -> None:
    with staging.create(name) as handle:
        for pos in range(0, len(data), piece):
            handle.write(data[pos:pos + piece])


def _read(staging: Staging, name: str) -> bytes:
    with staging.open(name) as handle:
        return handle.read()


def test_files_round_trip_in_creation_order_with_size_and_sha256(staging: EncryptedStaging) -> None:
    contents = {"letter/letter-et.html": b"<h1>Tere</h1>" * 50, "export/csv/billing/contacts.csv": os.urandom(20_000),
                "export/json/volt.json": b"", "recordings/call-0001.wav": os.urandom(9000)}
    for name, data in contents.items():
        _write(staging, name, data)
    files = staging.files()
    assert [f.name for f in files] == list(contents)
    for file in files:
        assert file == StagedFile(file.name, len(contents[file.name]), hashlib.sha256(contents[file.name]).hexdigest())
        assert _read(staging, file.name) == contents[file.name]


def test_nothing_on_disk_contains_the_plaintext_or_the_names(tmp_path: Path, staging: EncryptedStaging) -> None:
    name = f"export/csv/billing/{MARKER}.csv"
    payload = (f"name;personal_code\n{MARKER};39001011234\n" * 500).encode()
    _write(staging, name, payload)
    _write(staging, "export/json/billing.json", f'{{"name": "{MARKER}"}}'.encode())
    needles = [MARKER.encode(), MARKER.encode("utf-16-le"), b"39001011234", b"billing", b"export/",
               b"contacts", payload[:64]]
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(on_disk) >= 5  # key file, index key, index log, two objects
    for path in on_disk:
        assert MARKER not in str(path) and "billing" not in str(path)
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, f"{needle!r} found in {path.name}"
    assert _read(staging, name) == payload


def test_on_disk_names_are_opaque_and_modes_private(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "a/b.csv", b"x" * 10)
    directory = tmp_path / "staging"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert re.fullmatch(r"[0-9a-f]{32}\.obj|index\.key|index\.log|index\.head", path.name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_never_appears_and_leaves_nothing(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "ok.csv", b"fine")
    with pytest.raises(RuntimeError), staging.create("broken.csv") as handle:
        handle.write(os.urandom(50_000))
        raise RuntimeError("writer crashed mid-file")
    assert [f.name for f in staging.files()] == ["ok.csv"]
    assert not list((tmp_path / "staging").glob("*.part"))
    assert len(list((tmp_path / "staging").glob("*.obj"))) == 1
    with pytest.raises(FileNotFoundError):
        staging.open("broken.csv").__enter__()
    _write(staging, "broken.csv", b"second try")  # the name is free again
    assert _read(staging, "broken.csv") == b"second try"


def test_a_file_being_written_is_not_listed(staging: EncryptedStaging) -> None:
    with staging.create("slow.csv") as handle:
        handle.write(b"partial")
        assert staging.files() == []
        with pytest.raises(FileExistsError):
            staging.create("slow.csv").__enter__()
    assert [f.name for f in staging.files()] == ["slow.csv"]


def test_duplicate_and_invalid_names_are_refused(staging: EncryptedStaging) -> None:
    _write(staging, "dup.csv", b"1")
    with pytest.raises(FileExistsError):
        staging.create("dup.csv").__enter__()
    for bad in ["", "/abs.csv", "a//b", "a/../b", "./a", "a\\b", "nul\x00"]:
        with pytest.raises(ValueError):
            staging.create(bad).__enter__()


def test_another_instance_sees_the_files(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "one.csv", b"1" * 5000)
    again = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST)
    assert [f.name for f in again.files()] == ["one.csv"]
    _write(again, "two.csv", b"2")
    assert [f.name for f in staging.files()] == ["one.csv", "two.csv"]  # the first instance picks it up
    assert _read(staging, "two.csv") == b"2"


def test_another_request_or_key_cannot_open_it(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "one.csv", b"secret")
    with pytest.raises(StagingError, match="does not unwrap"):
        EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), "other-request").files()
    with pytest.raises(StagingError, match="does not unwrap"):
        EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "other.key"), REQUEST).files()


def test_a_tampered_index_is_detected(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "one.csv", b"1")
    _write(staging, "two.csv", b"2")
    log = tmp_path / "staging" / INDEX_LOG
    raw = bytearray(log.read_bytes())
    raw[4 + 12 + 5] ^= 0x01  # inside the first record's ciphertext
    log.write_bytes(bytes(raw))
    fresh = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST)
    with pytest.raises(StagingError, match="tampered"):
        fresh.files()


def test_reordered_index_records_are_detected(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "aaaa.csv", b"1")
    _write(staging, "bbbb.csv", b"2")
    raw = (tmp_path / "staging" / INDEX_LOG).read_bytes()
    first_len = 4 + int.from_bytes(raw[:4], "big")
    (tmp_path / "staging" / INDEX_LOG).write_bytes(raw[first_len:] + raw[:first_len])
    fresh = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST)
    with pytest.raises(StagingError):
        fresh.files()


def test_swapped_objects_do_not_open(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "one.csv", b"1" * 100)
    _write(staging, "two.csv", b"2" * 100)
    first, second = sorted((tmp_path / "staging").glob("*.obj"))
    first_bytes = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(first_bytes)
    with pytest.raises(EnvelopeContextError):
        _read(staging, "one.csv")


def test_an_incomplete_index_record_is_reported_not_skipped(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "one.csv", b"1")
    _write(staging, "two.csv", b"2")
    log = tmp_path / "staging" / INDEX_LOG
    raw = log.read_bytes()
    first_len = 4 + int.from_bytes(raw[:4], "big")
    # a length made larger would swallow the records after it: that must fail loudly, not hide them
    log.write_bytes(raw[:first_len] + (int.from_bytes(raw[first_len:first_len + 4], "big") + 50).to_bytes(4, "big")
                    + raw[first_len + 4:])
    fresh = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST)
    with pytest.raises(StagingError, match="incomplete record"):
        fresh.files()
    log.write_bytes(raw[:-10])  # an append cut by a power loss
    with pytest.raises(StagingError, match="incomplete record"):
        EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST).files()
    fresh.remove_all()  # the way out: purge and rebuild
    assert not (tmp_path / "staging").exists()


def _record_ends(raw: bytes) -> list[int]:
    ends, pos = [], 0
    while pos < len(raw):
        pos += 4 + int.from_bytes(raw[pos:pos + 4], "big")
        ends.append(pos)
    return ends


def _fresh(tmp_path: Path) -> EncryptedStaging:
    return EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST)


@pytest.mark.parametrize("keep", [0, 1, 2])
def test_an_index_cut_at_a_record_boundary_is_detected(tmp_path: Path, staging: EncryptedStaging, keep: int) -> None:
    for name in ("one.csv", "two.csv", "three.csv"):
        _write(staging, name, name.encode())
    log = tmp_path / "staging" / INDEX_LOG
    raw = log.read_bytes()
    log.write_bytes(raw[:[0, *_record_ends(raw)][keep]])  # whole records only: each remaining one still opens
    with pytest.raises(StagingError, match="cut off"):
        _fresh(tmp_path).files()
    with pytest.raises(StagingError, match="shorter than already read"):
        staging.files()  # an instance that had read further sees it too


def test_an_index_cut_together_with_its_head_or_key_removed_is_detected(tmp_path: Path,
                                                                         staging: EncryptedStaging) -> None:
    _write(staging, "one.csv", b"1")
    _write(staging, "two.csv", b"2")
    directory = tmp_path / "staging"
    raw = (directory / INDEX_LOG).read_bytes()
    (directory / INDEX_LOG).write_bytes(raw[:_record_ends(raw)[0]])
    (directory / INDEX_HEAD).unlink()
    with pytest.raises(StagingError, match="head is missing"):
        _fresh(tmp_path).files()
    (directory / INDEX_KEY).unlink()
    with pytest.raises(StagingError, match="index key is missing"):
        _fresh(tmp_path).files()


def test_a_tampered_head_is_detected_and_an_intact_index_passes(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "one.csv", b"1")
    _write(staging, "two.csv", b"2")
    assert [f.name for f in _fresh(tmp_path).files()] == ["one.csv", "two.csv"]
    head = tmp_path / "staging" / INDEX_HEAD
    raw = bytearray(head.read_bytes())
    raw[-1] ^= 1
    head.write_bytes(bytes(raw))
    with pytest.raises(StagingError, match="head is corrupt"):
        _fresh(tmp_path).files()


def test_remove_all_purges_everything(tmp_path: Path, staging: EncryptedStaging) -> None:
    for index in range(3):
        _write(staging, f"f{index}.csv", os.urandom(5000))
    staging.remove_all()
    assert not (tmp_path / "staging").exists()
    assert staging.files() == []
    assert EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "local.key"), REQUEST).files() == []


def test_remove_all_leaves_what_is_not_its_own(tmp_path: Path, staging: EncryptedStaging) -> None:
    _write(staging, "f.csv", b"x")
    foreign = tmp_path / "staging" / "README.txt"
    foreign.write_text("not ours")
    staging.remove_all()
    assert [p.name for p in (tmp_path / "staging").iterdir()] == ["README.txt"]


def _stage_from_child(directory: str, key_file: str, worker: int) -> None:
    staging = EncryptedStaging(Path(directory), LocalKeyProvider(Path(key_file)), REQUEST, chunk_size=1024)
    for index in range(5):
        _write(staging, f"w{worker}/f{index}.csv", f"{worker}-{index}".encode() * 300, piece=700)


def test_several_processes_stage_into_one_directory(tmp_path: Path, provider: LocalKeyProvider) -> None:
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_stage_from_child, args=(str(tmp_path / "staging"),
                                                                str(tmp_path / "local.key"), worker))
                for worker in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    staging = EncryptedStaging(tmp_path / "staging", provider, REQUEST)
    files = staging.files()
    assert sorted(f.name for f in files) == sorted(f"w{w}/f{i}.csv" for w in range(3) for i in range(5))
    for file in files:
        worker, index = file.name[1], file.name[-5]
        assert _read(staging, file.name) == f"{worker}-{index}".encode() * 300
