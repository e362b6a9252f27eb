"""Public behaviours that Tethys 4.6.1's own unit tests expect of the Jobs API
(tests/unit_tests/test_tethys_compute): each one held here, or a deliberate, documented
difference (docs/differences.rst)."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.testapp.app import TestApp
from tests.testapp.fixtures import make_jobs, row
from tethys_compute.exceptions import JobStateError
from tethys_compute.models import (
    BasicJob,
    CondorWorkflow,
    CondorWorkflowJobNode,
    DaskJob,
    DaskScheduler,
    TethysJob,
)

pytestmark = pytest.mark.django_db

CALLS = []


def record_call(job):
    """A process_results_function (module level, importable)."""
    CALLS.append(job.pk)


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()


# --- status on a job fresh from create_job() (not saved) ------------------------------------
def test_reading_status_of_an_unsaved_job_saves_it(user):
    job = TestApp.get_job_manager().create_job("fresh", user, job_type="BASIC")
    assert job.pk is None
    assert job.status == "Pending"
    assert job.pk is not None and row(job)._status == "PEN"


def test_setting_status_of_an_unsaved_job_applies_and_saves_it(user):
    job = TestApp.get_job_manager().create_job("fresh", user, job_type="BASIC")
    job.status = "Running"
    assert row(job)._status == "RUN" and row(job).start_time is not None


@pytest.mark.parametrize("status, shown", [("Pending", "Pending"), ("RUN", "Running"),
                                           ("Test", "Test")])
def test_update_status_of_an_unsaved_job_applies_and_saves_it(user, status, shown):
    job = TestApp.get_job_manager().create_job("fresh", user, job_type="BASIC")
    job.update_status(status)
    assert job.pk is not None
    assert row(job).cached_status == shown == job.status


def test_update_status_without_a_status_on_an_unsaved_job_saves_it(user):
    job = TestApp.get_job_manager().create_job("fresh", user, job_type="DASK")
    assert not job.update_status()  # nothing to refresh: never submitted
    assert row(job)._status == "PEN"


# --- cached node statuses ------------------------------------------------------------------------
def test_cached_node_statuses_has_every_htcondor_status(user):
    workflow = CondorWorkflow.objects.create(name="wf", user=user, label="test_app")
    expected = {"Unexpanded": 0, "Idle": 0, "Running": 0, "Removed": 0, "Completed": 0,
                "Held": 0, "Submission_err": 0}
    assert workflow.cached_node_statuses == expected
    CondorWorkflowJobNode(name="a", workflow=workflow, attributes={}).save()
    CondorWorkflowJobNode(name="b", workflow=workflow, attributes={},
                          cached_node_status="Running").save()
    statuses = workflow.cached_node_statuses
    assert statuses["Running"] == 1 and statuses["Unexpanded"] == 1
    assert statuses["Completed"] == 0 and statuses["Held"] == 0
    assert set(expected) <= set(statuses)


# --- process_results() on a job not in a results status -------------------------------------------
def test_process_results_on_a_job_without_an_engine_completes_it_as_tethys(user):
    job = BasicJob.objects.create(name="b", user=user, label="test_app")
    job.process_results_function = record_call
    job.save()
    assert job.process_results() is True
    stored = row(job)
    assert stored._status == "COM" and stored.completion_time is not None
    assert CALLS == [job.pk]


def test_process_results_on_an_active_engine_job_is_refused(user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, state="running", status="RUN")
    with pytest.raises(JobStateError, match="Running.*results are processed"):
        job.process_results()
    assert row(job)._status == "RUN" and row(job).completion_time is None


@pytest.mark.parametrize("status", ["COM", "ERR", "ABT"])
def test_process_results_on_a_finished_job_does_nothing(user, status):
    job = BasicJob.objects.create(name="b", user=user, label="test_app", _status=status,
                                  completion_time=timezone.now())
    job.process_results_function = record_call
    job.save()
    assert job.process_results() is False
    assert row(job)._status == status and CALLS == []


# --- small ones -----------------------------------------------------------------------------------
def test_dask_job_done_without_a_task_is_none(user):
    scheduler = DaskScheduler.objects.create(name="d", host="127.0.0.1:1")
    job = DaskJob(name="dj", user=user, label="test_app", scheduler=scheduler)
    assert job.done() is None
    job.save()
    assert job.done() is None


# --- STATUS_REPORT_MAX_AGE, per class -------------------------------------------------------------
def test_status_report_max_age_defaults_to_the_setting(settings):
    assert TethysJob.STATUS_REPORT_MAX_AGE == timedelta(days=30)
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "STATUS_REPORT_MAX_AGE": 60}
    assert TethysJob.STATUS_REPORT_MAX_AGE == BasicJob.STATUS_REPORT_MAX_AGE == timedelta(
        seconds=60)


def report(job, token):
    return Client().post(f"/report-job-status/{job.pk}/", json.dumps(
        {"token": token, "status": "Running"}), content_type="application/json")


def test_status_report_max_age_set_on_tethys_job_is_honoured(user, monkeypatch):
    job = BasicJob.objects.create(name="b", user=user, label="test_app", _status="SUB")
    token = job.status_report_token
    monkeypatch.setattr(TethysJob, "STATUS_REPORT_MAX_AGE", timedelta(seconds=-1))
    assert TethysJob.id_from_status_report_token(token) is None
    assert report(job, token).status_code == 403
    monkeypatch.undo()
    assert report(job, token).status_code == 200


def test_status_report_max_age_set_on_a_class_counts_for_that_class(user, monkeypatch,
                                                                     fake_engine):
    basic = BasicJob.objects.create(name="b", user=user, label="test_app", _status="SUB")
    (other,) = make_jobs(fake_engine, user, 1, state="queued")
    monkeypatch.setattr(BasicJob, "STATUS_REPORT_MAX_AGE", timedelta(seconds=-1))
    assert report(basic, basic.status_report_token).status_code == 403
    assert row(basic)._status == "SUB"
    assert report(other, other.status_report_token).status_code == 200
    # A longer max age on a class lets its older tokens through.
    monkeypatch.setattr(TethysJob, "STATUS_REPORT_MAX_AGE", timedelta(seconds=-1))
    monkeypatch.setattr(BasicJob, "STATUS_REPORT_MAX_AGE", timedelta(days=1))
    assert report(basic, basic.status_report_token).status_code == 200
