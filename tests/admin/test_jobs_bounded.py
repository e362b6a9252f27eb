"""The job changelist's capped count and bounded search (``tethys_compute.bounded``):
past ``COUNT_LIMIT`` the page says "more than N jobs" and pages through the first N; a
search finds the id, the start of a name, and words among the newest ``SEARCH_WINDOW``
jobs of the filtered list."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import is_postgres
from tests.test_bounded import unbounded_steps
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db


CHANGELIST = reverse("admin:tethys_compute_tethysjob_changelist")


@pytest.fixture
def many(user, settings):
    """23 jobs; COUNT_LIMIT 10, SEARCH_WINDOW 5, 4 rows a page."""
    settings.TETHYS_COMPUTE = {"COUNT_LIMIT": 10, "SEARCH_WINDOW": 5}
    jobs = TethysJob.objects.bulk_create(
        [TethysJob(name=f"job {i:02d}", description=f"about run {i}", user=user,
                   label="test_app", _status="RUN" if i % 2 else "COM") for i in range(23)])
    from tethys_compute.admin.jobs import JobAdmin

    original = JobAdmin.list_per_page
    JobAdmin.list_per_page = 4
    yield jobs
    JobAdmin.list_per_page = original


def text(response):
    return re.sub(r"\s+", " ", response.content.decode()).lower()


def test_past_the_limit_the_count_says_more_than(admin_client, many):
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    body = text(response)
    assert "more than 10 jobs" in body
    assert "select all more than 10 jobs" in body
    cl = response.context["cl"]
    assert (cl.result_count, cl.paginator.more, cl.paginator.num_pages) == (10, True, 3)
    assert not cl.can_show_all and "show all" not in body
    assert response.context["selection_note_all"] == "All more than 10 selected"
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"]]
    assert len(counts) == 1 and re.search(r"LIMIT 11\b", counts[0]), counts


def test_pages_reach_the_first_limit_jobs(admin_client, many):
    last = admin_client.get(CHANGELIST + "?p=3")
    assert last.status_code == 200
    assert [job.name for job in last.context["cl"].result_list] == ["job 14", "job 13"]
    # Past them, as past the end of any list: Django's "?e=1" redirect.
    beyond = admin_client.get(CHANGELIST + "?p=4")
    assert beyond.status_code == 302 and beyond.url.endswith("?e=1")
    # No "Show all" of every job: ?all= shows the page.
    shown = admin_client.get(CHANGELIST + "?all=&p=2")
    assert [job.name for job in shown.context["cl"].result_list] == [
        "job 18", "job 17", "job 16", "job 15"]


def test_under_the_limit_the_count_is_exact(admin_client, many):
    response = admin_client.get(CHANGELIST + "?status=COM")  # 12: still capped
    assert "more than 10 jobs" in text(response)
    response = admin_client.get(CHANGELIST + "?q=job 1")  # job 1, 10..19: 11 > 10
    assert "more than 10 jobs" in text(response)
    response = admin_client.get(CHANGELIST + "?q=job 2")  # job 20, 21, 22
    cl = response.context["cl"]
    assert (cl.result_count, cl.paginator.more) == (3, False)
    body = text(response)
    assert "3 jobs" in body and "more than" not in body


def filtered(client, query):
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200, query
    return sorted(job.name for job in response.context["cl"].result_list)


def test_search_finds_id_name_start_and_words_in_the_window(admin_client, many):
    jobs = many
    assert "job 03" in filtered(admin_client, f"?q={jobs[3].pk}")  # (and any "<id>" in the window)
    assert filtered(admin_client, "?q=JOB 07") == ["job 07"]  # old, by its name's start
    # "run 7": in job 07's description, outside the window of the newest 5: not found.
    assert filtered(admin_client, "?q=run 7") == []
    assert filtered(admin_client, "?q=run 21") == ["job 21"]  # in the window
    # Words, as Django's admin search: each in name or description.
    assert filtered(admin_client, "?q=about 22") == ["job 22"]
    # The window is that of the filtered list: the newest 5 active jobs.
    assert filtered(admin_client, "?status=RUN&q=run 1&all=") == ["job 13", "job 15", "job 17",
                                                            "job 19", "job 21"]
    assert filtered(admin_client, "?status=COM&q=run 1") == ["job 14", "job 16", "job 18"]


def test_searched_pages_never_scan_the_jobs_table(admin_client, many):
    """The count and the page of ``?q=`` read the jobs table by id, the name index and
    the window only (EXPLAIN QUERY PLAN: no ``SCAN`` of the table; Django's substring
    search scanned it)."""
    if is_postgres():
        pytest.skip("SQLite's plan; PostgreSQL plans by its statistics")
    for query in ("?q=job 07", "?q=run 21", f"?q={many[3].pk}", "?status=active&q=job 1"):
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(CHANGELIST + query).status_code == 200
        searches = [q["sql"] for q in captured.captured_queries if " LIKE " in q["sql"]]
        assert len(searches) >= 2, query  # the count and the page
        for sql in searches:
            bad, steps = unbounded_steps(sql)
            assert not bad, \
                (query, steps)
