"""Server-side paging, sorting and search (``enable_data_table``)."""

import re

import pytest
from django.urls import reverse

from tethys_compute.gizmos import JobsTable

pytestmark = pytest.mark.django_db

OPTIONS = {"enable_data_table": True,
           "data_table_options": {"paging": True, "pageLength": 3, "searching": True}}


@pytest.fixture
def paged(make_job, other_user):
    names = ["delta", "alpha", "echo", "bravo", "charlie", "foxtrot", "golf"]
    jobs = [make_job(name, description=f"about {name}") for name in names]
    jobs.append(make_job("hotel", owner=other_user))  # not visible to alice
    table = JobsTable(jobs=jobs, column_fields=["name", "run_time"], **OPTIONS)
    context = table.get_context()
    return jobs, context


def page(client, context, **params):
    data = {"config": context["config_token"], "rows": context["rows_token"], **params}
    return client.post(reverse("jobs_table_rows"), data)


def names(html):
    return re.findall(r'data-job-name="([^"]+)"', html)


def test_first_page_is_rendered_with_the_table(paged):
    jobs, context = paged
    assert [row["name"] for row in context["rows"]] == ["delta", "alpha", "echo"]
    assert context["page"]["pages"] == 3 and context["page"]["total"] == 8
    assert [c["sortable"] for c in context["columns"]] == [True, False]


def test_pages_in_default_order_only_visible_jobs(alice_client, paged):
    jobs, context = paged
    second = page(alice_client, context, page=2).json()
    assert names(second["html"]) == ["bravo", "charlie", "foxtrot"]
    assert (second["page"], second["pages"], second["total"]) == (2, 3, 7)
    last = page(alice_client, context, page=99).json()
    assert names(last["html"]) == ["golf"] and last["page"] == 3
    assert "Page 3 of 3" in last["pager"]


def test_sorting_by_a_column_in_the_database(alice_client, paged):
    jobs, context = paged
    asc = page(alice_client, context, page=1, sort=0, dir="asc").json()
    assert names(asc["html"]) == ["alpha", "bravo", "charlie"]
    desc = page(alice_client, context, page=1, sort=0, dir="desc").json()
    assert names(desc["html"]) == ["golf", "foxtrot", "echo"]
    unsortable = page(alice_client, context, page=1, sort=1).json()  # run_time: default order
    assert names(unsortable["html"]) == ["delta", "alpha", "echo"]


def test_search_on_name_and_description(alice_client, paged):
    jobs, context = paged
    found = page(alice_client, context, q="ABOUT CH").json()
    assert names(found["html"]) == ["charlie"] and found["total"] == 1
    none = page(alice_client, context, q="zzz").json()
    assert "No Jobs" in none["html"] and none["total"] == 0


def test_bad_requests(alice_client, paged):
    from django.test import Client

    jobs, context = paged
    assert page(alice_client, context, page="x").status_code == 400
    bad = {"config": context["config_token"], "rows": "forged"}
    assert alice_client.post(reverse("jobs_table_rows"), bad).status_code == 400
    assert page(Client(), context).status_code == 401


def test_a_paged_queryset_loads_only_the_first_page(alice_client, make_job, user, rf_user,
                                                     django_assert_max_num_queries):
    from django.template import RequestContext, Template

    from tethys_compute.models import TethysJob

    jobs = [make_job(f"job {i:02d}") for i in range(25)]
    queryset = TethysJob.objects.filter(user=user)
    with django_assert_max_num_queries(2):
        table = JobsTable(jobs=queryset, column_fields=["name", "user"], reverse_sort=True,
                          **OPTIONS)
    with django_assert_max_num_queries(1):  # the users of the first page's rows
        context = table.get_context()
    assert [row["name"] for row in context["rows"]] == ["job 24", "job 23", "job 22"]
    assert context["page"]["pages"] == 9 and context["page"]["total"] == 25
    assert table.table_config().labels == ["test_app"]
    second = page(alice_client, context, page=2).json()
    assert names(second["html"]) == ["job 21", "job 20", "job 19"]
    out = Template("{% load tethys_compute %}{% jobs_table t %}").render(
        RequestContext(rf_user, {"t": table}))
    assert out.count('class="job-row"') == 3 and len(jobs) == 25
