"""`python -m tests.pipeline.support.execute_request '<run request JSON>'`: one run request of the inbox
sensor through `runner.execute` (multiprocess executor, forkserver), on `DagsterInstance.get()`.

Its own process because the step forkserver is started once per process and keeps the environment it
started with (the Dagster home, the sandbox's URLs): a test process must not leave one behind. The last
stdout line is a JSON object: run id, success, seconds.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    import dagster as dg

    from harness import runner

    spec = json.loads(argv[0])
    run_request = dg.RunRequest(run_key=spec.get("run_key"), partition_key=spec.get("partition_key"),
                                tags=spec.get("tags") or {})
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = runner.execute(instance, run_request)
    print(json.dumps({"run_id": result.run_id, "success": result.success,
                      "seconds": round(time.monotonic() - started, 3)}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
