"""The DPO's desk end to end in headless Chromium (issue 13): open the worklist, find the request awaiting
a decision, follow its review link, approve it through the form, and see the request delivered and gone
from the worklist.

Before the UI starts, the sandbox's `household-a` files a ticket (held for review: weak matches), the
inbox sensor ticks once and the request job runs in-process on the Dagster home the UI then serves, and
`dpo_worklist` is materialised once with review links to the desk's port. Then `dsar ui` (webserver,
daemon and the review desk, as the DPO starts it) serves that home, and the browser goes through the
DPO's steps. The decision runs through the run queue like any launch; the daemon's `worklist_refresh`
sensor rebuilds the worklist after it. Screenshots of each step land in out/dpo-desk/ (git-ignored; the
README shows them): 01-worklist, 02-review-bundle (its top), 02b-decision-form (filled in), 03-decision-run,
04-delivered-worklist; on failure failure-<n>.png of each open tab; the UI's log beside them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from assets.definitions import defs
from assets.status import latest_metadata, request_status

from .conftest import audit_trail, person_ticket, run_ticket
from .support import browser
from .support.dagster_ui import EXPECT_MS, TERMINAL, dsar_ui, finished
from .support.processes import PROJECT, free_port, wait_for

pytestmark = browser.marks()

SHOTS = PROJECT / "out" / "dpo-desk"
WORKLIST = dg.AssetKey("dpo_worklist")
DPO_USER = "dpo.mari"
RUN_TIMEOUT_S = 150.0
REFRESH_TIMEOUT_S = 90.0




def audit_events(request_id: str, event_type: str) -> list[dict]:
    return [json.loads(e.payload) for e in audit_trail().events(request_id) if e.event_type == event_type]


def worklist_materialisation(instance: dg.DagsterInstance) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(WORKLIST, limit=1).records
    return records[0] if records else None


def worklist_rows(record: dg.EventLogRecord) -> dict[str, dict]:
    metadata = record.event_log_entry.asset_materialization.metadata
    return {r.data["request_id"]: r.data for r in metadata["worklist"].value.records}



def refreshes(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    """The worklist runs the daemon's `worklist_refresh` sensor launched, newest first."""
    return list(instance.get_run_records(dg.RunsFilter(job_name="dpo_worklist_job",
                                                       tags={"dsar/refreshed_by": "worklist_refresh"})))


def worklist_runs_in_flight(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    return list(instance.get_run_records(dg.RunsFilter(job_name="dpo_worklist_job", statuses=[
        dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED])))


def open_worklist(page, base_url: str) -> None:
    """The worklist asset's page, on its latest materialisation's event (its metadata: the table, the links)."""
    page.goto(f"{base_url}/assets/dpo_worklist?view=events")


def test_dpo_approves_a_held_request_at_the_desk_and_it_leaves_the_worklist(
        federation, pipeline_env, empty_inbox, ui_instance, tmp_path: Path, monkeypatch) -> None:
    from playwright.sync_api import expect

    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(phase: str) -> None:
        timings[phase] = round(time.monotonic() - started, 1)

    instance = ui_instance
    desk_port = free_port()
    # The worklist materialised here links to the desk `dsar ui` starts on that port (it sets the same
    # variable for its webserver, daemon and runs).
    monkeypatch.setenv("DSAR_REVIEW_DESK_URL", f"http://127.0.0.1:{desk_port}")
    request_id = run_ticket(federation, instance, person_ticket(federation, "household-a", suffix="-desk-ui"),
                            "-desk-ui")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    by_cli = run_ticket(federation, instance, person_ticket(federation, "household-a", suffix="-desk-cli"), "-desk-cli")
    sha = str(latest_metadata(instance, "review_findings", request_id)["review_bundle_sha256"])
    assert defs.resolve_job_def("dpo_worklist_job").execute_in_process(instance=instance).success
    listed = worklist_materialisation(instance)
    assert listed is not None and worklist_rows(listed)[request_id]["state"] == "awaiting_decision"
    mark("request_held_and_listed")

    env_file = tmp_path / "sandbox.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in federation.settings.items()), encoding="utf-8")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SHOTS.glob("*"):
        stale.unlink()
    log_path = SHOTS / "dagster-ui.log"
    home = Path(os.environ["DAGSTER_HOME"])
    with dsar_ui(pipeline_env, env_file, home, log_path, ready_timeout_s=None, desk_port=desk_port) as ui, \
            browser.chromium_page(width=1920, height=1080) as page:  # Chromium starts while the UI does
        ui.wait_ready(120)
        ui.wait_desk(30)
        mark("ui_ready")
        ui.dismiss_community_prompt()
        # The daemon's first `worklist_refresh` tick sees the request run that ended before it started and
        # rebuilds the worklist (the deadline watch's first tick does too): let those runs end, so step 1
        # shows a worklist nothing is rewriting.
        wait_for(lambda: [r for r in refreshes(instance) if r.dagster_run.status.value in TERMINAL],
                 REFRESH_TIMEOUT_S, interval_s=1.0, what="the daemon's first worklist refresh")
        wait_for(lambda: not worklist_runs_in_flight(instance), REFRESH_TIMEOUT_S, interval_s=1.0,
                 what="no worklist run in flight")
        mark("first_refresh")
        assert not audit_events(request_id, "review_opened"), "nobody opened the bundle yet"
        try:
            # 1. The worklist: the request, awaiting the DPO's decision, with its review link.
            open_worklist(page, ui.base_url)
            page.get_by_role("button", name="Hide navigation").click()  # room for the worklist's columns
            expect(page.get_by_text(request_id).first).to_be_visible(timeout=EXPECT_MS)
            waiting = page.get_by_role("cell", name="awaiting_decision", exact=True)
            expect(waiting).to_have_count(2, timeout=EXPECT_MS)  # this request and the one decided by the CLI
            page.screenshot(path=str(SHOTS / "01-worklist.png"))
            mark("worklist_shown")

            # 2. Its review link opens the sealed bundle at the desk, with the decision form under it.
            link = page.locator(f'a[href^="{ui.desk_url}/review/{request_id}?"]')
            expect(link.first).to_be_visible(timeout=EXPECT_MS)
            with page.context.expect_page() as opened:
                link.first.click()
            desk = opened.value
            desk.wait_for_load_state()
            assert desk.url.startswith(f"{ui.desk_url}/review/{request_id}?sha={sha}"), desk.url
            expect(desk.get_by_role("heading", name="Under review", exact=True)).to_be_visible(timeout=EXPECT_MS)
            assert desk.locator("#under-review .record").count() > 0, "the records waiting for the decision"
            expect(desk.get_by_text("weak_matches").first).to_be_visible(timeout=EXPECT_MS)
            form = desk.locator("section#decision")
            expect(form.get_by_role("heading", name=f"Decision on {request_id}")).to_be_visible(timeout=EXPECT_MS)
            expect(form.get_by_text(sha)).to_be_visible(timeout=EXPECT_MS)
            desk.screenshot(path=str(SHOTS / "02-review-bundle.png"))  # its top: the request, counts, systems
            mark("bundle_opened")

            # 3. Approved as built: the desk launches the decision job and sends the browser to its run.
            refused: list[str] = []
            desk.on("console", lambda message: refused.append(message.text)
                    if "Content Security Policy" in message.text else None)
            form.locator("input[name=dpo_user]").fill(DPO_USER)
            form.scroll_into_view_if_needed()
            form.screenshot(path=str(SHOTS / "02b-decision-form.png"))
            try:
                with desk.expect_navigation(url=re.compile(rf"^{re.escape(ui.base_url)}/runs/")):
                    form.get_by_role("button", name="Approve the package as built").click()
            except Exception as exc:
                desk.wait_for_timeout(1000)  # Chromium reports a refused form target on the console just after
                raise AssertionError(f"the desk did not send the browser to the decision's run page: {exc}; "
                                     f"Chromium said: {refused}") from None
            run_id = desk.url.rsplit("/runs/", 1)[1].split("?")[0].strip("/")
            mark("decision_launched")
            run = wait_for(lambda: finished(instance, run_id), RUN_TIMEOUT_S, interval_s=1.0,
                           what="the end of the decision run")
            mark("decision_finished")
            assert run.job_name == "approve_release" and run.tags.get("dagster/partition") == request_id
            assert run.tags.get("dsar/decided_via") == "desk"
            assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run_id}: {run.status}\n{ui.log_tail()}"
            desk.reload()
            expect(desk.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible(timeout=EXPECT_MS)
            desk.screenshot(path=str(SHOTS / "03-decision-run.png"))

            # 4. Delivered; the daemon's worklist_refresh rebuilds the worklist, and the request is gone.
            assert request_status(instance, request_id)["status"] == "delivered"
            record = instance.get_run_record_by_id(run_id)
            ended = record.end_time if record is not None and record.end_time else time.time()

            def refreshed() -> dg.RunRecord | None:
                """The first `worklist_refresh` run launched after the decision run ended, once it ended."""
                after = [r for r in refreshes(instance) if r.create_timestamp.timestamp() > ended]
                first = min(after, key=lambda r: r.create_timestamp) if after else None
                return first if first is not None and first.dagster_run.status.value in TERMINAL else None

            refresh = wait_for(refreshed, REFRESH_TIMEOUT_S, interval_s=1.0, what="the worklist's refresh")
            mark("worklist_refreshed")
            assert refresh.dagster_run.status == dg.DagsterRunStatus.SUCCESS, ui.log_tail()
            latest = worklist_materialisation(instance)
            assert latest is not None and latest.run_id == refresh.dagster_run.run_id
            assert request_id not in worklist_rows(latest)
            page.bring_to_front()
            open_worklist(page, ui.base_url)
            expect(page.get_by_text("refreshed_at").first).to_be_visible(timeout=EXPECT_MS)
            expect(page.get_by_text(request_id)).to_have_count(0, timeout=EXPECT_MS)
            expect(page.get_by_role("cell", name="awaiting_decision", exact=True)).to_have_count(1)  # the CLI's
            page.screenshot(path=str(SHOTS / "04-delivered-worklist.png"))
            mark("worklist_checked")
            # The same decision from the command line, through the same running Dagster: a rejection.
            done = subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "decide", by_cli, "reject", "--by",
                                   DPO_USER, "--dagster-url", ui.base_url, "--json"],
                                  capture_output=True, text=True, timeout=300, env=dict(os.environ))
            assert done.returncode == 0, done.stderr
            said = json.loads(done.stdout.strip().splitlines()[-1])
            assert said["run_status"] == "SUCCESS" and said["state"] == "rejected", said
            assert request_status(instance, by_cli)["status"] == "rejected"
            assert audit_events(by_cli, "rejected")[-1]["decided_by"] == DPO_USER
            mark("rejected_by_cli")
        except Exception:
            for n, shot in enumerate(page.context.pages):
                shot.screenshot(path=str(SHOTS / f"failure-{n}.png"))
            raise

    # The audit trail: the bundle was opened (nobody signs in to the embedded UI), and the approval names
    # the DPO and the bundle they were shown.
    opened_events = audit_events(request_id, "review_opened")
    assert opened_events and opened_events[-1]["review_bundle_sha256"] == sha
    assert opened_events[-1]["opened_by"] == "unauthenticated" and opened_events[-1]["authenticated"] is False
    approved = audit_events(request_id, "approved")[-1]
    assert approved["decided_by"] == DPO_USER and approved["review_bundle_sha256"] == sha

    # A fresh scan after the whole flow: no personal value of the person in Dagster's home (its SQLite
    # storage, logs and the sealed work folder), the delivered package itself aside.
    person = federation.population.case("household-a")
    needles = [v for v in (person.personal_code, person.email, person.phone, person.first_name + " " + person.last_name)
               if v]
    scanned = [p for p in home.rglob("*") if p.is_file() and "package" not in p.parts]
    assert any(p.suffix == ".db" for p in scanned) and len(scanned) > 10
    hits = [(str(p.relative_to(home)), v[:2] + "…") for p in scanned for v in needles if v.encode() in p.read_bytes()]
    assert hits == [], "personal values in Dagster's home"
    mark("stopped")
    (SHOTS / "timings.json").write_text(json.dumps(timings, indent=1), encoding="utf-8")
