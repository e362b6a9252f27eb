"""``{% load tethys_compute %}{% jobs_table options %}``: markup, escaping, URLs."""

import html
import re
from datetime import datetime, timezone

import pytest
from django.template import Context, RequestContext, Template, TemplateSyntaxError
from django.test import Client

from tethys_compute.gizmos import CustomJobAction, JobsTable
from tethys_compute.models import BasicJob, TethysJob

from . import actions_for_tests as acts

pytestmark = pytest.mark.django_db

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def render(table, request=None, text="{% load tethys_compute %}{% jobs_table t %}"):
    context = RequestContext(request, {"t": table}) if request else Context({"t": table})
    return Template(text).render(context)


def test_table_markup_bootstrap_classes_and_attributes(make_job, rf_user):
    job = make_job("alpha", status="RUN")
    out = render(JobsTable(jobs=[job], column_fields=["id", "name"], hover=True, striped=True,
                           bordered=True, condensed=True, classes="my-table",
                           attributes={"data-app": 'x"y', "aria-label": "Jobs"}), rf_user)
    assert 'class="table jobs-table tc-jobs-table table-hover table-striped table-bordered table-sm my-table"' in out
    assert 'data-app="x&quot;y"' in out and 'aria-label="Jobs"' in out
    assert '<th scope="col" class="status-col no-sort">Status</th>' in out
    assert f'data-job-id="{job.pk}"' in out and 'data-active="true"' in out
    assert "dropdown-menu-end" in out and "dropdown-menu-right" not in out
    assert "data-bs-toggle" not in out  # no Bootstrap JavaScript needed
    assert out.count("<dialog") == 3


def test_endpoint_urls_come_from_the_urlconf(make_job, rf_user, settings):
    settings.ROOT_URLCONF = "tests.jobs_table.urls"
    out = render(JobsTable(jobs=[make_job()], column_fields=["id"]), rf_user)
    for name, path in (("poll", "/compute/jobs-table/poll/"), ("action", "/compute/jobs-table/action/"),
                       ("rows", "/compute/jobs-table/rows/"), ("logs", "/compute/jobs-table/logs/"),
                       ("log-content", "/compute/jobs-table/logs/content/")):
        assert f'data-{name}-url="{path}"' in out


def test_static_files_are_namespaced_local_and_included_once(make_job, rf_user):
    table = JobsTable(jobs=[make_job()], column_fields=["id"])
    out = render(table, rf_user, "{% load tethys_compute %}{% jobs_table_media %}"
                                 "{% jobs_table t %}{% jobs_table t %}")
    assert out.count('href="/static/tethys_compute/jobs_table/jobs_table.css"') == 1
    assert out.count('src="/static/tethys_compute/jobs_table/jobs_table.js"') == 1
    # Every asset the page loads is ours and local: no CDN, no jQuery. Only the src/href
    # values are checked, since the signed config and the CSRF token are random text.
    assets = re.findall(r'(?:src|href)="([^"]*)"', out)
    assert assets and all(a.startswith("/static/tethys_compute/") or a == "#" for a in assets), assets
    assert not any("cdn" in a.lower() or "jquery" in a.lower() for a in assets)
    assert "http://" not in out and "https://" not in out


def test_everything_is_escaped(make_job, rf_user):
    job = make_job(XSS, status="ERR", description=XSS,
                   extended_properties={"stage": XSS})
    BasicJob.objects.filter(pk=job.pk).update(status_message=XSS, progress_message=XSS)
    job = TethysJob.objects.get_subclass(pk=job.pk)
    action = CustomJobAction(XSS, acts.archive, confirmation_message=XSS)
    out = render(JobsTable(jobs=[job], column_fields=["name", "description", "extended_properties.stage"],
                           actions=["delete", action]), rf_user)
    assert "<script>" not in out and "<img" not in out
    assert html.escape(XSS, quote=True) in out or html.escape(XSS) in out


def test_times_are_iso_utc_for_the_viewers_timezone(make_job, rf_user, settings):
    settings.TIME_ZONE = "America/Denver"
    job = make_job()
    BasicJob.objects.filter(pk=job.pk).update(
        creation_time=datetime(2026, 1, 5, 15, 4, 5, tzinfo=timezone.utc))
    job = TethysJob.objects.get_subclass(pk=job.pk)
    out = render(JobsTable(jobs=[job], column_fields=["creation_time"]), rf_user)
    assert '<time class="tc-time" datetime="2026-01-05T15:04:05Z">' in out
    assert "8:04 a.m. MST" in out  # server-side fallback text before the script runs


def test_no_jobs_row(rf_user):
    # As Tethys: with no job there are no columns, only Status and Actions.
    out = render(JobsTable(jobs=[], column_fields=["id", "name"]), rf_user)
    assert "No Jobs" in out and 'colspan="2"' in out


def test_csrf_token_written_for_the_script(make_job, user, settings):
    settings.ROOT_URLCONF = "tests.jobs_table.urls"
    make_job("visible")
    client = Client()
    client.force_login(user)
    page = client.get("/jobs/").content.decode()
    token = re.search(r'data-csrf-token="([^"]*)"', page).group(1)
    assert len(token) == 64
    assert 'data-csrf-header="X-CSRFTOKEN"' in page


def test_workflow_graph_data_is_embedded_as_json(make_job, rf_user, workflow):
    out = render(JobsTable(jobs=[workflow], column_fields=["name"], show_detailed_status=True),
                 rf_user)
    assert 'class="workflow-nodes-row"' in out
    data = re.search(r'<script type="application/json">(.*?)</script>', out, re.S).group(1)
    assert '"name": "prep"' in data and '"level": 1' in data
    assert "<script>" not in data  # node names escaped inside the JSON


def test_non_jobs_table_options_are_refused(rf_user):
    with pytest.raises(TemplateSyntaxError, match="JobsTable"):
        render({"jobs": []}, rf_user)
    with pytest.raises(TemplateSyntaxError, match="jobs_table gizmo"):
        render({"jobs": []}, rf_user, "{% load tethys_compute %}{% gizmo t %}")


def test_gizmo_tag_renders_a_jobs_table(make_job, rf_user):
    out = render(JobsTable(jobs=[make_job("g")], column_fields=["name"]), rf_user,
                 "{% load tethys_compute %}{% gizmo t %}")
    assert "data-tc-jobs-table" in out and ">g<" in out


def test_render_queries_do_not_grow_with_rows(make_job, rf_user, django_assert_max_num_queries):
    jobs = [make_job(f"j{i}", status="RUN") for i in range(40)]
    for count in (4, 40):
        table = JobsTable(jobs=TethysJob.objects.filter(pk__in=[j.pk for j in jobs[:count]])
                          .select_subclasses(), column_fields=["id", "name", "user"])
        with django_assert_max_num_queries(2):
            out = render(table, rf_user)
        assert out.count('class="job-row"') == count
