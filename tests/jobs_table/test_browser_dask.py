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
