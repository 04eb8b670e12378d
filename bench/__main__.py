"""`python -m bench [--quick] [--only NAME] [--out PATH]`: run the benchmarks, write results.json.

--quick runs each benchmark at a small size; that is what CI runs (the figures are then only a
smoke check that the benchmark works, not the numbers the issues ask for).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bench import (
    avp_bench,
    cluster_bench,
    dataset_bench,
    package_bench,
    package_rss_bench,
    pipeline_bench,
    recordings_bench,
    sandbox_bench,
)
from bench.results import RESULTS, Metric, record, show

BENCHMARKS: dict[str, Callable[[bool], dict[str, Metric]]] = {
    "sandbox": sandbox_bench.run,
    "recordings": recordings_bench.run,
    "package": package_bench.run,
    "avp": avp_bench.run,
    "e2e": pipeline_bench.run_e2e,
    "fanout": pipeline_bench.run_fanout,
    "batch": pipeline_bench.run_batch,
    "package_rss": package_rss_bench.run,
    "dataset": dataset_bench.run,
    "cluster": cluster_bench.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    for name in args.only or BENCHMARKS:
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        metrics = BENCHMARKS[name](args.quick)
        show(metrics)
        record(metrics, args.out)
    print(f"results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
