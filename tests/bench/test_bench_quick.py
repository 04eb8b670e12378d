"""CI runs the quick form of every benchmark: each must run and write well-formed metrics.

The figures of the quick form are not the issues' numbers (`make bench` measures those); this only
proves the benchmarks work from a clean clone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_quick_benchmarks_write_well_formed_metrics(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], capture_output=True,
                            text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert {"population_seconds", "sandbox_ready_seconds", "recordings_copy_peak_rss_mb"} <= set(metrics)
    for name, metric in metrics.items():
        assert set(metric) == {"value", "unit", "target"}, name
        assert isinstance(metric["value"], int | float) and metric["unit"] and metric["target"], name
