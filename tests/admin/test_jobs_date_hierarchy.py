"""The job changelist's date drill-down costs the same with 10 or 1,000,000 jobs (issue
17): no query applies a date function to every row (Django's ``date_hierarchy`` runs a
``SELECT DISTINCT`` of the truncated date over all matching rows: 4.45 s at 1M jobs)."""

import re
from datetime import datetime, timezone

import pytest
from django.db import connection

from tests.admin.pages import page
from tests.conftest import is_postgres
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db

#: What a per-row date truncation looks like in SQL (SQLite's Django functions, PostgreSQL).
PER_ROW_DATES = re.compile(r"django_date(time)?_(trunc|cast)|DATE_TRUNC|AT TIME ZONE",
                           re.IGNORECASE)


def jobs_on(user, *moments):
    made = TethysJob.objects.bulk_create(
        [TethysJob(name=f"j{i}", user=user, label="test_app") for i in range(len(moments))])
    for job, moment in zip(made, moments, strict=True):
        TethysJob.objects.filter(pk=job.pk).update(creation_time=moment)
    return made


def links(response):
    """The date drill-down's links (Django's ``admin/date_hierarchy.html``)."""
    nav = re.search(r'<nav class="toplinks"[^>]*>(.*?)</nav>', response.content.decode(), re.S)
    if nav is None:
        return []
    return re.findall(r'<a href="\?([^"]*)">', nav.group(1))  # not the "back" link


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_years_months_days_offered_without_a_per_row_date_query(admin_client, user):
    jobs_on(user, utc(2023, 5, 2), utc(2025, 2, 10), utc(2025, 2, 28))
    response, sql = page(admin_client)
    assert not [s for s in sql if PER_ROW_DATES.search(s)], sql
    assert links(response) == [f"creation_time__year={y}" for y in (2023, 2024, 2025)]

    response, sql = page(admin_client, "?creation_time__year=2025")
    assert not [s for s in sql if PER_ROW_DATES.search(s)]
    months = links(response)
    assert len(months) == 12 and "creation_time__month=2&amp;creation_time__year=2025" in months
    assert sorted(j.name for j in response.context["cl"].result_list) == ["j1", "j2"]

    response, sql = page(admin_client, "?creation_time__month=2&creation_time__year=2025")
    assert not [s for s in sql if PER_ROW_DATES.search(s)]
    assert len(links(response)) == 28
    response, _ = page(admin_client,
                       "?creation_time__day=28&creation_time__month=2&creation_time__year=2025")
    assert [j.name for j in response.context["cl"].result_list] == ["j2"]


def test_one_month_of_jobs_opens_at_its_days(admin_client, user):
    jobs_on(user, utc(2025, 2, 10), utc(2025, 2, 28))
    response, _ = page(admin_client)
    assert len(links(response)) == 28


def test_no_jobs(admin_client):
    response, _ = page(admin_client)
    assert links(response) == []


def test_query_count_does_not_grow_and_bounds_read_the_index(admin_client, user):
    jobs_on(user, utc(2024, 1, 1), utc(2025, 1, 1))
    _, few = page(admin_client)
    jobs_on(user, *[utc(2024, 1 + i % 12, 1 + i % 28) for i in range(300)])
    _, many = page(admin_client)
    assert len(few) == len(many)
    if is_postgres():
        return
    bounds = [s for s in many if re.search(r'^SELECT "tethys_compute_tethysjob"\."creation_time"'
                                           r".* (ASC|DESC) LIMIT 1$", s)]
    assert len(bounds) == 2, many
    with connection.cursor() as cursor:
        for sql in bounds:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = " ".join(row[-1] for row in cursor.fetchall())
            assert "tc_job_created" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("query", ["", "?creation_time__year=2025"])
def test_page_rows_read_the_creation_index_without_sorting(admin_client, user, query):
    """Ordered newest first, a page (all jobs, or a year of the drill-down) reads
    ``tc_job_created`` backwards; ordered by id, a year's page sorted all its rows."""
    jobs_on(user, utc(2024, 1, 1), utc(2025, 3, 1), utc(2025, 4, 1))
    response, sql = page(admin_client, query)
    assert [j.name for j in response.context["cl"].result_list][:2] == ["j2", "j1"]
    if is_postgres():
        return
    rows = [s for s in sql if s.startswith('SELECT "tethys_compute_tethysjob"."id"')
            and "ORDER BY" in s]
    assert len(rows) == 1, sql
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + rows[0])
        plan = [row[-1] for row in cursor.fetchall()]
    assert any("tc_job_created" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
