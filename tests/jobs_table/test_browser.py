"""The jobs table in a real browser: Debian's Chromium (headless, Playwright) against
pytest-django's live server on 127.0.0.1, Bootstrap 5's CSS on the page and none of
Bootstrap's JavaScript."""

import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tethys_compute.models import BasicJob, CondorWorkflowNode, TethysJob

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.jobs_table.urls"),
              pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def row(page, job):
    return page.locator(f"#jobs-table-row-{job.pk}")


def seconds(shown):
    """Python's timedelta text (``"1 day, 0:01:02"``, ``"0:01:02"``) in seconds."""
    days = 0
    if ", " in shown:
        day_text, shown = shown.split(", ")
        days = int(day_text.split()[0])
    hours, minutes, secs = (int(part) for part in shown.split(":"))
    return days * 86400 + hours * 3600 + minutes * 60 + secs


def status_of(page, job):
    return row(page, job).locator(".tc-status-text")


def choose(page, job, label):
    """Open a row's actions menu and click one entry."""
    row(page, job).locator("summary").click()
    row(page, job).get_by_role("button", name=label, exact=True).click()


def move(job, status):
    BasicJob.objects.get(pk=job.pk).update_status(status)


def test_table_renders_with_bootstrap_and_no_bootstrap_js(open_page, user, make_job,
                                                          make_workflow, tmp_path):
    workflow = make_workflow("Ensemble forecast (workflow)", [
        ("preprocess", "Completed", []),
        ("member_1", "Completed", ["preprocess"]),
        ("member_2", "Running", ["preprocess"]),
        ("member_3", "Idle", ["preprocess"]),
        ("postprocess", None, ["member_1", "member_2", "member_3"]),
    ])
    running = make_job("Hydrology model, 2026 run", status="RUN",
                       extended_properties={"stage": "simulate"})
    BasicJob.objects.get(pk=running.pk).set_progress(60, "Simulating year 3 of 5")
    make_job("Calibration", status="COM", extended_properties={"stage": "done"})
    failed = make_job("Flood forecast", status="RUN", extended_properties={"stage": "forecast"})
    TethysJob.objects.filter(pk=failed.pk).update(status_message="Missing input: rainfall.nc")
    move(failed, "ERR")
    make_job("Sensitivity study")
    page = open_page(user, "/jobs/?preset=workflow")
    table = page.locator("table.tc-jobs-table")
    expect(table.locator("tbody tr.job-row")).to_have_count(5)
    expect(table.locator("thead th")).to_have_text(
        ["Id", "Name", "Created", "Run Time", "Stage", "Status", "Actions"])
    expect(status_of(page, running)).to_have_text("Running")
    expect(row(page, running).locator(".progress-bar")).to_have_text("60%")
    expect(row(page, running)).to_contain_text("Simulating year 3 of 5")
    expect(status_of(page, failed)).to_have_text("Error")
    expect(row(page, failed).locator(".tc-status-message")).to_have_text(
        "Missing input: rainfall.nc")
    expect(page.locator(f"#jobs-table-row-{workflow.pk} .progress-bar")).to_have_count(3)
    expect(page.locator(".tc-graph svg .tc-node")).to_have_count(5)
    assert page.evaluate("() => typeof window.bootstrap") == "undefined"
    # Bootstrap 5's CSS is applied: a striped/hover table and outline buttons.
    assert page.evaluate(
        "() => getComputedStyle(document.querySelector('.tc-actions summary')).borderRadius"
    ) != "0px"
    # The menu is a native <details>: it opens without Bootstrap's JavaScript.
    menu = row(page, running).locator(".dropdown-menu")
    expect(menu).to_be_hidden()
    row(page, running).locator("summary").click()
    expect(menu).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.mouse.move(0, 0)
    shot = tmp_path / "jobs_table.png"
    page.locator("main").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("TETHYS_COMPUTE_UPDATE_DOCS"):
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "docs" / "jobs_table.png")


def test_statuses_change_on_screen_as_jobs_move(open_page, user, make_job):
    job = make_job("moving", status="SUB")
    page = open_page(user, "/jobs/?preset=fast&fixed=1")  # a table of a fixed list
    expect(status_of(page, job)).to_have_text("Submitted")
    move(job, "RUN")
    expect(status_of(page, job)).to_have_text("Running")
    BasicJob.objects.get(pk=job.pk).set_progress(35, "meshing")
    expect(row(page, job).locator(".progress-bar")).to_have_text("35%")
    move(job, "COM")
    expect(status_of(page, job)).to_have_text("Complete")
    expect(row(page, job)).to_have_attribute("data-active", "false")
    # Nothing unfinished left in a fixed list: the table stops asking (a table over a
    # query keeps asking, for new jobs: see test_live_rows_browser).
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/jobs-table/poll/" in r.url else None)
    page.wait_for_timeout(1200)
    assert polls == []


def test_one_request_per_interval_for_all_rows_paused_while_hidden(open_page, user, make_job):
    jobs = [make_job(f"job {i}", status="RUN") for i in range(5)]
    make_job("finished", status="COM")
    polls = []
    page = open_page(user, "/jobs/?preset=fast")  # refresh_interval 300 ms
    page.on("request", lambda r: polls.append(r) if "/jobs-table/poll/" in r.url else None)
    # When each poll starts, by the page's own clock (Playwright's request events can
    # arrive bunched on a loaded machine).
    page.evaluate("""() => {
        const fetch = window.fetch;
        window.__pollStarts = [];
        window.fetch = function (url) {
            if (String(url).includes('/jobs-table/poll/')) {
                window.__pollStarts.push(performance.now());
            }
            return fetch.apply(this, arguments);
        };
    }""")
    page.wait_for_timeout(3000)
    assert 4 <= len(polls) <= 12, len(polls)  # about one per 300 ms, with slack for a slow machine
    for request in polls:
        asked = json.loads(request.post_data)["rows"]
        assert sorted(map(int, asked)) == sorted(job.pk for job in jobs)  # one request, all rows
        assert request.method == "POST"
    starts = page.evaluate("() => window.__pollStarts")
    assert len(starts) >= 4, starts
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 290, gaps  # milliseconds: never two polls within one interval
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(300)
    hidden_from = len(polls)
    page.wait_for_timeout(1500)
    assert len(polls) == hidden_from
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(1000)
    assert len(polls) > hidden_from


def test_run_pause_resume_terminate_resubmit_from_the_menu(open_page, user, make_job):
    job = make_job("controlled")
    page = open_page(user, "/jobs/?preset=all")
    choose(page, job, "Run")
    expect(status_of(page, job)).to_have_text("Submitted")
    move(job, "RUN")
    page.reload()
    choose(page, job, "Pause")
    expect(status_of(page, job)).to_have_text("Paused")
    choose(page, job, "Resume")
    expect(status_of(page, job)).to_have_text("Running")
    choose(page, job, "Terminate")
    dialog = page.locator("dialog.tc-confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".tc-confirm-message")).to_have_text(
        "Are you sure you want to terminate this job?")
    dialog.get_by_role("button", name="Terminate").click()
    expect(status_of(page, job)).to_have_text("Aborted")
    choose(page, job, "Resubmit")
    expect(status_of(page, job)).to_have_text("Running")
    expect(page.locator(".tc-messages .alert-success")).to_contain_text(
        f"Successfully resubmitted job: {job.pk}.")
    assert TethysJob.objects.get(pk=job.pk)._status == "RUN"


def test_disabled_entries_follow_status(open_page, user, make_job):
    job = make_job("pending")
    page = open_page(user, "/jobs/?preset=all")
    row(page, job).locator("summary").click()
    menu = row(page, job)
    expect(menu.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    for label in ("Pause", "Resume", "Resubmit", "View Logs", "Terminate"):
        expect(menu.get_by_role("button", name=label, exact=True)).to_be_disabled()
    expect(menu.get_by_role("button", name="Delete", exact=True)).to_be_enabled()
    expect(menu.locator(".job-action-monitor-job")).to_have_attribute("aria-disabled", "true")


def test_delete_asks_for_confirmation(open_page, user, make_job):
    job = make_job("doomed", status="COM")
    keep = make_job("kept", status="COM")
    page = open_page(user)
    choose(page, job, "Delete")
    dialog = page.locator("dialog.tc-confirm-dialog")
    expect(dialog.locator(".tc-confirm-message")).to_have_text(
        "Are you sure you want to permanently delete this job?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row(page, job)).to_be_visible()
    assert TethysJob.objects.filter(pk=job.pk).exists()
    choose(page, job, "Delete")
    dialog.get_by_role("button", name="Delete").click()
    expect(row(page, job)).to_have_count(0)
    expect(row(page, keep)).to_be_visible()
    assert not TethysJob.objects.filter(pk=job.pk).exists()


def test_logs_dialog_per_node_lazy_truncated_refreshable(open_page, user, make_job, monkeypatch,
                                                         settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_LOG_MAX_BYTES": 2000}
    job = make_job("with logs", status="RUN")
    reads = []
    big = "".join(f"line {i:05d}\n" for i in range(1000))

    def node_log():
        reads.append(1)
        return f"node a log, read {len(reads)} <b>time(s)</b>"

    def _get_logs(self):
        return {"workflow": {"out": "dagman says hi", "big": big},
                "node_a": {"log": node_log, "error": XSS}}

    monkeypatch.setattr(BasicJob, "_get_logs", _get_logs)
    page = open_page(user)
    choose(page, job, "View Logs")
    dialog = page.locator("dialog.tc-logs-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".tc-logs-job")).to_have_text("with logs")
    content = dialog.locator(".tc-log-content")
    expect(content).to_have_text("dagman says hi")
    expect(dialog.locator(".tc-log-group")).to_have_text(["workflow", "node_a"])
    dialog.get_by_role("button", name="log", exact=True).click()
    expect(content).to_have_text("node a log, read 1 <b>time(s)</b>")
    dialog.locator(".tc-log-refresh").click()
    expect(content).to_have_text("node a log, read 2 <b>time(s)</b>")
    dialog.get_by_role("button", name="error", exact=True).click()
    expect(content).to_have_text(XSS)
    dialog.get_by_role("button", name="big", exact=True).click()
    notice = dialog.locator(".tc-log-notice")
    expect(notice).to_contain_text("only its end is shown")
    assert content.inner_text().rstrip().endswith("line 00999")
    assert "line 00000" not in content.inner_text()
    with page.expect_download() as download:
        notice.get_by_role("link", name="Download the whole log").click()
    path = download.value.path()
    assert Path(path).read_text() == big
    assert download.value.suggested_filename == f"job-{job.pk}-workflow-big.log"
    dialog.locator(".tc-dialog-footer").get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("() => window.__xss") is None


def test_monitor_results_and_modal_links(open_page, user, make_job):
    running = make_job("running", status="RUN")
    done = make_job("done", status="COM")
    slow = make_job("slow", status="COM")
    hidden = make_job("hidden", status="COM")
    page = open_page(user, "/jobs/?preset=all")
    choose(page, done, "Details")
    dialog = page.locator("dialog.tc-modal-dialog")
    expect(dialog).to_be_visible()
    heading = page.frame_locator(".tc-modal-frame").locator("#page")
    expect(heading).to_have_text(f"Details of job {done.pk}")
    # Styled by the page's stylesheets (Bootstrap's text-primary), its script not run.
    expect(heading).to_have_css("color", "rgb(13, 110, 253)")  # once the sheet has loaded
    assert page.evaluate("() => window.__modal_script") is None
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    # Opened again for another job: that job's page (a new frame, not the old one).
    choose(page, running, "Details")
    expect(heading).to_have_text(f"Details of job {running.pk}")
    dialog.get_by_role("button", name="Close").click()
    # A slow answer for a modal closed meanwhile never replaces the next modal's page.
    choose(page, slow, "Details")
    expect(dialog.locator(".tc-modal-status")).to_have_text("Loading…")
    dialog.get_by_role("button", name="Close").click()
    choose(page, done, "Details")
    expect(heading).to_have_text(f"Details of job {done.pk}")
    page.wait_for_timeout(2000)
    expect(heading).to_have_text(f"Details of job {done.pk}")
    dialog.get_by_role("button", name="Close").click()
    # An error answer is said in the dialog, not left as "Loading…".
    choose(page, hidden, "Details")
    expect(dialog.locator(".tc-modal-status")).to_have_text("The server answered 404 Not Found.")
    expect(dialog.locator(".tc-modal-frame")).to_be_hidden()
    dialog.get_by_role("button", name="Close").click()
    row(page, done).locator("summary").click()
    row(page, done).get_by_role("link", name="View Results").click()
    expect(page.locator("#page")).to_have_text(f"Results of job {done.pk}")
    page.go_back()
    row(page, running).locator("summary").click()
    row(page, running).get_by_role("link", name="Monitor Job").click()
    expect(page.locator("#page")).to_have_text(f"Monitor of job {running.pk}")


def test_custom_actions_and_a_failing_action(open_page, user, make_job):
    job = make_job("report", status="COM")
    page = open_page(user, "/jobs/?preset=all")
    choose(page, job, "Archive")
    page.locator("dialog.tc-confirm-dialog").get_by_role("button", name="Archive").click()
    expect(page.locator(".tc-messages .alert-success")).to_have_text("Archived report.")
    assert TethysJob.objects.get(pk=job.pk).extended_properties["archived"] is True
    row(page, job).locator("summary").click()
    expect(row(page, job).get_by_role("button", name="Archive", exact=True)).to_be_disabled()
    row(page, job).get_by_role("button", name="Explode", exact=True).click()
    expect(page.locator(".tc-messages .alert-danger")).to_have_text(
        f"Explode failed: Unable to explode job {job.pk}.")
    expect(status_of(page, job)).to_have_text("Complete")
    page.locator(".tc-messages .alert-danger .btn-close").click()
    expect(page.locator(".tc-messages .alert-danger")).to_have_count(0)


def test_a_foreign_job_id_is_refused(open_page, user, other_user, make_job):
    make_job("mine", status="COM")
    theirs = make_job("theirs", status="COM", owner=other_user)
    page = open_page(user)
    expect(page.locator("tr.job-row")).to_have_count(1)
    answers = page.evaluate("""async (ids) => {
        const root = document.querySelector('[data-tc-jobs-table]');
        const send = async (id) => {
            const response = await fetch(root.dataset.actionUrl, {
                method: 'POST', credentials: 'same-origin',
                headers: {'X-CSRFToken': root.dataset.csrfToken},
                body: new URLSearchParams({config: root.dataset.config, job_id: id,
                                           action: 'delete'})});
            return [response.status, await response.text()];
        };
        return [await send(ids[0]), await send(ids[1])];
    }""", [theirs.pk, 99999999])
    assert answers[0] == answers[1]
    assert answers[0][0] == 404 and json.loads(answers[0][1]) == {
        "success": False, "error": "No such job."}
    assert TethysJob.objects.filter(pk=theirs.pk).exists()


def test_an_xss_job_name_is_shown_as_text(open_page, user, make_job):
    job = make_job(XSS, status="RUN", extended_properties={"stage": XSS})
    TethysJob.objects.filter(pk=job.pk).update(status_message=XSS)
    move(job, "ERR")
    page = open_page(user)
    expect(row(page, job).locator(".name-field")).to_have_text(XSS)
    expect(row(page, job).locator(".extended_properties-stage-field")).to_have_text(XSS)
    expect(row(page, job).locator(".tc-status-message")).to_have_text(XSS)
    assert row(page, job).locator("img, script").count() == 0
    choose(page, job, "Delete")
    expect(page.locator("dialog.tc-confirm-dialog")).to_be_visible()
    page.locator("dialog.tc-confirm-dialog").get_by_role("button", name="Cancel").click()
    assert page.evaluate("() => window.__xss") is None


def test_times_are_shown_in_the_viewers_timezone(open_page, user, make_job):
    job = make_job("timed")
    TethysJob.objects.filter(pk=job.pk).update(
        creation_time=datetime(2026, 1, 5, 15, 4, 5, tzinfo=timezone.utc))
    page = open_page(user, timezone="Asia/Kathmandu")  # UTC+05:45
    cell = row(page, job).locator(".creation_time-field time")
    expect(cell).to_have_attribute("data-localized", "true")
    expect(cell).to_have_text("Jan 5, 2026, 8:49:05 PM")
    assert "Asia/Kat" in cell.get_attribute("title")  # Chromium says "Asia/Katmandu"


def test_run_time_of_a_running_job_counts_in_the_page_and_stops_at_the_end(open_page, user,
                                                                           make_job):
    from datetime import timedelta

    from django.utils import timezone as tz

    job = make_job("counting", status="RUN")
    TethysJob.objects.filter(pk=job.pk).update(start_time=tz.now() - timedelta(days=1, seconds=58))
    page = open_page(user, "/jobs/?preset=fast")
    run_time = row(page, job).locator(".run_time-field")
    expect(run_time).to_have_text(re.compile(r"^1 day, 0:0[01]:\d\d$"))
    first = run_time.text_content()
    run_time.evaluate("cell => { cell.tcMark = 1; }")
    expect(run_time).not_to_have_text(first, timeout=5000)
    assert seconds(run_time.text_content()) > seconds(first)
    assert run_time.evaluate("cell => cell.tcMark") == 1  # counted by the page, not re-rendered
    move(job, "COM")
    expect(status_of(page, job)).to_have_text("Complete")
    final = run_time.text_content()
    assert final.startswith("1 day, 0:0")
    assert row(page, job).locator(".tc-elapsed").count() == 0
    page.wait_for_timeout(1500)
    assert run_time.text_content() == final  # finished: the count has stopped


def test_workflow_graph_updates_live(open_page, user, workflow):
    page = open_page(user, "/jobs/?preset=workflow")
    graph = page.locator(f"#workflow-nodes-row-{workflow.pk} svg")
    node = graph.locator('.tc-node[data-node="join"]')
    expect(node).to_have_class("tc-node tc-node-pending")
    expect(graph.locator(".tc-node")).to_have_count(4)
    expect(graph.locator(".tc-edge")).to_have_count(4)
    expect(graph.locator('.tc-node[data-node="b<script>"] text')).to_have_text("b<script>")
    CondorWorkflowNode.objects.filter(pk=workflow.nodes_by_name["join"].pk).update(
        cached_node_status="Running")
    expect(node).to_have_class("tc-node tc-node-running")
    x_prep = graph.locator('.tc-node[data-node="prep"]').bounding_box()["x"]
    x_join = node.bounding_box()["x"]
    assert x_join > x_prep  # drawn by dependency level, left to right


def test_paging_sorting_and_search(open_page, user, make_job):
    for name in ("delta", "alpha", "echo", "bravo", "charlie"):
        make_job(name)
    page = open_page(user, "/jobs/?preset=paged")
    names = page.locator("tr.job-row .name-field")
    expect(names).to_have_text(["delta", "alpha", "echo"])
    page.get_by_role("button", name="Next").click()
    expect(names).to_have_text(["bravo", "charlie"])
    page.get_by_role("button", name="Name").click()
    expect(names).to_have_text(["alpha", "bravo", "charlie"])
    expect(page.locator("th.name-col")).to_have_attribute("aria-sort", "ascending")
    page.get_by_role("button", name="Name").click()
    expect(names).to_have_text(["echo", "delta", "charlie"])
    page.get_by_role("searchbox", name="Search jobs").fill("rav")
    expect(names).to_have_text(["bravo"])


def test_an_open_menu_stays_open_and_current_through_a_live_update(open_page, user, make_job):
    job = make_job("watched", status="RUN")
    page = open_page(user, "/jobs/?preset=fast")
    row(page, job).locator("summary").click()
    expect(row(page, job).get_by_role("button", name="Terminate", exact=True)).to_be_enabled()
    move(job, "COM")
    expect(status_of(page, job)).to_have_text("Complete")
    expect(row(page, job).locator("details.tc-actions")).to_have_attribute("open", "")
    expect(row(page, job).get_by_role("button", name="Terminate", exact=True)).to_be_disabled()
    expect(row(page, job).get_by_role("button", name="Delete", exact=True)).to_be_enabled()
