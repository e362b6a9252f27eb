"""The rows' HTML written in Python (``row_html``) is the template's, character for
character, for a mixed page of job types; the poll renders no template (issue 17)."""

import json

import pytest
from django.template.loader import render_to_string
from django.test.signals import template_rendered
from django.urls import reverse

from tethys_compute.gizmos import CustomJobAction, JobsTable
from tethys_compute.jobs_table.row_html import render_rows
from tethys_compute.jobs_table.rows import ROW_TEMPLATE, RowBuilder
from tethys_compute.models import BasicJob, CondorJob, DaskJob

from . import actions_for_tests as acts

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.jobs_table.urls")]

COLUMNS = ["id", "name", ("Created", "creation_time"), "run_time",
           ("Stage <b>", "extended_properties.stage"), "usage"]


def actions():
    archive = CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived,
                              confirmation_message="Archive <this> job?")
    details = CustomJobAction("Details", modal_url="job_details")
    return ["run", "resubmit", "|", "logs", "monitor", "results", "|", "terminate", "delete",
            "|", archive, details]


@pytest.fixture
def mixed(user, make_job, workflow):
    """A page of every job type and of what a row can show: escaping, progress with a
    message, an error message longer than its 200 shown characters, an engine's counts
    bar, a Dask task state, a running job's elapsed time, a workflow's graph."""
    jobs = [make_job(name='<i>"x" & \'y\'</i>', status="RUN",
                     extended_properties={"stage": "<script>alert(1)</script>"})]
    jobs[0].set_progress(42, "half <way> & more")
    jobs.append(make_job(name="failed", status="ERR",
                         status_message="boom <b>" + "x" * 300))
    various = make_job(name="various", status="VAR")
    jobs.append(various)
    condor = CondorJob(name="condor & co", user=user, label="test_app")
    condor.save()
    condor.update_status("SUB")
    dask = DaskJob(name="dask", user=user, label="test_app",
                   extended_properties={"task_state": "processing <1>"})
    dask.save()
    dask.update_status("RUN")
    done = BasicJob(name="done", user=user, label="test_app")
    done.save()
    done.update_status("COM")
    return jobs + [condor, dask, workflow, done]


def rows_of(jobs, counts=True, **options):
    table = JobsTable(jobs=jobs, column_fields=COLUMNS, monitor_url="job_monitor",
                      results_url="/results/{job_id}/", actions=actions(), **options)
    builder = RowBuilder(table.table_config())
    listed = list(table.jobs)
    for job in listed:
        if counts and job.name == "various":  # an engine's cache, in memory only
            job.cached_statuses = {"Completed": 3, "Running": 1, "Held": 2}
    builder.prepare(listed)
    return builder, [builder.row(job) for job in listed]


@pytest.mark.parametrize("options", [
    {"show_detailed_status": True},
    {},
    {"show_status": False, "show_actions": False},
    {"show_status": False, "show_detailed_status": True},
    {"show_actions": False},
])
def test_python_rows_are_the_templates_rows(mixed, options):
    builder, rows = rows_of(mixed, **options)
    t = builder.table_context()
    assert len(rows) == 7 and any(row["graph"] for row in rows) == bool(
        options.get("show_detailed_status"))
    assert any(row["segments"] for row in rows) and any(row["task_state"] for row in rows)
    assert any(row["progress"] is not None for row in rows)
    assert any(row["hrefs"] for row in rows) == options.get("show_actions", True)
    expected = render_to_string(ROW_TEMPLATE, {"rows": rows, "t": t})
    assert render_rows(rows, t) == expected
    assert isinstance(render_rows(rows, t), type(expected))  # SafeString, as before
    assert builder.render(rows) == expected
    for row in rows:
        assert builder.render([row]) == render_to_string(ROW_TEMPLATE, {"rows": [row], "t": t})
    assert "<script>alert" not in expected and "&lt;i&gt;&quot;x&quot;" in expected
    shown = ["tc-time", "tc-progress-message", "tc-seg-held"]
    if options.get("show_status", True):
        assert all(css in expected for css in shown + ["tc-status-message", "tc-task-state"])
    if options.get("show_actions", True):
        assert "data-href-monitor=" in expected and "data-href-details-" in expected


def test_no_rows_is_the_templates_no_jobs_row(mixed):
    builder, _rows = rows_of(mixed)
    t = builder.table_context()
    assert render_rows([], t) == render_to_string(ROW_TEMPLATE, {"rows": [], "t": t})


def test_thousand_separators_follow_the_template(mixed, settings):
    settings.USE_THOUSAND_SEPARATOR = True
    builder, rows = rows_of(mixed)
    for row in rows:
        row["id"] += 1_234_000
    t = builder.table_context()
    assert builder.render(rows) == render_to_string(ROW_TEMPLATE, {"rows": rows, "t": t})


def poll(client, token, rows):
    return client.post(reverse("jobs_table_poll"), content_type="application/json",
                       data=json.dumps({"config": token, "rows": rows})).json()


def test_poll_answers_the_templates_html_and_renders_no_template(alice_client, mixed):
    table = JobsTable(jobs=mixed, column_fields=COLUMNS, monitor_url="job_monitor",
                      results_url="/results/{job_id}/", actions=actions(),
                      show_detailed_status=True)
    token = table.table_config().dumps()
    rendered = []

    def seen(sender, template, context, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(seen)
    try:
        answer = poll(alice_client, token, {str(job.pk): "" for job in mixed})
    finally:
        template_rendered.disconnect(seen)
    assert rendered == []  # was one rows.html render per changed row
    assert set(answer["rows"]) == {str(job.pk) for job in mixed}
    builder, rows = rows_of(mixed, counts=False, show_detailed_status=True)
    t = builder.table_context()
    for row in rows:
        got = answer["rows"][str(row["id"])]
        assert got["fp"] == row["fp"]
        assert got["html"] == render_to_string(ROW_TEMPLATE, {"rows": [row], "t": t})


@pytest.mark.parametrize("detailed", [False, True])
def test_poll_loads_node_parents_only_for_the_detailed_graph(alice_client, mixed, detailed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tethys_compute.models import CondorWorkflowNode

    through = CondorWorkflowNode.parent_nodes.through._meta.db_table
    table = JobsTable(jobs=mixed, column_fields=COLUMNS, actions=actions(),
                      monitor_url="job_monitor", results_url="/results/{job_id}/",
                      show_detailed_status=detailed)
    with CaptureQueriesContext(connection) as queries:
        answer = poll(alice_client, table.table_config().dumps(),
                      {str(job.pk): "" for job in mixed})
    assert len(answer["rows"]) == len(mixed)
    # The nodes' statuses feed the counts bar either way; parents only draw the graph.
    assert any("condorworkflownode" in q["sql"].lower() for q in queries.captured_queries)
    assert any(through in q["sql"] for q in queries.captured_queries) == detailed


def test_a_sites_own_rows_template_is_used_by_polls_too(mixed, settings, tmp_path):
    """A project that overrides ``rows.html`` (its own templates directory first, as
    Django's docs show for overriding an app's templates) gets its rows in the first
    render and in every poll alike: the Python writer stands in only for our template."""
    own = tmp_path / "tethys_compute" / "jobs_table"
    own.mkdir(parents=True)
    (own / "rows.html").write_text(
        "{% for row in rows %}<tr data-site-row='{{ row.id }}'></tr>{% endfor %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    builder, rows = rows_of(mixed)
    html = builder.render(rows)
    assert html == "".join(f"<tr data-site-row='{row['id']}'></tr>" for row in rows)
