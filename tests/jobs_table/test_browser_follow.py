"""Following a running job's log in a real browser (Chromium, Playwright), under the strict
Content Security Policy page: the logs dialog of a running job shows new lines as they are
written, each refresh carrying only the new bytes (the answers are counted), scrolls to
them, stops asking when the follow switch is turned off, catches up from where it stopped
when it is turned on again, and stops by itself when the job finishes."""

import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.htcondor_standin.scenarios import condor_job

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.jobs_table.urls"),
              pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def model_line(step):
    return (f"2026-12-07 14:{step // 60:02d}:{step % 60:02d}  step {step:4d} of 2000  "
            f"discharge {120 + (step * 37) % 90:6.1f} m3/s  mass balance ok\n")


OLD = "".join(model_line(step) for step in range(300))  # ~24 kB already written


class Wire:
    """The answers of the follow endpoint and of the table's poll, as the page got them."""

    def __init__(self, page):
        self.follows, self.polls, self.asked = [], [], []
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request):
        if "/logs/follow/" in request.url:
            self.asked.append(request.url)

    def _response(self, response):
        if "/logs/follow/" in response.url:
            try:
                self.follows.append(response.body())
            except PlaywrightError:  # an answer still arriving as the page closes
                pass
        elif "/jobs-table/poll/" in response.url:
            self.polls.append(1)


def wait_until(page, condition, seconds=15):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def test_a_running_jobs_log_grows_on_screen_and_the_switch_stops_it(open_page, user, settings,
                                                                     tmp_path):
    # The table's poll must not ask the (absent) HTCondor pool about the job meanwhile.
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 3600}
    job = condor_job(user, "Hydrology model, 2026 run", attributes={"output": "model.out",
                                                                     "error": "model.err"})
    os.makedirs(job.initial_dir, exist_ok=True)
    out = Path(job.initial_dir) / "model.out"
    out.write_text(OLD)
    (Path(job.initial_dir) / "model.err").write_text("")
    job._write_status("RUN")

    def write(text):
        with open(out, "a") as handle:
            handle.write(text)

    page = open_page(user, "/jobs-csp/?refresh=400")
    page.context.add_init_script(WATCH)
    page.reload()
    wire = Wire(page)
    page.locator(f"#jobs-table-row-{job.pk} summary").click()
    page.locator(f"#jobs-table-row-{job.pk}").get_by_role("button", name="View Logs",
                                                          exact=True).click()
    dialog = page.locator("dialog.tc-logs-dialog")
    dialog.get_by_role("button", name="output", exact=True).click()
    content = dialog.locator(".tc-log-content")
    expect(content).to_contain_text("step  299 of 2000")
    switch = dialog.get_by_role("switch", name="Follow")
    expect(switch).to_be_checked()
    expect(switch).to_be_enabled()

    for step in range(300, 306):  # written one at a time, each shown as it comes
        write(model_line(step))
        expect(content).to_contain_text(f"step {step:4d} of 2000")
    assert content.inner_text().count("step  300 of 2000") == 1  # appended once, not again
    assert len(wire.follows) >= 6
    # No answer carried what the page already had: each is a few hundred bytes, not 24 kB.
    assert all(b"step    0 of" not in body and len(body) < 1500 for body in wire.follows)
    assert sum(len(body) for body in wire.follows) < len(OLD) / 2 or len(wire.follows) > 40
    # One request per refresh for the dialog, whatever the number of logs it holds.
    dialog.get_by_role("button", name="error", exact=True).click()
    dialog.get_by_role("button", name="output", exact=True).click()
    expect(content).to_contain_text("step  305 of 2000")
    asked, started = len(wire.asked), time.monotonic()
    wait_until(page, lambda: len(wire.asked) >= asked + 3)
    # Each request waits for the previous answer, then a whole interval (0.4 s).
    assert len(wire.asked) - asked <= (time.monotonic() - started) / 0.4 + 1
    held = json.loads(parse_qs(urlsplit(wire.asked[-1]).query)["logs"][0])
    assert sorted(entry["path"][0] for entry in held) == ["error", "log", "output"]
    # Scrolled to the newest line.
    assert content.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 5

    # Off: no more requests while more is written (three table polls go by), nothing new.
    switch.uncheck()
    polls = len(wire.polls)  # a request sent before is reported before a later poll
    wait_until(page, lambda: len(wire.polls) >= polls + 1)
    asked = len(wire.asked)
    write(model_line(306))
    polls = len(wire.polls)
    wait_until(page, lambda: len(wire.polls) >= polls + 3)
    assert len(wire.asked) == asked
    expect(content).not_to_contain_text("step  306 of 2000")

    # On again: catches up from its offset (only the new line comes).
    switch.check()
    expect(content).to_contain_text("step  306 of 2000")
    # (the page may draw an answer before Playwright hands it to us: wait for it)
    wait_until(page, lambda: any(b"step  306" in body for body in wire.follows))
    assert sum(body.count(b"step  306") for body in wire.follows) == 1
    assert all(len(body) < 1500 for body in wire.follows)

    shot = tmp_path / "jobs_table_follow.png"
    dialog.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("TETHYS_COMPUTE_UPDATE_DOCS"):
        shutil.copy(shot, ROOT / "docs" / "jobs_table_follow.png")

    # The job finishes: its last lines come, then the dialog stops following by itself.
    write("model finished: 2000 steps\n")
    job._write_status("COM")
    expect(content).to_contain_text("model finished: 2000 steps")
    expect(switch).not_to_be_checked()
    expect(switch).to_be_disabled()
    polls = len(wire.polls)
    wait_until(page, lambda: len(wire.polls) >= polls + 1)
    asked = len(wire.asked)
    polls = len(wire.polls)
    wait_until(page, lambda: len(wire.polls) >= polls + 2)
    assert len(wire.asked) == asked
    assert page.evaluate("() => window.__violations") == []


def test_a_burst_over_the_limit_shows_a_gap_and_a_rotated_log_restarts(open_page, user,
                                                                         settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 3600,
                               "JOBS_TABLE_LOG_MAX_BYTES": 2000}
    job = condor_job(user, "bursty", attributes={"output": "model.out"})
    os.makedirs(job.initial_dir, exist_ok=True)
    out = Path(job.initial_dir) / "model.out"
    out.write_text("first line\n")
    job._write_status("RUN")
    page = open_page(user, "/jobs/?refresh=400")
    wire = Wire(page)
    page.locator(f"#jobs-table-row-{job.pk} summary").click()
    page.locator(f"#jobs-table-row-{job.pk}").get_by_role("button", name="View Logs",
                                                          exact=True).click()
    dialog = page.locator("dialog.tc-logs-dialog")
    dialog.get_by_role("button", name="output", exact=True).click()
    content = dialog.locator(".tc-log-content")
    expect(content).to_have_text("first line\n")

    burst = "".join(model_line(step) for step in range(200))  # 16 kB in one refresh
    with open(out, "a") as handle:
        handle.write(burst)
    gap = content.locator(".tc-log-gap")
    expect(gap).to_contain_text("written since the last refresh are not shown")
    expect(content).to_contain_text("step  199 of 2000")
    assert content.inner_text().startswith("first line\n")  # what was shown stays
    assert "step    0 of" not in content.inner_text()  # the middle never came
    wait_until(page, lambda: any(b"step  199" in body for body in wire.follows))
    assert all(len(body) < 2600 for body in wire.follows)  # the limit, plus JSON

    out.write_text("after rotation\n")  # shorter than the offset held: read from its start
    expect(content).to_contain_text("after rotation")
    expect(content.locator(".tc-log-gap")).to_have_text(
        "The log was truncated or replaced: it is shown again from its start.")
    assert "step  199" not in content.inner_text()
