"""`bench/results.json`: one JSON object, metric name -> {"value", "unit", "target"}.

Each benchmark merges its metrics into the file, so benchmarks can run one at a time.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TypedDict

RESULTS = Path(__file__).with_name("results.json")


class Metric(TypedDict):
    value: float
    unit: str
    target: str


def record(metrics: dict[str, Metric], path: Path = RESULTS) -> None:
    current: dict[str, Metric] = json.loads(path.read_text()) if path.exists() else {}
    current.update(metrics)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results.")
    with os.fdopen(fd, "w") as handle:
        json.dump(current, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def show(metrics: dict[str, Metric]) -> None:
    for name, metric in metrics.items():
        print(f"{name:<34} {metric['value']:>10.3f} {metric['unit']:<8} target {metric['target']}", flush=True)
