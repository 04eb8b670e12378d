"""`python -m tests.pipeline.cluster_driver`: one sensor tick, then every run request it made through the
request job with the executor of this process's `DSAR_ENV` (`harness.runner.execute`), as the daemon's
run launcher would; prints a JSON line: each new request's status, each run's success and the steps that
reported running in a Celery worker."""

from __future__ import annotations

import json


def main() -> None:
    import dagster as dg

    from assets.status import request_status
    from harness import runner

    with dg.DagsterInstance.get() as instance:
        tick = runner.tick(instance)
        runs = [runner.execute(instance, run_request) for run_request in tick.runs]
        in_celery = sorted({record.step_key for result in runs
                            for record in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                            if record.step_key and "in celery worker" in (record.dagster_event.message or "")})
        print(json.dumps({"statuses": {rid: request_status(instance, rid)["status"] for rid in tick.new_requests},
                          "runs": [result.success for result in runs], "in_celery": in_celery}))


if __name__ == "__main__":
    main()
