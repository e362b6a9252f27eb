"""The job changelist's pages read a bounded part of the jobs table whatever the filter
or page (issue 17, 1,000,000 jobs), on SQLite and PostgreSQL:

* the page's rows are read by id (``id IN (SELECT id ... LIMIT n OFFSET m)``; on
  PostgreSQL ``id = ANY(ARRAY(SELECT id ...))``, looked up by key): the
  skipped rows of a deep page and the rows sorted for a filtered page are index entries,
  not whole rows with their type's tables joined (``?status=active`` sorted 20,000
  whole rows, ``?p=50`` joined 4,900 unshown ones);
* a completion-time filter is counted from the partial index ``tc_job_completed``
  (its count read every finished job);

SQLite's plans are read with ``EXPLAIN QUERY PLAN``; PostgreSQL's with sequential scans
and sorts made dear (its planner picks them for tables this small whatever the indexes),
so that a plan with one means no index can serve the query.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = reverse("admin:tethys_compute_tethysjob_changelist")
TABLE = TethysJob._meta.db_table


@pytest.fixture
def jobs(user):
    """30 jobs, one an hour; every third active, the others finished (completed an hour
    after they were made); 3 rows a page. (Labels of their own: PostgreSQL's autovacuum
    may analyse the table now, and tests/models/test_query_plans.py, planning for its
    app_a and app_b without statistics, would then see them as half the table each.)"""
    now = timezone.now()
    made = TethysJob.objects.bulk_create(
        [TethysJob(name=f"job {i}", user=user, label=("pages_a", "pages_b")[i % 2],
                   _status="RUN" if i % 3 == 0 else "COM") for i in range(30)])
    for i, job in enumerate(made):
        created = now - timedelta(hours=30 - i)
        TethysJob.objects.filter(pk=job.pk).update(
            creation_time=created,
            completion_time=None if i % 3 == 0 else created + timedelta(hours=1))
    from tethys_compute.admin.jobs import JobAdmin

    original = JobAdmin.list_per_page
    JobAdmin.list_per_page = 3
    yield made
    JobAdmin.list_per_page = original


def explain(sql, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return [(row[0], row[1], row[-1]) for row in cursor.fetchall()]
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def page_statements(client, query):
    """The changelist's statements of ``query``: (the count, the page's rows)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST + query)
    assert response.status_code == 200, query
    statements = [q["sql"] for q in captured.captured_queries if TABLE in q["sql"]]
    counts = [s for s in statements if s.startswith("SELECT COUNT(*)")]
    rows = [s for s in statements if "owner_username" in s]
    assert len(counts) == 1 and len(rows) == 1, statements
    return response, counts[0], rows[0]


def full_reads(sql):
    """The steps of the plan of ``sql`` that read every row of the jobs table, or sort
    rows other than the page's (SQLite: a ``SCAN`` of the table without an index, a temp
    B-tree below the outermost query; PostgreSQL: a ``Seq Scan``, a ``Sort``)."""
    steps = explain(sql)
    if connection.vendor == "sqlite":
        bad = []
        for _, parent, step in steps:
            if re.match(rf"SCAN ({TABLE}|V\d|U\d)$", step):
                bad.append(step)
            if step.startswith("USE TEMP B-TREE") and parent != 0:
                bad.append(step)
        return bad, steps
    bad = [s for s in steps if f"Seq Scan on {TABLE}" in s]
    # The outermost sort orders the page's rows (at most a page); any other is a sort
    # of the matching rows (an Incremental Sort orders rows of equal creation_time, read
    # in that order from tc_job_created, by id: a few at a time).
    bad += [s for s in steps[1:] if re.search(r"(^|->)\s*Sort\s+\(", s)]
    return bad, steps


QUERIES = ["", "?p=3", "?p=5", "?status=COM&p=2",
           "?app=pages_b&p=2"]


@pytest.mark.parametrize("query", QUERIES)
def test_a_page_reads_its_rows_by_id(admin_client, jobs, query):
    response, _, rows = page_statements(admin_client, query)
    if connection.vendor == "sqlite":
        assert re.search(r'"id" IN \(SELECT', rows), rows
    else:
        # The ids as an array read once (an InitPlan), each row then looked up by key:
        # with ``id IN (SELECT ...)`` PostgreSQL joined every job type's table whole at
        # 1,000,000 jobs (8-13 s a page) when its estimates favoured a hash join.
        assert re.search(r'"id" = ANY\(ARRAY\(SELECT', rows), rows
    bad, steps = full_reads(rows)
    assert not bad, (query, steps)
    shown = response.context["cl"].result_list
    assert len(shown) == 3
    # Newest first, as the changelist's ordering says.
    times = [job.creation_time for job in shown]
    assert times == sorted(times, reverse=True)


def test_pages_show_the_same_jobs_as_before(admin_client, jobs):
    """The ids read first are the page's: pages follow each other without gaps or
    repeats, in the list's order, for a filter too."""
    def names(query):
        return [j.name for j in admin_client.get(CHANGELIST + query).context["cl"].result_list]

    seen = []
    for page in range(1, 11):
        seen += names(f"?p={page}")
    assert seen == [f"job {i}" for i in range(29, -1, -1)]
    active = []
    for page in range(1, 5):
        active += names(f"?status=active&p={page}")
    assert active == [f"job {i}" for i in range(27, -1, -3)]
    # Sorted by another column (name, ascending), then the id.
    assert names("?o=1&p=2") == sorted(f"job {i}" for i in range(30))[3:6]


def completion_query(jobs):
    first = timezone.localtime(TethysJob.objects.get(pk=jobs[0].pk).creation_time).date()
    return (f"?completion_time__gte={first}"
            f"&completion_time__lt={first + timedelta(days=5)}")


def test_a_completion_time_filter_is_counted_from_its_partial_index(admin_client, jobs):
    for query in (completion_query(jobs), "?completion_time__isnull=False"):
        response, count, rows = page_statements(admin_client, query)
        assert response.context["cl"].result_count == 20
        steps = explain(count)
        assert "tc_job_completed" in str(steps), (query, steps)
        bad, steps = full_reads(count)
        assert not bad, (query, steps)
        bad, steps = full_reads(rows)
        assert not bad, (query, steps)
