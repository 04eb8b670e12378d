"""`package_vs_7zz_ratio`: our AES-256 ZIP writer against 7-Zip on the same files, in the same run.

The files are export-like and made here: recordings (a WAV header and 2.5 MB of random-ish PCM,
which does not compress, like real audio) and a consumption CSV in the layout of the export
(one row per 15-minute interval). Full: 200 recordings + 10 meters x 3 years (~1.05M rows),
about 600 MB, the issue's large case; quick: 20 recordings + 10 meters x 3 months (~60 MB).

The reference is `7zz a -tzip -mx=0 -mem=AES256` (store + WinZip AES-256); ours is
`write_aes_zip` in the same store mode, both writing to a temp file on the same disk. The page
cache is warmed first; the two are run alternately (five times; three in the quick form) and the
best of each is kept, so a burst of load from elsewhere on the machine does not land on one side
only. The medians and CPU seconds (user + system) of both are printed too: CPU seconds do not
depend on what else the machine runs. The target is 7-Zip's speed: both use both cores here
(7-Zip its own threads; ours reads, encrypts and writes in the caller's thread and authenticates
in another, see `aeszip_parallel`).
Our archive is then checked with `7zz t` (a fast broken archive would prove nothing).
Without `7zz` the benchmark is skipped and records no metric.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results import Metric
from dsar_pipeline.formats.aeszip import ZipEntry, write_aes_zip
from dsar_pipeline.package.passphrase import generate_passphrase

RECORDING_BYTES = 2_500_000
RUNS = 5
QUICK_RUNS = 3
TARGET_RATIO = 1.0


def _wav_header(data_bytes: int, rate: int = 8000) -> bytes:
    """A canonical 44-byte PCM WAV header (mono, 16-bit)."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", data_bytes))


def make_files(root: Path, recordings: int, days: int) -> list[Path]:
    """Recordings and one consumption CSV of 10 meters x `days` of 15-minute intervals."""
    rng = np.random.default_rng(20260101)
    paths = []
    for index in range(recordings):
        path = root / "recordings" / f"call-{index:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        pcm = (rng.normal(0, 3000, (RECORDING_BYTES - 44) // 2)).astype("<i2").tobytes()
        path.write_bytes(_wav_header(len(pcm)) + pcm)
        paths.append(path)
    csv = root / "export" / "csv" / "consumption.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    starts = pd.date_range("2023-01-01", periods=days * 96, freq="15min", tz="UTC")
    utc = starts.tz_localize(None)
    local = starts.tz_convert("Europe/Tallinn").tz_localize(None)
    offset_hours = ((local - utc) // pd.Timedelta(hours=1)).to_numpy()
    offsets = pd.Series(np.char.add("+0", offset_hours.astype(str))) + ":00"
    times = (pd.Series(utc.strftime("%Y-%m-%dT%H:%M:%SZ")) + ","  # formatted once, shared by the meters
             + pd.Series((utc + pd.Timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")) + ","
             + pd.Series(local.strftime("%Y-%m-%dT%H:%M:%S")) + offsets + ",PT15M,")
    with csv.open("w", encoding="utf-8", newline="") as handle:
        handle.write("metering_point_eic,direction,interval_start_utc,interval_end_utc,interval_start_local,"
                     "resolution,quantity,unit,quality\n")
        for meter in range(10):
            quantity = pd.Series(rng.gamma(2.0, 0.06, len(starts)).round(3)).astype(str)
            lines = f"38ZEE-{meter:08d}-X,consumption," + times + quantity + ",kWh,metered\n"
            handle.write("".join(lines.tolist()))
    paths.append(csv)
    return paths


def _warm(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 22):
                pass


def _time_7zz(sevenzip: str, root: Path, paths: list[Path], archive: Path, passphrase: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of 7-Zip storing and encrypting `paths` into `archive`."""
    archive.unlink(missing_ok=True)
    names = [path.relative_to(root).as_posix() for path in paths]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sevenzip, "a", "-tzip", "-mx=0", "-mem=AES256", f"-p{passphrase}", str(archive), *names],
                   cwd=root, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _time_ours(root: Path, paths: list[Path], archive: Path, passphrase: str) -> tuple[float, float]:
    entries = [ZipEntry(path.relative_to(root).as_posix(), lambda path=path: path.open("rb"), path.stat().st_size)
               for path in paths]
    archive.unlink(missing_ok=True)
    cpu = time.process_time()
    started = time.perf_counter()
    with archive.open("wb") as out:
        write_aes_zip(entries, out, passphrase)
    return time.perf_counter() - started, time.process_time() - cpu


def run(quick: bool) -> dict[str, Metric]:
    sevenzip = shutil.which("7zz")
    if sevenzip is None:
        print("package: skipped, 7-Zip's `7zz` is not installed (Debian package `7zip`); no metric recorded",
              flush=True)
        return {}
    recordings, days = (20, 92) if quick else (200, 3 * 365)
    passphrase = generate_passphrase()
    with tempfile.TemporaryDirectory(prefix="package-bench-", dir=os.environ.get("BENCH_TMPDIR")) as tmp:
        root = Path(tmp) / "files"
        paths = make_files(root, recordings, days)
        total = sum(path.stat().st_size for path in paths)
        _warm(paths)
        theirs, ours = [], []
        runs = QUICK_RUNS if quick else RUNS
        for _ in range(runs):
            theirs.append(_time_7zz(sevenzip, root, paths, Path(tmp) / "7zz.zip", passphrase))
            ours.append(_time_ours(root, paths, Path(tmp) / "ours.zip", passphrase))
        tested = subprocess.run([sevenzip, "t", f"-p{passphrase}", str(Path(tmp) / "ours.zip")],
                                capture_output=True, text=True, check=False)
        if tested.returncode != 0:
            raise RuntimeError("7zz could not test the archive written by write_aes_zip")
    reference, mine = min(wall for wall, _ in theirs), min(wall for wall, _ in ours)
    megabytes = total / 1e6
    print(f"files                              {len(paths)} files, {megabytes:.0f} MB", flush=True)
    for label, times in (("7zz store+AES-256", theirs), ("write_aes_zip    ", ours)):
        best, median = min(wall for wall, _ in times), statistics.median(wall for wall, _ in times)
        print(f"{label} (best of {runs})      {best:.2f} s = {megabytes / best:.0f} MB/s "
              f"(median {megabytes / median:.0f} MB/s), CPU {min(cpu for _, cpu in times):.2f} s", flush=True)
    return {
        "package_vs_7zz_ratio": {"value": round(reference / mine, 3), "unit": "x",
                                 "target": f">= {TARGET_RATIO:g} ({megabytes:.0f} MB, 7zz time / ours)"},
        "package_zip_mb_per_s": {"value": round(megabytes / mine, 1), "unit": "MB/s",
                                 "target": f"informational (7zz: {megabytes / reference:.0f} MB/s)"},
    }
