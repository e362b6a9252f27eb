"""What a row shows: status, progress, task state, actions; and its fingerprint."""

from datetime import timedelta

import pytest
from django.template import RequestContext, Template
from django.utils import timezone

from tethys_compute.gizmos import CustomJobAction, JobsTable
from tethys_compute.jobs_table.rows import RowBuilder, fingerprint, task_state
from tethys_compute.models import DaskJob, TethysJob

from . import actions_for_tests as acts

pytestmark = pytest.mark.django_db


def build(jobs, **options):
    table = JobsTable(jobs=jobs, column_fields=["name"], **options)
    builder = RowBuilder(table.table_config())
    builder.prepare(table.jobs)
    return [builder.row(job) for job in table.jobs]


def test_dask_jobs_show_their_task_state(user):
    job = DaskJob(name="dask", user=user, label="test_app",
                  extended_properties={"task_state": "processing"})
    job.save()
    job.update_status("RUN")
    row = build([job])[0]
    assert row["task_state"] == "processing"
    html = RowBuilder(JobsTable(jobs=[job], column_fields=["name"]).table_config()).render([row])
    assert 'class="badge rounded-pill text-bg-light border tc-task-state"' in html
    assert ">processing<" in html
    job.cached_task_state = "memory"  # an engine's own attribute wins
    assert task_state(job) == "memory"


def test_fingerprint_changes_with_what_polls_show(make_job):
    job = make_job(status="RUN")
    before = fingerprint(job)
    assert fingerprint(TethysJob.objects.get_subclass(pk=job.pk)) == before
    job.set_progress(10, "a")
    after_progress = fingerprint(job)
    assert after_progress != before
    job.set_progress(10, "b")
    assert fingerprint(job) != after_progress
    job.extended_properties = {"task_state": "memory"}
    assert fingerprint(job) != after_progress


def test_progress_shown_only_while_unfinished(make_job):
    job = make_job(status="RUN")
    job.set_progress(55, "halfway")
    row = build([job])[0]
    assert (row["progress"], row["progress_message"]) == (55, "halfway")
    job.update_status("COM")
    row = build([job])[0]
    assert row["progress"] is None and row["active"] is False


def test_various_bar_from_engine_counts(make_job):
    job = make_job(status="VAR")
    job.cached_statuses = {"Completed": 3, "Running": 1}
    row = build([job])[0]
    assert [(s["label"], s["count"]) for s in row["segments"]] == [("Complete", 3), ("Running", 1)]


def test_custom_enabled_callback_failure_disables_only_that_action(make_job):
    job = make_job(status="COM")
    broken = CustomJobAction("Broken", acts.archive, enabled_callback=acts.broken_enabled)
    row = build([job], actions=["delete", broken])[0]
    assert [(a["label"], a["enabled"]) for a in row["actions"]] == [
        ("Delete", True), ("Broken", False)]


def test_without_delay_stale_statuses_are_refreshed_before_rendering(make_job, engine, rf_user):
    job = make_job(status="SUB")
    TethysJob.objects.filter(pk=job.pk).update(
        _last_status_update=timezone.now() - timedelta(hours=1))
    engine[job.pk] = "RUN"
    delayed = JobsTable(jobs=[TethysJob.objects.get_subclass(pk=job.pk)], column_fields=["name"])
    out = Template("{% load tethys_compute %}{% jobs_table t %}").render(
        RequestContext(rf_user, {"t": delayed}))
    assert engine.calls == [] and 'data-status="SUB"' in out
    live = JobsTable(jobs=[TethysJob.objects.get_subclass(pk=job.pk)], column_fields=["name"],
                     delay_loading_status=False)
    out = Template("{% load tethys_compute %}{% jobs_table t %}").render(
        RequestContext(rf_user, {"t": live}))
    assert engine.calls == [job.pk] and 'data-status="RUN"' in out


# --- F17: Tethys's Gizmo Showcase demo rows ---------------------------------------------------
def _showcase_job(user, klass, status, label="gizmo_showcase"):
    job = klass(name="demo", user=user, label=label, _status=status)  # as the showcase saves them
    job.save()
    return job


def _bar(row):
    return {segment["label"]: segment["percent"] for segment in row["segments"]}


def test_showcase_demo_rows_show_tethys_percentages_and_graph(user):
    from tethys_compute.models import BasicJob, CondorWorkflow

    various = _showcase_job(user, BasicJob, "VAR")
    finished = _showcase_job(user, BasicJob, "VCP")
    workflow = _showcase_job(user, CondorWorkflow, "VAR")
    rows = {row["id"]: row for row in build([various, finished, workflow],
                                            show_detailed_status=True)}
    assert _bar(rows[various.pk]) == {"Complete": "40.00", "Running": "30.00", "Error": "10.00",
                                      "Aborted": "5.00", "Waiting": "15.00"}
    assert _bar(rows[finished.pk]) == {"Complete": "80.00", "Error": "15.00", "Aborted": "5.00"}
    assert _bar(rows[workflow.pk]) == {"Complete": "20.00", "Running": "40.00", "Error": "20.00",
                                       "Waiting": "20.00"}
    graph = rows[workflow.pk]["graph"]
    assert [(n["name"], n["group"], n["level"]) for n in graph["nodes"]] == [
        ("Job A", "complete", 0), ("Job B", "error", 1), ("Job C", "running", 1),
        ("Job D", "pending", 1), ("Job E", "pending", 2), ("Job F", "aborted", 2)]
    assert graph["levels"] == 3 and rows[various.pk]["graph"] is None


def test_showcase_special_case_only_for_its_label_and_real_data_wins(user, make_workflow):
    from tethys_compute.models import BasicJob

    other = _showcase_job(user, BasicJob, "VAR", label="my_app")
    assert build([other])[0]["segments"] == []
    real = make_workflow("real", [("only", "Running", [])])
    real.label = "gizmo_showcase"
    real.save()
    row = build([real], show_detailed_status=True)[0]
    assert _bar(row) == {"Running": "100.00"}
    assert [n["name"] for n in row["graph"]["nodes"]] == ["only"]
