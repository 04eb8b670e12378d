"""The DPO's path through the Dagster UI, end to end, in headless Chromium.

A signed ticket for the sandbox's `demo` person is dropped into the inbox and the inbox sensor ticks
once (`runner.tick`): the request's dynamic partition exists, nothing has run. Then `dsar ui` (webserver
and daemon, as the DPO starts it) serves the same Dagster home, and the browser opens the request job,
picks the request's partition in "Materialize all…", launches one run, and follows it to its run page.
The run goes through the instance's run queue (the daemon dequeues it) and the default run launcher (a
run worker on the multiprocess executor). The request must end `delivered`; the run page must show
"Success" for the request's partition. Screenshots land in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import dagster as dg

from assets.status import request_status
from harness import runner

from .conftest import drop, person_ticket
from .support import browser
from .support.dagster_ui import EXPECT_MS, dsar_ui, finished
from .support.processes import ARTIFACTS, wait_for

pytestmark = browser.marks()

JOB = "dsar_request_job"
RUN_TIMEOUT_S = 180.0




def launch_from_job_page(page, base_url: str, request_id: str) -> None:
    """Job page → "Materialize all…" → Custom partition selection: the request → "Launch 1 run"."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/locations/dsar_pipeline/jobs/{JOB}")
    page.get_by_role("button", name=re.compile(r"Materialize all")).click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    expect(dialog).to_be_visible(timeout=EXPECT_MS)
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_placeholder("Filter partitions").fill(request_id)
    page.locator("label").filter(has_text=request_id).click()
    dialog.get_by_text("Launch runs to materialize").click()  # closes the partition picker
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible(timeout=EXPECT_MS)
    dialog.get_by_role("button", name="Launch 1 run").click()


def test_dpo_launches_a_request_from_the_ui_and_it_is_delivered(federation, pipeline_env, empty_inbox, ui_instance,
                                                               tmp_path: Path) -> None:
    from playwright.sync_api import expect

    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(phase: str) -> None:
        timings[phase] = round(time.monotonic() - started, 1)

    drop(federation, person_ticket(federation, "demo", suffix="-ui"), "web-ui")
    instance = ui_instance
    tick = runner.tick(instance)
    assert len(tick.new_requests) == 1 and len(tick.runs) == 1, tick.skip_reason
    (request_id,) = tick.new_requests
    assert instance.has_dynamic_partition("dsar_requests", request_id)
    assert not instance.get_run_records(dg.RunsFilter(job_name=JOB)), "nothing runs before the UI launches it"
    mark("ticket_and_tick")

    env_file = tmp_path / "sandbox.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in federation.settings.items()), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("ui-browser-*"):
        stale.unlink()
    log_path = ARTIFACTS / "ui-browser-dagster.log"
    home = Path(os.environ["DAGSTER_HOME"])
    with dsar_ui(pipeline_env, env_file, home, log_path, ready_timeout_s=None) as ui, \
            browser.chromium_page() as page:  # Chromium starts while the UI does
        ui.wait_ready(120)
        mark("ui_ready")
        ui.dismiss_community_prompt()
        try:
            launch_from_job_page(page, ui.base_url, request_id)
            mark("launched_in_ui")
            run_id = wait_for(lambda: next(iter(instance.get_run_ids(dg.RunsFilter(
                job_name=JOB, tags={"dagster/partition": request_id}))), None), 60, what="the launched run")
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.tags.get("dagster/from_ui") == "true"
            page.goto(f"{ui.base_url}/runs/{run_id}")  # follow it where the DPO would
            run = wait_for(lambda: finished(instance, run_id), RUN_TIMEOUT_S, interval_s=1.0,
                           what="the end of the run")
            mark("run_finished")
            assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run_id}: {run.status}\n{ui.log_tail()}"
            page.reload()
            header = page.get_by_text(re.compile(rf"partition:\s*{re.escape(request_id)}"))
            expect(header).to_be_visible(timeout=EXPECT_MS)
            expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=EXPECT_MS)
            expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible(timeout=EXPECT_MS)  # its event log
            page.screenshot(path=str(ARTIFACTS / "ui-browser-run-success.png"))
            mark("checked_in_ui")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "ui-browser-failure.png"))
            raise

    status = request_status(instance, request_id)
    assert status["status"] == "delivered", status
    assert all(s["status"] == "complete" for s in status["systems"].values()), status
    mark("stopped")
    (ARTIFACTS / "ui-browser-timings.json").write_text(json.dumps(timings, indent=1), encoding="utf-8")
