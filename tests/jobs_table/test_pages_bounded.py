"""A paged table's count stops at ``COUNT_LIMIT`` ("more than N jobs", pages through the
first N) and its search is ``tethys_compute.bounded``'s: the id, the start of the name,
any part of name or description among the query's newest ``SEARCH_WINDOW`` jobs."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import is_postgres
from tests.test_bounded import unbounded_steps
from tests.testapp.app import TestApp
from tethys_compute.gizmos import JobsTable

pytestmark = pytest.mark.django_db


OPTIONS = {"enable_data_table": True,
           "data_table_options": {"paging": True, "pageLength": 3, "searching": True}}


def names(html):
    return re.findall(r'data-job-name="([^"]+)"', html)


def rows_page(client, context, **params):
    data = {"config": context["config_token"], "rows": context["rows_token"], **params}
    answer = client.post(reverse("jobs_table_rows"), data)
    assert answer.status_code == 200, answer.content[:300]
    return answer.json()


@pytest.fixture
def table(make_job, settings):
    """Twelve jobs of the app, the oldest first; COUNT_LIMIT 7, SEARCH_WINDOW 4."""
    settings.TETHYS_COMPUTE = {"COUNT_LIMIT": 7, "SEARCH_WINDOW": 4}
    jobs = [make_job(f"run {i:02d}", description=f"sample {chr(97 + i)}") for i in range(12)]
    queryset = TestApp.get_job_manager().list_jobs()  # by id, oldest first
    return jobs, JobsTable(jobs=queryset, column_fields=["id", "name"], **OPTIONS).get_context()


def test_the_count_stops_at_the_limit(alice_client, table):
    jobs, context = table
    assert (context["page"]["total"], context["page"]["more"], context["page"]["pages"]) == \
        (7, True, 3)
    first = rows_page(alice_client, context, page=1)
    assert (first["total"], first["more"], first["pages"]) == (7, True, 3)
    assert "more than 7 jobs" in first["pager"] and "Page 1 of 3+" in first["pager"]
    # The last page reachable holds the 7th job; a later page number is clamped to it.
    last = rows_page(alice_client, context, page=99)
    assert last["page"] == 3 and names(last["html"]) == ["run 06"]
    # Under the limit the count is exact.
    searched = rows_page(alice_client, context, q="run 1")
    assert (searched["total"], searched["more"]) == (2, False)
    assert "2 jobs" in searched["pager"] and "more than" not in searched["pager"]


def test_the_poll_sends_the_capped_count(alice_client, table):
    jobs, context = table
    view = {"page": 2, "sort": None, "dir": "asc", "q": "", "digest": "stale"}
    body = {"config": context["config_token"], "rows": {}, "view": view}
    answer = alice_client.post(reverse("jobs_table_poll"), data=json.dumps(body),
                               content_type="application/json").json()
    assert (answer["page"]["total"], answer["page"]["more"]) == (7, True)
    assert names(answer["page"]["html"]) == ["run 03", "run 04", "run 05"]


def test_search_finds_id_name_start_and_any_part_in_the_window(alice_client, table):
    jobs, context = table

    def found(text):
        return names(rows_page(alice_client, context, q=text)["html"])

    assert "run 02" in found(str(jobs[2].pk))  # (and any job of the window showing the id)
    assert found("RUN 00") == ["run 00"]  # the oldest job, by its name's start
    assert found("sample a") == []  # its description: outside the window of the newest 4
    assert found("sample k") == ["run 10"]  # inside the window
    assert found("un 1") == ["run 10", "run 11"]  # any part of the name, in the window


def test_queries_do_not_grow_with_the_jobs(alice_client, make_job, settings):
    settings.TETHYS_COMPUTE = {"COUNT_LIMIT": 20, "SEARCH_WINDOW": 10}
    counts = []
    for total in (5, 60):
        while len(TestApp.get_job_manager().list_jobs()) < total:
            make_job(f"run {len(TestApp.get_job_manager().list_jobs())}")
        context = JobsTable(jobs=TestApp.get_job_manager().list_jobs(),
                            column_fields=["id", "name"], **OPTIONS).get_context()
        for params in ({"page": 2}, {"q": "run 1"}, {"q": "run"}, {"q": "3", "sort": 1}):
            with CaptureQueriesContext(connection) as captured:
                rows_page(alice_client, context, **params)
            counts.append((tuple(params), len(captured)))
    assert counts[:4] == counts[4:], counts


def test_a_search_never_scans_the_jobs_table(alice_client, table):
    if is_postgres():
        pytest.skip("SQLite's plan; PostgreSQL plans by its statistics")
    jobs, context = table
    for text in ("run 03", "sample k", str(jobs[1].pk)):
        with CaptureQueriesContext(connection) as captured:
            rows_page(alice_client, context, q=text)
        searches = [q["sql"] for q in captured.captured_queries if " LIKE " in q["sql"]]
        assert len(searches) >= 2, text  # the count and the page's ids
        for sql in searches:
            bad, steps = unbounded_steps(sql)
            assert not bad, \
                (text, steps)
