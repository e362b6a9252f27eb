"""Dask jobs in the jobs table, in a real browser, on a real LocalCluster on 127.0.0.1.
No monitor runs: only the table's own polls move the jobs."""

import pytest
from playwright.sync_api import expect

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tethys_compute.models import TethysJob

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.jobs_table.urls"),
              pytest.mark.django_db(transaction=True)]


def test_dask_jobs_move_on_screen_and_terminate_from_the_menu(open_page, user, make_dask_job,
                                                              tmp_path):
    flag = tmp_path / "go"
    finishing = make_dask_job("dask finishing")
    finishing.execute(work.nap_until_file, str(flag), value=7)
    stopped = make_dask_job("dask stopped")
    stopped.execute(work.nap_until_file, str(tmp_path / "never"))
    page = open_page(user, "/jobs/?preset=all&refresh=300")
    row = page.locator(f"#jobs-table-row-{finishing.pk}")
    expect(row.locator(".tc-status-text")).to_have_text("Running")
    row.locator("summary").click()
    expect(row.get_by_role("button", name="Pause", exact=True)).to_be_disabled()
    expect(row.get_by_role("button", name="Terminate", exact=True)).to_be_enabled()
    page.keyboard.press("Escape")
    flag.write_text("go")  # the task returns; only the table's polls move the job
    expect(row.locator(".tc-status-text")).to_have_text("Complete", timeout=30000)
    assert TethysJob.objects.get_subclass(pk=finishing.pk).result == 7
    other = page.locator(f"#jobs-table-row-{stopped.pk}")
    other.locator("summary").click()
    other.get_by_role("button", name="Terminate", exact=True).click()
    page.locator("dialog.tc-confirm-dialog").get_by_role("button", name="Terminate").click()
    expect(other.locator(".tc-status-text")).to_have_text("Aborted", timeout=30000)
    (tmp_path / "never").write_text("")  # a cancelled task's thread still naps: end it


@pytest.mark.slow
def test_failed_dask_tasks_traceback_is_in_its_logs_after_the_scheduler_restarted(
        open_page, user, make_dask_job, dask_processes):
    """Issue 16: a failed Dask task's traceback was kept nowhere; its logs said only
    "unknown to the scheduler" once the scheduler had forgotten the task."""
    from tests.engines.dask.fixtures import wait_until
    from tethys_compute.engines.dask import clients
    from tethys_compute.models import DaskScheduler

    processes = dask_processes()
    processes.start_scheduler()
    processes.start_worker()
    processes.wait_for_workers(1)
    scheduler = DaskScheduler.objects.create(name="pair", host=processes.address, timeout=5)
    job = make_dask_job("diverging model", scheduler=scheduler)
    job.execute(work.fail_deep, "the model diverged")
    wait_until(lambda: job.status == "Error", timeout=60, message="the task to fail")
    processes.stop_scheduler()
    processes.start_scheduler()  # the same address, no memory of the task
    clients.close_all()  # and the web side's clients are new
    page = open_page(user, "/jobs/?preset=all&refresh=300")
    row = page.locator(f"#jobs-table-row-{job.pk}")
    expect(row.locator(".tc-status-text")).to_have_text("Error")
    row.locator("summary").click()
    row.get_by_role("button", name="View Logs", exact=True).click()
    dialog = page.locator("dialog.tc-logs-dialog")
    content = dialog.locator(".tc-log-content")
    expect(content).to_contain_text("ValueError: the model diverged")
    expect(content).to_contain_text("Traceback (most recent call last)")
    expect(content).to_contain_text("in _deep_inner")
    expect(content).not_to_contain_text("unknown to the scheduler")
    dialog.get_by_role("button", name="stdout", exact=True).click()
    expect(content).to_have_text("about to fail")
