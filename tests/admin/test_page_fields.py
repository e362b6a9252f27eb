"""A changelist page loads only the fields its columns read (admin/page_fields.py):
each row still its own class, the same HTML as Django's from whole rows, no query more,
and a column reading a field it did not declare is noticed and its admin's later pages
are loaded whole."""

import logging

import pytest
from django.contrib.admin.templatetags import admin_list
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.admin.pages import page, vary
from tethys_compute.admin import page_fields, rows
from tethys_compute.admin.jobs import JobAdmin
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db



@pytest.fixture
def varied(make_job, dask_scheduler, condor_scheduler):
    """Jobs of each type, with progress, a status message, an "Other" status kept in
    extended_properties (as Tethys writes it), a failure, dates and HTML in texts."""
    jobs = [
        make_job('<b>bold</b> & "quoted"', description="not shown"),
        make_job("dask run", job_type="DASK", scheduler=dask_scheduler),
        make_job("condor run", job_type="CONDOR", scheduler=condor_scheduler,
                 attributes={"executable": "run.sh"}),
        make_job("workflow", job_type="CONDORWORKFLOW", scheduler=condor_scheduler),
        make_job("html owner", owner=get_user_model().objects.create_user('a<b>&"c\'')),
    ]
    vary(*jobs[:3])
    TethysJob.objects.filter(pk=jobs[3].pk).update(_status="OTH", _other_status="Mine")
    return jobs


@pytest.fixture
def forget_noticed():
    yield
    page_fields._READS_MORE.clear()


def rows_statement(statements):
    """The statement reading the page's rows (each job class's table joined)."""
    found = [sql for sql in statements
             if sql.startswith("SELECT") and "LEFT OUTER JOIN" in sql and "COUNT(" not in sql]
    assert len(found) == 1, statements
    return found[0]


def whole(response):
    """The page's jobs loaded whole (every field, the admin's annotations), in order."""
    cl = response.context["cl"]
    loaded = cl.model_admin.get_queryset(response.wsgi_request).in_bulk(
        [job.pk for job in cl.result_list])
    return [loaded[job.pk] for job in cl.result_list]


@pytest.mark.parametrize("query", ["", "?status=active", "?q=run&o=2.-7", "?o=4"])
def test_a_page_loads_only_the_fields_its_columns_read(admin_client, varied, query):
    response, statements = page(admin_client, query)
    sql = rows_statement(statements).split(" FROM ")[0]  # the columns read
    # The columns' fields are read, the others (description, the job classes' own
    # fields) are not; each job class's key is, so each row is still its own class.
    for column in ('"name"', '"label"', '"_status"', '"creation_time"',
                   '"completion_time"', '"extended_properties"', '"status_message"'):
        assert column in sql, column
    for left_out in ('"description"', '"workspace"', '"_attributes"', '"_max_jobs"',
                     '"_last_status_update"', '"retry_due_at"'):
        assert left_out not in sql, (left_out, sql)
    cl = response.context["cl"]
    assert cl.result_list
    full = whole(response)
    assert [type(job) for job in cl.result_list] == [type(job) for job in full]
    # The same HTML as Django's own tag writes from the whole rows, with no query more.
    expected = ["".join(admin_list.items_for_result(cl, job, None)) for job in full]
    with CaptureQueriesContext(connection) as ctx:
        made = [str(row[0]) for row in rows.rows(cl)]
        djangos = ["".join(admin_list.items_for_result(cl, job, None))
                   for job in cl.result_list]
    assert made == expected
    assert djangos == expected
    assert ctx.captured_queries == []
    body = response.content.decode()
    for row in expected:
        assert f"<tr>{row}</tr>" in body


def test_a_page_has_as_many_queries_as_a_page_of_whole_rows(admin_client, varied,
                                                            monkeypatch):
    _, narrow = page(admin_client)
    monkeypatch.setattr(JobAdmin, "list_display_reads", None)
    _, full = page(admin_client)
    assert '"description"' in rows_statement(full).split(" FROM ")[0]
    assert len(narrow) == len(full)


def test_columns_that_are_not_declared_load_whole_rows(admin_client, varied, monkeypatch):
    monkeypatch.setattr(JobAdmin, "list_display",
                        (*JobAdmin.list_display, "description", "user"))
    _, statements = page(admin_client)
    # a related column: whole rows
    assert '"workspace"' in rows_statement(statements).split(" FROM ")[0]
    admin = JobAdmin(TethysJob, None)
    assert page_fields.page_fields(admin, ("name", "description"), TethysJob) == [
        "id", "name", "description"]
    assert page_fields.page_fields(admin, ("name", "user"), TethysJob) is None
    assert page_fields.page_fields(admin, ("name", "run_time_display"), TethysJob) is None
    assert page_fields.page_fields(admin, ("name", "__str__"), TethysJob) is None
    assert page_fields.page_fields(admin, ("name", "user__username"), TethysJob) is None


def test_a_column_reading_an_undeclared_field_is_noticed_and_later_pages_load_whole(
        admin_client, varied, monkeypatch, caplog, forget_noticed):
    reads = dict(JobAdmin.list_display_reads)
    reads["status_display"] = ("_status",)  # but it also reads progress, status_message...
    monkeypatch.setattr(JobAdmin, "list_display_reads", reads)
    with caplog.at_level(logging.WARNING, logger="tethys_compute.admin.page_fields"):
        response, first = page(admin_client)
    cl = response.context["cl"]
    full = whole(response)
    # Right all the same (each deferred field read from the database)...
    body = response.content.decode()
    for job in full:
        assert "".join(admin_list.items_for_result(cl, job, None)) in body
    assert "JobAdmin" in caplog.text and "list_display_reads" in caplog.text
    # ... and the next pages are loaded whole, without a query per row.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tethys_compute.admin.page_fields"):
        _, later = page(admin_client)
    assert caplog.text == ""
    assert '"workspace"' in rows_statement(later).split(" FROM ")[0]
    assert len(later) < len(first)
