"""New and deleted jobs in an open table built from a query, in Chromium (issue 16
item 1): they appear and go within one refresh interval, in the same single poll, with
paging and sorting on, without a reload."""

import json
import time

import pytest
from playwright.sync_api import expect

from tethys_compute.models import BasicJob

pytestmark = [pytest.mark.browser, pytest.mark.urls("tests.jobs_table.urls"),
              pytest.mark.django_db(transaction=True)]

INTERVAL_MS = 1000


def watch(page):
    """Requests to the table's endpoints, as ``(monotonic seconds, url, body)``."""
    seen = []
    page.on("request", lambda r: seen.append((time.monotonic(), r.url, r.post_data))
            if "/jobs-table/" in r.url else None)
    return seen


def create_in_other_tab(page, name):
    """What another tab of the app does: POST to the app's "new job" view."""
    return page.evaluate("""async (name) => {
        const token = document.querySelector('[data-tc-jobs-table]').dataset.csrfToken;
        const response = await fetch('/jobs/new/', {method: 'POST',
            headers: {'X-CSRFToken': token, 'Content-Type': 'application/x-www-form-urlencoded'},
            body: new URLSearchParams({name})});
        return (await response.json()).id;
    }""", name)


def appeared_within_one_interval(seen, created_at, shown_at):
    """The job showed up after at most one interval plus the poll's own time, brought by
    a poll (no other request to the table's endpoints meanwhile)."""
    between = [url for at, url, _ in seen if created_at <= at <= shown_at]
    assert between and all("/jobs-table/poll/" in url for url in between), between
    assert len(between) <= 2, between  # the poll in flight when it was made, then one
    assert shown_at - created_at < 2 * INTERVAL_MS / 1000 + 3  # slack: a loaded machine


def test_a_job_created_in_another_tab_appears_and_a_deleted_one_goes(open_page, user,
                                                                    make_job, other_user):
    make_job("bravo", status="COM")
    gone = make_job("delta", status="COM")  # nothing unfinished: polls are for new rows
    page = open_page(user, f"/jobs/?refresh={INTERVAL_MS}")
    names = page.locator("tr.job-row .name-field")
    expect(names).to_have_text(["bravo", "delta"])
    other_tab = page.context.new_page()
    other_tab.goto(page.url)
    seen = watch(page)
    page.evaluate("() => { document.querySelector('tr.job-row').__held = true; }")
    make_job("someone else's", owner=other_user)  # never shown
    created_at = time.monotonic()
    create_in_other_tab(other_tab, "echo")
    expect(names).to_have_text(["bravo", "delta", "echo"])
    appeared_within_one_interval(seen, created_at, time.monotonic())
    # The rows it held are kept (not re-rendered): only the new one was sent.
    assert page.evaluate("() => document.querySelector('tr.job-row').__held") is True
    bodies = [json.loads(body) for _, url, body in seen if "/jobs-table/poll/" in url]
    assert all(len(body["view"]["shown"]) in (2, 3) for body in bodies), bodies

    created_at = time.monotonic()
    BasicJob.objects.get(pk=gone.pk).delete()
    expect(names).to_have_text(["bravo", "echo"])
    appeared_within_one_interval(seen, created_at, time.monotonic())
    # One request per interval, each a poll with the view it shows.
    polls = [(at, body) for at, url, body in seen if "/jobs-table/poll/" in url]
    assert all("view" in json.loads(body) for _, body in polls)
    gaps = [b[0] - a[0] for a, b in zip(polls, polls[1:], strict=False)]
    assert gaps and min(gaps) >= INTERVAL_MS / 1000 * 0.9, gaps


def test_new_rows_follow_paging_sorting_and_the_pager(open_page, user, make_job):
    for name in ("delta", "alpha", "echo", "bravo"):
        make_job(name, status="COM")
    page = open_page(user, f"/jobs/?preset=paged&refresh={INTERVAL_MS}")
    names = page.locator("tr.job-row .name-field")
    total = page.locator(".tc-total")
    expect(names).to_have_text(["delta", "alpha", "echo"])
    expect(total).to_have_text("4 jobs")
    page.get_by_role("button", name="Name").click()
    page.get_by_role("button", name="Name").click()  # descending
    expect(names).to_have_text(["echo", "delta", "bravo"])
    seen = watch(page)
    created_at = time.monotonic()
    create_in_other_tab(page, "zulu")
    expect(names).to_have_text(["zulu", "echo", "delta"])
    appeared_within_one_interval(seen, created_at, time.monotonic())
    expect(total).to_have_text("5 jobs")
    expect(page.locator(".tc-page-info")).to_have_text("Page 1 of 2")
    expect(page.locator("th.name-col")).to_have_attribute("aria-sort", "descending")

    page.get_by_role("button", name="Next").click()
    expect(names).to_have_text(["bravo", "alpha"])
    BasicJob.objects.filter(name="zulu").delete()
    expect(names).to_have_text(["alpha"])  # page 2 of the new order
    expect(total).to_have_text("4 jobs")
    make_job("yankee")  # made by another request, on page 1 of this order
    expect(total).to_have_text("5 jobs")
    expect(names).to_have_text(["bravo", "alpha"])
