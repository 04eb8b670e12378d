"""How fast the embedded default comes up: population generation and `dsar sandbox up` to ready.

Ready is measured the way a user meets it: from launching `python -m sandbox up` in its own
process to the settings file appearing (written only after every system answered a probe).
The baseline in the same run is a bare Python interpreter start, which the sandbox start pays too.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import Metric


def population_seconds(size: int) -> float:
    from sandbox.population import generate

    started = time.perf_counter()
    generate(size=size)
    return time.perf_counter() - started


def sandbox_ready_seconds(size: int) -> tuple[float, float]:
    """(seconds to ready, seconds of a bare interpreter start as the baseline)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    baseline = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "sandbox.env"
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--size", str(size), "--port-base", "0",
                                 "--state-dir", tmp, "--env-file", str(env_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while not env_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"sandbox exited: {proc.stderr.read().decode() if proc.stderr else ''}")
                if time.perf_counter() - started > 120:
                    raise RuntimeError("sandbox not ready after 120 s")
                time.sleep(0.05)
            ready = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return ready, baseline


def run(quick: bool) -> dict[str, Metric]:
    size = 200 if quick else 1000
    ready, baseline = sandbox_ready_seconds(size)
    print(f"interpreter start (baseline)        {baseline:.3f} s", flush=True)
    return {
        "population_seconds": {"value": round(population_seconds(size), 3), "unit": "s",
                               "target": f"<= 60 for {size} people"},
        "sandbox_ready_seconds": {"value": round(ready, 3), "unit": "s", "target": f"<= 15 for {size} people"},
    }
