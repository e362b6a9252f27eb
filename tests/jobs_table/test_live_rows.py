"""A jobs table built from a query pages, sorts and searches by that query (not by a
list of ids), and its poll shows new matching jobs and drops deleted ones (issue 16
item 1, issue 17's paged table over a whole app)."""

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.testapp.app import TestApp
from tethys_compute.gizmos import JobsTable
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db

PAGED = {"enable_data_table": True,
         "data_table_options": {"paging": True, "pageLength": 3, "searching": True}}


def manager():
    return TestApp.get_job_manager()


def bulk_jobs(template, count, prefix="bulk", other_label="other_app"):
    """Insert ``count`` copies of ``template``'s row (base TethysJob rows) named
    ``"<prefix> <i>"``, in one statement (a recursive CTE: SQLite and PostgreSQL). About
    a third, picked pseudo-randomly, belong to ``other_label`` instead, so the ids of
    the template's app are not one run of consecutive numbers (as in a real database)."""
    table = TethysJob._meta.db_table
    quote = connection.ops.quote_name
    columns = [f.column for f in TethysJob._meta.concrete_fields if f.column != "id"]
    special = {
        "name": f"'{prefix} ' || n.i",
        "label": f"CASE WHEN (n.i * 2654435761) %% 1000003 %% 3 = 0 THEN '{other_label}' "
                 f"ELSE {quote(table)}.{quote('label')} END",
    }
    values = ", ".join(special.get(c, f"{quote(table)}.{quote(c)}") for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"SELECT {values} FROM {quote(table)}, n WHERE {quote(table)}.id = %s",
            [count, template.pk],
        )


def names(html):
    return re.findall(r'data-job-name="([^"]*)"', html)


def view(context, **changes):
    return {"page": 1, "sort": None, "dir": "asc", "q": "", "digest": context["digest"],
            **changes}


def poll(client, context, rows=None, **view_changes):
    body = {"config": context["config_token"], "rows": rows or {},
            "view": view(context, **view_changes)}
    return client.post(reverse("jobs_table_poll"), data=json.dumps(body),
                       content_type="application/json")


def rows_page(client, context, **params):
    data = {"config": context["config_token"], "rows": context["rows_token"], **params}
    return client.post(reverse("jobs_table_rows"), data)


# --- a table over a query carries the query, not its ids ------------------------------------
def standard_sqlite_limits():
    """SQLite as standard builds ship it: at most 32,766 variables in a statement
    (Debian's Python raises its own limit; a table must not depend on that)."""
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)


def test_paged_table_over_100k_jobs_pages_sorts_searches_with_constant_queries(
        alice_client, make_job):
    standard_sqlite_limits()
    template = make_job("template", status="COM")

    def exercise():
        queries = []
        with CaptureQueriesContext(connection) as render:
            table = JobsTable(jobs=manager().list_jobs(), column_fields=["id", "name"], **PAGED)
            context = table.get_context()
        queries.append(len(render))
        sizes = (len(context["config_token"]), len(context["rows_token"]))
        for params in ({"page": 2}, {"page": 99999999, "sort": 1, "dir": "desc"},
                       {"page": 1, "sort": 0, "dir": "asc", "q": "bulk 1"}):
            with CaptureQueriesContext(connection) as request:
                answer = rows_page(alice_client, context, **params)
            assert answer.status_code == 200, answer.content[:300]
            assert 1 <= len(names(answer.json()["html"])) <= 3
            queries.append(len(request))
        with CaptureQueriesContext(connection) as request:
            answer = poll(alice_client, context, page=2, sort=1, dir="desc", q="bulk")
        assert answer.status_code == 200, answer.content[:300]
        assert len(names(answer.json()["page"]["html"])) == 3
        assert all(name.startswith(("bulk", "more")) for name in names(answer.json()["page"]["html"]))
        queries.append(len(request))
        return queries, sizes, context

    bulk_jobs(template, 45)
    small_queries, small_sizes, _ = exercise()
    bulk_jobs(template, 150_000 - 45, prefix="more")
    assert manager().list_jobs().count() > 100_000
    big_queries, big_sizes, context = exercise()
    assert big_queries == small_queries
    assert big_sizes == small_sizes and sum(big_sizes) < 4000
    # Counted up to COUNT_LIMIT (tethys_compute.bounded): "more than 10,000 jobs", and
    # the pages reach the first 10,000 (the last page asked for is clamped to them).
    assert (context["page"]["total"], context["page"]["more"]) == (10_000, True)
    last = rows_page(alice_client, context, page=99999999).json()
    assert last["page"] == last["pages"] == -(-last["total"] // 3) == 3334 and last["more"]
    assert "more than 10,000 jobs" in last["pager"]


def test_fixed_list_keeps_its_ids_and_its_rows(alice_client, make_job):
    jobs = [make_job(f"job {i}") for i in range(4)]
    table = JobsTable(jobs=list(manager().list_jobs()), column_fields=["name"], **PAGED)
    context = table.get_context()
    assert context["rows_token"] and not context["live"]
    make_job("later")
    answer = poll(alice_client, context, rows={str(jobs[0].pk): ""}).json()
    assert "page" not in answer
    second = rows_page(alice_client, context, page=2).json()
    assert names(second["html"]) == ["job 3"]


def test_unsupported_querysets_fall_back_to_a_fixed_list(make_job, user):
    make_job("one")
    table = JobsTable(jobs=TethysJob.objects.filter(user__username=user.username),
                      column_fields=["name"], **PAGED)
    context = table.get_context()
    assert context["rows_token"] and not context["live"]


# --- new rows in the poll ---------------------------------------------------------------------
def test_new_matching_jobs_appear_in_order_and_page_and_deleted_ones_go(
        alice_client, make_job, other_user):
    first = make_job("bravo")
    make_job("delta")
    table = JobsTable(jobs=manager().list_jobs(user=first.user), column_fields=["name"], **PAGED)
    context = table.get_context()
    assert context["live"] and not context["rows_token"]
    quiet = poll(alice_client, context).json()
    assert "page" not in quiet

    make_job("not hers", owner=other_user)
    make_job("other app", label="other_app")
    assert "page" not in poll(alice_client, context).json()

    make_job("alpha")
    answer = poll(alice_client, context).json()["page"]
    assert names(answer["html"]) == ["bravo", "delta", "alpha"]  # creation order
    assert answer["total"] == 3 and answer["pages"] == 1

    context["digest"] = answer["digest"]
    assert "page" not in poll(alice_client, context).json()
    make_job("charlie")
    answer = poll(alice_client, context).json()["page"]
    assert names(answer["html"]) == ["bravo", "delta", "alpha"]
    assert answer["total"] == 4 and "Page 1 of 2" in answer["pager"]
    by_name = poll(alice_client, context, sort=0, dir="desc").json()["page"]
    assert names(by_name["html"]) == ["delta", "charlie", "bravo"]
    second = poll(alice_client, context, page=2).json()["page"]
    assert names(second["html"]) == ["charlie"] and second["page"] == 2

    context["digest"] = answer["digest"]
    BasicJob.objects.get(pk=first.pk).delete()
    answer = poll(alice_client, context).json()["page"]
    assert names(answer["html"]) == ["delta", "alpha", "charlie"] and answer["total"] == 3


def test_new_rows_follow_the_querys_filters_and_groups(client, make_job, user, other_user):
    group = Group.objects.create(name="lab")
    user.groups.add(group)
    shared = make_job("shared", owner=other_user, extended_properties={"project": 1})
    shared.groups.add(group)
    table = JobsTable(jobs=manager().list_jobs(groups=[group],
                                               filters={"extended_properties__project": 1}),
                      column_fields=["name"], **PAGED)
    context = table.get_context()
    assert context["live"]
    client.force_login(user)
    late = make_job("late", owner=other_user, extended_properties={"project": 1})
    wrong_project = make_job("project 2", owner=other_user, extended_properties={"project": 2})
    wrong_project.groups.add(group)
    make_job("not shared", owner=other_user, extended_properties={"project": 1})
    assert "page" not in poll(client, context).json()
    late.groups.add(group)
    answer = poll(client, context).json()["page"]
    assert names(answer["html"]) == ["shared", "late"]


def test_poll_without_a_view_or_of_a_fixed_table_is_unchanged(alice_client, make_job):
    job = make_job("running", status="RUN")
    table = JobsTable(jobs=manager().list_jobs(), column_fields=["name"])
    context = table.get_context()
    body = {"config": context["config_token"], "rows": {str(job.pk): ""}}
    answer = alice_client.post(reverse("jobs_table_poll"), data=json.dumps(body),
                               content_type="application/json").json()
    assert list(answer["rows"]) == [str(job.pk)] and "page" not in answer


def test_unpaged_table_over_a_query_gets_its_new_rows(alice_client, make_job):
    make_job("one")
    table = JobsTable(jobs=manager().list_jobs(), column_fields=["name"])
    context = table.get_context()
    assert context["live"]
    make_job("two")
    answer = poll(alice_client, context).json()["page"]
    assert names(answer["html"]) == ["one", "two"] and answer["total"] == 2


# --- security -----------------------------------------------------------------------------
def test_the_query_never_widens_access(client, make_job, user, other_user):
    """Another user with the token sees only their own jobs; a job outside the query is
    unreachable even to its owner."""
    mine = make_job("mine", extended_properties={"project": 1})
    outside = make_job("outside", extended_properties={"project": 2})
    make_job("theirs", owner=other_user, extended_properties={"project": 1})
    table = JobsTable(jobs=manager().list_jobs(filters={"extended_properties__project": 1}),
                      column_fields=["name"], **PAGED)
    context = table.get_context()
    client.force_login(user)
    seen = rows_page(client, context).json()
    assert names(seen["html"]) == ["mine"] and seen["total"] == 1
    gone = poll(client, context, rows={str(outside.pk): "", str(mine.pk): ""}).json()
    assert gone["gone"] == [outside.pk]
    action = client.post(reverse("jobs_table_action"), {
        "config": context["config_token"], "job_id": outside.pk, "action": "delete"})
    assert action.status_code == 404
    client.force_login(other_user)
    assert names(rows_page(client, context).json()["html"]) == ["theirs"]
    theirs_page = poll(client, context).json()["page"]
    assert names(theirs_page["html"]) == ["theirs"] and theirs_page["total"] == 1


def test_forged_or_altered_configuration_is_refused(alice_client, make_job):
    make_job("one")
    context = JobsTable(jobs=manager().list_jobs(), column_fields=["name"], **PAGED).get_context()
    token = context["config_token"]
    altered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (altered, "", "x:y:z"):
        answer = poll(alice_client, {**context, "config_token": bad})
        assert answer.status_code == 400
        assert rows_page(alice_client, {**context, "config_token": bad}).status_code == 400


def test_with_the_rows_shown_only_the_new_rows_are_sent_with_the_order(alice_client, make_job):
    jobs = [make_job(name) for name in ("bravo", "delta", "echo")]
    table = JobsTable(jobs=manager().list_jobs(), column_fields=["name"], **PAGED)
    context = table.get_context()
    shown = [str(job.pk) for job in jobs]
    BasicJob.objects.get(pk=jobs[1].pk).delete()
    new = make_job("alpha")
    with CaptureQueriesContext(connection) as queries:
        answer = poll(alice_client, context, shown=shown).json()["page"]
    assert answer["order"] == [jobs[0].pk, jobs[2].pk, new.pk]
    assert names(answer["html"]) == ["alpha"] and answer["total"] == 3
    # The rows it holds are not loaded again: the only job loaded is the new one.
    loads = [q["sql"] for q in queries if "basicjob" in q["sql"].lower()]
    assert len(loads) == 1, loads
    gone = poll(alice_client, {**context, "digest": answer["digest"]},
                shown=[str(pk) for pk in answer["order"]])
    assert "page" not in gone.json()
    BasicJob.objects.all().delete()
    empty = poll(alice_client, {**context, "digest": answer["digest"]},
                 shown=[str(pk) for pk in answer["order"]]).json()["page"]
    assert empty["order"] == [] and empty["html"] == "" and empty["total"] == 0
    bad = poll(alice_client, context, shown=["x"])
    assert bad.status_code == 400


@pytest.mark.parametrize("bad_view", [
    "page 1", [1], {"page": "x"}, {"sort": "name"}, {"page": 10**30, "sort": -5},
    {"sort": 10**30, "dir": None, "q": ["x"]}, {"shown": 5}, {"shown": [None]},
    {"shown": "12"}, {"digest": {"a": 1}, "q": "\x00"},
    {"page": float("inf")}, {"page": float("-inf"), "sort": float("nan")}, {"sort": float("inf")},
])
def test_a_malformed_view_is_a_clear_400_or_ignored_never_a_500(alice_client, make_job, bad_view):
    make_job("one")
    context = JobsTable(jobs=manager().list_jobs(), column_fields=["name"], **PAGED).get_context()
    body = {"config": context["config_token"], "rows": {}, "view": bad_view}
    # json.dumps writes Infinity and NaN, as a browser's or an attacker's body may hold them
    answer = alice_client.post(reverse("jobs_table_poll"), data=json.dumps(body),
                               content_type="application/json")
    assert answer.status_code in (200, 400), answer.content[:300]
    assert answer.json()["success"] is (answer.status_code == 200)
