"""Memory and speed of streaming call recordings out of S3 through `RecordingsConnector.copy_attachment`.

The question: does copying many large recordings keep the pipeline's memory flat? A fresh process
copies N recordings of 2.5 MB each (200; quick: 20) from the sandbox's S3 into sinks that discard
the bytes, and reports its peak RSS; the baseline is the same kind of process copying one. The
target is that the two differ by at most 50 MB. The sandbox (moto, which holds every object in its
own memory: ~600 MB for 500 MB of objects) runs in another process, started as `python -m sandbox
up`, so the figures are the copier's alone. The objects are uploaded here with plain boto3.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from bench.results import Metric

OBJECT_BYTES = int(2.5 * 2**20)  # 2.5 MiB
PREFIX = "audio/bench/"
ROOT = Path(__file__).resolve().parent.parent
GROWTH_TARGET_MB = 50.0


def wav_like(size: int) -> bytes:
    """A genuine WAV file (8 kHz mono 16-bit PCM, as the call centre records) of about `size` bytes."""
    frames = (size - 44) // 2
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(os.urandom(frames * 2))
    return buffer.getvalue()


def upload(settings: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Put `count` distinct WAV objects into the recordings bucket; their attachments (uri, size, type)."""
    from sandbox.recordings.accounts import CALL_CENTRE
    from sandbox.recordings.seed import client

    s3 = client("s3", settings["DSAR_RECORDINGS_ENDPOINT_URL"], settings["DSAR_RECORDINGS_REGION"], account=CALL_CENTRE)
    bucket = settings["DSAR_RECORDINGS_BUCKET"]
    base = bytearray(wav_like(OBJECT_BYTES))

    def put(n: int) -> dict[str, Any]:
        body = bytes(base[:-8]) + n.to_bytes(8, "big")  # distinct objects, still a valid WAV
        key = f"{PREFIX}{n:04d}.wav"
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="audio/wav")
        return {"uri": f"s3://{bucket}/{key}", "size": len(body), "media_type": "audio/wav"}

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(put, range(count)))


def copy_in_fresh_process(settings: dict[str, str], attachments: list[dict[str, Any]]) -> dict[str, float]:
    """Run `_child` in a new interpreter: its peak RSS, the bytes copied and the copy's seconds."""
    job = json.dumps({"settings": settings, "attachments": attachments})
    done = subprocess.run([sys.executable, "-m", "bench.recordings_bench"], input=job, capture_output=True,
                          text=True, check=True, cwd=ROOT, timeout=600)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux: VmHWM of its own memory image; `ru_maxrss` would not do, as
    Linux carries the parent's high-water mark over fork and exec into it (a bench parent of 125 MB
    made every child report 125 MB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


class _Discard:
    """A sink that keeps nothing (and can be 'rewound', so a retried copy is allowed)."""

    def __init__(self) -> None:
        self.position = 0

    def write(self, data: bytes) -> int:
        self.position += len(data)
        return len(data)

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int) -> int:
        self.position = offset
        return offset

    def truncate(self) -> int:
        return self.position


def _child() -> None:
    """In the fresh process: copy every attachment given on stdin, print peak RSS and throughput."""
    from connectors.contract import Attachment
    from connectors.recordings import RecordingsConnector

    job = json.load(sys.stdin)
    copied = 0
    with RecordingsConnector.from_settings(job["settings"]) as connector:
        before_mb = psutil.Process().memory_info().rss / 2**20
        started = time.perf_counter()
        for item in job["attachments"]:
            copied += connector.copy_attachment(Attachment(**item), _Discard()).bytes  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({"peak_rss_mb": peak_mb, "rss_before_copy_mb": before_mb, "bytes": copied, "seconds": seconds}))


def run(quick: bool) -> dict[str, Metric]:
    from harness.sandbox_process import SandboxProcess

    count = 20 if quick else 200
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess(Path(tmp), size=20) as sandbox:
        started = time.perf_counter()
        attachments = upload(sandbox.settings, count)
        print(f"uploaded {count} x {OBJECT_BYTES / 2**20:.1f} MiB         {time.perf_counter() - started:.1f} s",
              flush=True)
        one = copy_in_fresh_process(sandbox.settings, attachments[:1])
        every = copy_in_fresh_process(sandbox.settings, attachments)
    if every["bytes"] != sum(a["size"] for a in attachments):
        raise RuntimeError("the copy did not deliver every byte")
    growth = every["peak_rss_mb"] - one["peak_rss_mb"]
    rate = every["bytes"] / 1e6 / every["seconds"]
    print(f"RSS before copying (baseline run)   {one['rss_before_copy_mb']:.1f} MB", flush=True)
    print(f"peak RSS copying 1                  {one['peak_rss_mb']:.1f} MB", flush=True)
    print(f"peak RSS copying {count:<4}               {every['peak_rss_mb']:.1f} MB "
          f"(+{growth:.1f} MB; {every['bytes'] / 1e6:.0f} MB in {every['seconds']:.2f} s, {rate:.0f} MB/s)",
          flush=True)
    return {
        "recordings_copy_peak_rss_mb": {
            "value": round(every["peak_rss_mb"], 1), "unit": "MB",
            "target": f"<= recordings_copy_one_peak_rss_mb + {GROWTH_TARGET_MB:g} ({count} x 2.5 MB copied)"},
        "recordings_copy_one_peak_rss_mb": {
            "value": round(one["peak_rss_mb"], 1), "unit": "MB", "target": "baseline (same process, one copy)"},
        "recordings_copy_rss_growth_mb": {
            "value": round(growth, 1), "unit": "MB", "target": f"<= {GROWTH_TARGET_MB:g}"},
        "recordings_copy_mb_per_s": {
            "value": round(rate, 1), "unit": "MB/s", "target": "report (moto streamed ~250 MB/s here)"},
    }


if __name__ == "__main__":
    _child()
