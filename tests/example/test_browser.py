"""The example app in Chromium (issue 16 item 5), its Dask jobs on a real LocalCluster,
every page under a strict Content Security Policy: the distributions comparison and its
links follow jobs that finish or are deleted without a reload (one request per refresh
interval), "Re-run with next seed" shows its new row at once, and the results page draws
its chart (the screenshot in docs/ comes from here)."""

import os
import shutil
import time
from pathlib import Path

import bootstrap
import pytest
from playwright.sync_api import expect

from tests.engines.dask.fixtures import *  # noqa: F403
from tests.jobs_table.conftest import browser  # noqa: F401
from tests.jobs_table.pages import STRICT_CSP
from tethys_compute.models import DaskJob, SchedulerSetting

pytestmark = [pytest.mark.browser, pytest.mark.urls("example.urls"),
              pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 2.0  # seconds: the app's REFRESH_MS

WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture
def jobs():
    from example.nile_flow import jobs

    return jobs


@pytest.fixture
def assigned(dask_scheduler, jobs):
    from example.nile_flow.app import NileFlow

    NileFlow.sync_scheduler_settings()
    SchedulerSetting.objects.filter(app_package="nile_flow", name="dask_primary").update(
        scheduler_service=dask_scheduler)
    return dask_scheduler


@pytest.fixture
def app_page(browser, live_server, settings, user):  # noqa: F811
    """``app_page(path, clock=False)``: the example's page in Chromium, logged in as
    ``user``, with the app's static files and Bootstrap served (as ``make demo`` serves
    them) and every document under a strict CSP; ``page.requests`` lists ``(monotonic
    time, url)`` of the requests it made. JavaScript errors fail the test."""
    from django.test import Client

    settings.STATICFILES_DIRS = [ROOT / "example" / "nile_flow" / "static",
                                 Path(bootstrap.__file__).parent / "static"]
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    contexts, errors = [], []

    def strict(route):
        if route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch()
        route.fulfill(response=response,
                      headers={**response.headers, "content-security-policy": STRICT_CSP})

    def open_(path="/", clock=False):
        context = browser.new_context(timezone_id="UTC", locale="en-US",
                                      viewport={"width": 1280, "height": 900})
        contexts.append(context)
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session,
                              "url": live_server.url}])
        context.route("**/*", strict)
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.on("pageerror", lambda error: errors.append(error))
        if clock:
            page.clock.install()
        requests = []
        page.on("request", lambda r: requests.append((time.monotonic(), r.url)))
        page.requests = requests
        page.goto(live_server.url + path)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, errors


def no_violations(page):
    assert page.evaluate("() => window.__violations") == []


def wait_finished(pk, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = DaskJob.objects.get(pk=pk)
        job.update_status()
        if job.is_terminal and not job.post_processing_incomplete:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {pk} still {job.cached_status}")


def test_the_comparison_follows_finishing_and_deleted_jobs_live(app_page, assigned, user,
                                                                jobs):
    page = app_page("/")
    comparison = page.locator("#nf-comparison")
    expect(page.locator("tbody.tc-rows")).to_be_visible()
    expect(comparison.locator("tr[data-job-id]")).to_have_count(0)
    page.evaluate("() => { window.__sameDocument = true; }")
    # Jobs started elsewhere (another tab, the demo's batch): they finish on Dask.
    norm = jobs.submit_flood_frequency(user, distribution="norm", n_boot=50)
    gumbel = jobs.submit_flood_frequency(user, distribution="gumbel_r", n_boot=50)
    rows = comparison.locator("tr[data-job-id]")
    expect(rows).to_have_count(2, timeout=120_000)
    # Ranked by AIC (the normal fits the Nile's annual volumes better), with links.
    expect(rows.locator("td:first-child")).to_have_text(["norm", "gumbel_r"])
    link = comparison.locator(f'a[href="/jobs/{norm.pk}/result/"]')
    expect(link).to_have_text(f"#{norm.pk}")
    # A deleted job leaves the comparison (and its link goes).
    DaskJob.objects.get(pk=norm.pk).delete()
    expect(rows).to_have_count(1, timeout=3 * INTERVAL * 1000 + 5000)
    expect(link).to_have_count(0)
    expect(comparison.locator(f'a[href="/jobs/{gumbel.pk}/result/"]')).to_be_visible()
    assert page.evaluate("() => window.__sameDocument") is True  # no reload
    # One comparison request per interval, never one per job.
    asked = [at for at, url in page.requests if "/comparison/" in url]
    gaps = [b - a for a, b in zip(asked, asked[1:], strict=False)]
    assert gaps and min(gaps) >= INTERVAL * 0.9, gaps
    no_violations(page)


def test_rerun_with_next_seed_shows_its_new_row_at_once(app_page, assigned, user, jobs):
    finished = wait_finished(jobs.submit_flood_frequency(user, n_boot=50, seed=4).pk)
    page = app_page("/", clock=True)
    row = page.locator(f"#jobs-table-row-{finished.pk}")
    expect(row).to_be_visible()
    expect(page.locator("tr.job-row")).to_have_count(1)
    # Time stands still from here: no timer fires, so no scheduled poll can bring the row.
    page.clock.pause_at(time.time() * 1000 + 60_000)
    row.locator("summary").click()
    row.get_by_role("button", name="Re-run with next seed").click()
    rerun = page.locator("tr.job-row").first
    expect(page.locator("tr.job-row")).to_have_count(2)
    new = DaskJob.objects.exclude(pk=finished.pk).get()
    assert new.extended_properties["seed"] == 5
    expect(rerun).to_have_attribute("data-job-id", str(new.pk))
    expect(page.locator(".tc-messages")).to_contain_text("seed 5")
    no_violations(page)


def test_results_page_draws_its_chart_under_a_strict_csp(app_page, assigned, user, jobs,
                                                         tmp_path):
    job = wait_finished(jobs.submit_flood_frequency(user, distribution="gumbel_r",
                                                    n_boot=200, seed=1).pk)
    page = app_page(f"/jobs/{job.pk}/result/")
    chart = page.locator("figure svg.nf-chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box["width"] > 500 and box["height"] > 250  # sized by CSS from its viewBox
    # The chart's parts are drawn (visible, filled or stroked as Matplotlib set them).
    band = page.locator("#nf-band use")
    assert band.evaluate("el => getComputedStyle(el).fill") == "rgb(158, 202, 225)"
    assert float(band.evaluate("el => getComputedStyle(el).fillOpacity")) == pytest.approx(0.7)
    curve = page.locator("#nf-fitted-curve path")
    assert curve.evaluate("el => getComputedStyle(el).stroke") == "rgb(8, 81, 156)"
    assert curve.evaluate("el => getComputedStyle(el).fill") == "none"
    expect(page.locator("#nf-observed use")).to_have_count(100)
    expect(page.locator("table tbody tr")).to_have_count(3)
    # Bootstrap's stylesheet applies (the page is styled as in the demo).
    assert page.evaluate("() => getComputedStyle(document.body).fontFamily") != "Times New Roman"
    no_violations(page)
    page.mouse.move(0, 0)
    shot = tmp_path / "nile_flow_results.png"
    page.locator("main").screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("TETHYS_COMPUTE_UPDATE_DOCS"):
        shutil.copy(shot, ROOT / "docs" / "nile_flow_results.png")
