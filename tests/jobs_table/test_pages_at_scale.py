"""A table's pages at scale (issue 17, 1,000,000 jobs): the last pages are read from the
end, a table of the viewer's own jobs reads the (label, user) index, and a whole app's
table sorted by name or status reads an index in that order instead of sorting every job
of the app."""

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.jobs_table.test_live_rows import PAGED, bulk_jobs, manager, names, rows_page
from tethys_compute.gizmos import JobsTable

pytestmark = pytest.mark.django_db


def id_queries(captured):
    """The statements that read a page's ids."""
    return [q["sql"] for q in captured.captured_queries
            if re.match(r'SELECT "tethys_compute_tethysjob"."id" AS "pk" FROM', q["sql"])
            and "LIMIT" in q["sql"]]


def sqlite_plan(sql):
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return [row[-1] for row in cursor.fetchall()]


@pytest.fixture
def many(make_job):
    template = make_job("template", status="COM")
    bulk_jobs(template, 600)
    return template


def table(jobs, **options):
    return JobsTable(jobs=jobs, column_fields=["id", "name", "creation_time", "status"],
                     **{**PAGED, **options}).get_context()


def test_last_pages_are_read_from_the_end(alice_client, many):
    context = table(manager().list_jobs())
    total = context["page"]["total"]
    everything = list(manager().list_jobs().order_by("id").values_list("name", flat=True))
    by_name = list(manager().list_jobs().order_by("-name", "-id").values_list("name", flat=True))
    for params, expected in (({"page": 99999999}, everything[-(total % 3 or 3):]),
                             ({"page": context["page"]["pages"] - 2}, None),
                             ({"page": 99999999, "sort": 1, "dir": "desc"},
                              by_name[-(total % 3 or 3):]),
                             ({"page": 100, "sort": 1, "dir": "desc"}, by_name[297:300])):
        with CaptureQueriesContext(connection) as captured:
            answer = rows_page(alice_client, context, **params).json()
        if expected is None:
            number = params["page"]
            expected = everything[(number - 1) * 3:number * 3]
        assert names(answer["html"]) == expected, params
        reads = id_queries(captured)
        assert len(reads) == 1, captured.captured_queries
        offsets = [int(n) for n in re.findall(r"OFFSET (\d+)", reads[0])]
        # Never skipping more than half of the rows.
        assert all(offset <= total // 2 for offset in offsets), (params, reads[0][-80:])


def test_a_table_of_the_viewers_own_jobs_reads_their_index(alice_client, user, other_user,
                                                           many, make_job):
    lab = Group.objects.create(name="lab")
    user.groups.add(lab)
    shared = make_job("shared with alice", owner=other_user)
    shared.groups.add(lab)
    context = table(manager().list_jobs(user=user))
    with CaptureQueriesContext(connection) as captured:
        answer = rows_page(alice_client, context, page=2).json()
    assert names(answer["html"]) == list(
        manager().list_jobs(user=user).values_list("name", flat=True)[3:6])
    assert answer["total"] == manager().list_jobs(user=user).count()
    reads = id_queries(captured)
    own = list(manager().list_jobs(user=user))
    # Sorted by name or status (which have (label, column) indexes): still her index.
    for sort, key in ((1, lambda job: (job.name, job.pk)), (3, lambda job: (job._status, job.pk))):
        with CaptureQueriesContext(connection) as captured:
            answer = rows_page(alice_client, context, page=2, sort=sort, dir="desc").json()
        expected = [job.name for job in sorted(own, key=key, reverse=True)[3:6]]
        assert names(answer["html"]) == expected
        reads += id_queries(captured)
    assert len(reads) == 3
    for sql in reads:
        # Her own jobs only: no "or shared with her groups" condition left in the query.
        assert "tethysjob_groups" not in sql, sql
        if connection.vendor == "sqlite":
            steps = [s for s in sqlite_plan(sql) if "tethys_compute_tethysjob " in s + " "]
            assert steps and all("user_id=?" in s for s in steps), steps
    # A group's job still shows in a table over the app's jobs.
    app_table = table(manager().list_jobs())
    assert "shared with alice" in names(
        rows_page(alice_client, app_table, page=1, q="shared").json()["html"])


@pytest.mark.skipif("connection.vendor != 'sqlite'")
@pytest.mark.parametrize("sort", [1, 3])
def test_a_whole_apps_table_sorted_by_name_or_status_sorts_no_rows(admin_client, many, sort):
    context = table(manager().list_jobs())
    with CaptureQueriesContext(connection) as captured:
        answer = rows_page(admin_client, context, page=2, sort=sort, dir="desc")
    assert answer.status_code == 200
    reads = id_queries(captured)
    assert len(reads) == 1
    plan = sqlite_plan(reads[0])
    assert not [s for s in plan if "TEMP B-TREE" in s], plan
