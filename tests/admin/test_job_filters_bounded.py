"""The job changelist's app and user filters read a bounded part of the jobs table
(issue 17, 1,000,000 jobs): Django's ``SELECT DISTINCT label`` and
``RelatedOnlyFieldListFilter`` (``SELECT DISTINCT user_id``) read every job on each page
view. The app filter now seeks the label index once per app, the user filter probes the
users with ``EXISTS`` and lists the first ones by name, the chosen one, and a link on
each row reaches any other owner.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tethys_compute.admin import job_filters
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tethys_compute_tethysjob_changelist")


def add_jobs(users, count, start=0):
    TethysJob.objects.bulk_create(
        [TethysJob(name=f"bulk {i}", user=users[i % len(users)],
                   label=("test_app", "other_app", "third_app")[i % 3], _status="COM")
         for i in range(start, start + count)],
        batch_size=1000,
    )


def choices(response, title):
    spec = next(s for s in response.context["cl"].filter_specs if s.title == title)
    return [choice["display"] for choice in spec.choices(response.context["cl"])][1:]


def sqlite_steps(sql):
    """SQLite virtual machine steps (in hundreds) to run ``sql`` to the end: grows with
    the rows a query reads."""
    raw = connection.connection
    steps = [0]

    def count():
        steps[0] += 1
        return 0

    raw.set_progress_handler(count, 100)
    try:
        raw.execute(sql).fetchall()
    finally:
        raw.set_progress_handler(None, 0)
    return steps[0]


@pytest.fixture
def owners(django_user_model):
    return [django_user_model.objects.create_user(username=f"owner{i}") for i in range(5)]


def test_user_filter_lists_the_first_owners_and_the_chosen_one(
        admin_client, owners, django_user_model, monkeypatch):
    django_user_model.objects.create_user(username="aaa-no-jobs")
    add_jobs(owners, 10)
    monkeypatch.setattr(job_filters, "OWNER_CHOICES", 3, raising=False)
    response = admin_client.get(CHANGELIST)
    assert choices(response, "user") == ["owner0", "owner1", "owner2"]
    # Every row links to its owner's jobs: the way to reach an owner not listed.
    assert f'href="?user__id__exact={owners[4].pk}"' in response.content.decode()
    response = admin_client.get(CHANGELIST + f"?user__id__exact={owners[4].pk}")
    assert choices(response, "user") == ["owner0", "owner1", "owner2", "owner4"]
    assert {job.user_id for job in response.context["cl"].result_list} == {owners[4].pk}
    assert len(response.context["cl"].result_list) == 2
    # A malformed id is refused as Django refuses a bad filter value (?e=1), not a 500.
    assert admin_client.get(CHANGELIST + "?user__id__exact=x").status_code == 302


def test_app_filter_lists_each_app_once_and_the_chosen_one(admin_client, owners, monkeypatch):
    add_jobs(owners, 30)
    response = admin_client.get(CHANGELIST)
    assert choices(response, "app") == ["other_app", "Test App (test_app)", "third_app"]
    monkeypatch.setattr(job_filters, "APP_CHOICES", 1, raising=False)
    response = admin_client.get(CHANGELIST + "?app=third_app")
    assert choices(response, "app") == ["other_app", "third_app"]
    assert {job.label for job in response.context["cl"].result_list} == {"third_app"}
    assert job_filters.job_labels(limit=2) == ["other_app", "test_app"]


def test_changelist_queries_read_no_more_rows_with_ten_times_the_jobs(admin_client, owners):
    """Each query of the changelist page, the paginator's COUNT aside, costs about the
    same with 1,000 and with 10,000 jobs (SQLite: virtual machine steps; on PostgreSQL the
    same queries run, and their number is checked)."""

    def page_queries():
        """``(sql, cost)`` of each query of the page (cost measured now, on SQLite)."""
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(CHANGELIST).status_code == 200
        queries = [q["sql"] for q in captured.captured_queries
                   if not ("COUNT(" in q["sql"] and "tethys_compute_tethysjob" in q["sql"])]
        if connection.vendor != "sqlite":
            return [(sql, 0) for sql in queries]
        return [(sql, sqlite_steps(sql)) for sql in queries]

    add_jobs(owners, 1000)
    small = page_queries()
    add_jobs(owners, 9000, start=1000)
    large = page_queries()
    assert len(small) == len(large)
    grown = [(before, after, sql[:200]) for (_, before), (sql, after) in zip(small, large, strict=True)
             if after > 2 * before + 20]
    assert not grown, grown


@pytest.mark.skipif("connection.vendor != 'sqlite'")
@pytest.mark.parametrize("query", ["?failure_kind=engine", "?status=COM", "?user__id__exact={}"])
def test_a_filtered_changelist_page_reads_an_index_of_its_filter(admin_client, owners, query):
    """The newest 100 jobs of one status, failure kind or user come from an index on
    (that column, creation time): walking every job newest first finds none of a rare
    value before the end of the table."""
    add_jobs(owners, 300)
    TethysJob.objects.filter(pk__in=TethysJob.objects.order_by("pk").values("pk")[:5]).update(
        failure_kind="engine")
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST + query.format(owners[1].pk))
    assert response.status_code == 200
    rows = [q["sql"] for q in captured.captured_queries
            if q["sql"].startswith('SELECT "tethys_compute_tethysjob"."id"') and "ORDER BY" in q["sql"]]
    assert len(rows) == 1, [q["sql"][:300] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + rows[0])
        found = cursor.fetchall()
    plan = [row[-1] for row in found]
    # The page's ids (subquery V0) come from the index; its rows are then read by id.
    jobs = [step for step in plan if re.search(r"\b(tethys_compute_tethysjob|V0)\b", step)]
    assert jobs and not [s for s in jobs if s.startswith("SCAN")], plan
    # The only sort is of the page's rows, in the outermost query.
    assert not [row[-1] for row in found if "TEMP B-TREE" in row[-1] and row[1] != 0], plan
