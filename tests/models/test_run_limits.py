"""Walltime (issue 15 item 4) and silent BasicJob reporters (item 1): the monitor step
stops Dask and Basic runs over ``max_run_time`` (kind ``walltime``) and fails Basic runs
whose reporter went silent (kind ``lost``), through ``run_failed`` and the retry policy;
HTCondor jobs carry ``allowed_execute_duration`` for HTCondor to enforce."""

from pathlib import Path

import pytest
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tests.htcondor_standin.scenarios import condor_job, fast
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import BasicJob, DaskJob, TethysJob
from tethys_compute.models.run_limits import stop_overdue_runs
from tethys_compute.monitor import run_cycle

pytestmark = pytest.mark.django_db


def _basic(user, **fields):
    job = BasicJob(name="basic", user=user, label="test_app", **fields)
    job.save()
    job.execute()
    job.status = "Running"
    return job


def _age(job, seconds, field="start_time"):
    then = timezone.now() - timezone.timedelta(seconds=seconds)
    TethysJob.objects.filter(pk=job.pk).update(**{field: then, "_last_status_update": then})


def test_a_basic_job_over_its_run_time_fails_with_walltime(user):
    job = _basic(user, max_run_time=60)
    _age(job, 30)
    assert stop_overdue_runs() == 0
    _age(job, 61)
    assert stop_overdue_runs() == 1
    row = TethysJob.objects.get(pk=job.pk)
    assert (row._status, row.failure_kind) == ("ERR", "walltime")
    assert row.failure_reason["max_run_time"] == 60 and row.failure_reason["run_seconds"] >= 61
    assert "over its run time limit of 60 s" in row.status_message
    assert stop_overdue_runs() == 0  # finished: never again


def test_jobs_without_a_limit_or_not_running_are_left_alone(user):
    unlimited = _basic(user)
    _age(unlimited, 10**6)
    waiting = BasicJob(name="w", user=user, label="test_app", max_run_time=1)
    waiting.save()
    waiting.execute()  # Submitted, never seen running: no start_time
    assert stop_overdue_runs() == 0
    assert TethysJob.objects.get(pk=unlimited.pk)._status == "RUN"


def test_walltime_is_retried_when_the_app_asks_and_by_the_monitor_cycle(user):
    job = _basic(user, max_run_time=60, max_attempts=2, retry_delay=0, retry_on=["walltime"])
    _age(job, 120)
    run_cycle()
    row = TethysJob.objects.get(pk=job.pk)
    assert row.failure_kind is None and row.attempt == 2 and row._status == "RUN"
    assert [c.failure_kind for c in row.status_history.all() if c.failure_kind] == ["walltime"]


def test_a_silent_basic_job_is_lost(user, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "BASIC_JOB_SILENT_AFTER": 300}
    job = _basic(user, max_attempts=2, retry_delay=30)
    _age(job, 200, "_last_status_update")
    assert stop_overdue_runs() == 0
    job.set_progress(10)  # a progress report counts as a sign of life
    _age(job, 400, "_last_status_update")
    TethysJob.objects.filter(pk=job.pk).update(
        progress_reported_at=timezone.now() - timezone.timedelta(seconds=100))
    assert stop_overdue_runs() == 0
    TethysJob.objects.filter(pk=job.pk).update(
        progress_reported_at=timezone.now() - timezone.timedelta(seconds=400))
    assert stop_overdue_runs() == 1
    row = TethysJob.objects.get(pk=job.pk)
    assert (row._status, row.failure_kind) == ("PEN", "lost")
    assert row.status_message.startswith("Retry 2 of 2 in 30 s: no status or progress report")


def test_silence_is_off_by_default(user):
    job = _basic(user)
    _age(job, 10**6, "_last_status_update")
    assert stop_overdue_runs() == 0


@pytest.mark.django_db(transaction=True)
def test_a_dask_task_over_its_run_time_is_cancelled_and_fails_with_walltime(make_dask_job,
                                                                            tmp_path):
    job = make_dask_job(max_run_time=1)
    job.execute(work.nap_until_file, str(tmp_path / "never"), None, 0.02, 120)
    key = job.key

    def state():
        with clients.connection(job.scheduler.host, timeout=5) as client:
            return tasks.task_states(client, [key], 5)[key]

    wait_until(lambda: state() == "processing", message="the task to run")
    _age(job, 5)
    assert stop_overdue_runs() == 1
    row = DaskJob.objects.get(pk=job.pk)
    assert (row.cached_status, row.failure_kind) == ("Error", "walltime")
    wait_until(lambda: state() in (None, "forgotten", "released", "cancelled"),
               message="the task to be cancelled")


class TestCondor:
    @pytest.fixture(autouse=True)
    def _fast(self, settings, standin):
        fast(settings)

    def test_the_submit_description_carries_allowed_execute_duration(self, user):
        job = condor_job(user, "limited", arguments="x 0.1", max_run_time=90)
        job.execute()
        descriptions = [p.read_text() for p in Path(job.workspace).rglob("*")
                        if p.is_file() and p.suffix in (".job", ".sub")]
        assert descriptions and all("allowed_execute_duration = 90" in text
                                    for text in descriptions), descriptions

    def test_condor_jobs_are_left_to_htcondor(self, user):
        job = condor_job(user, "limited", arguments="x 5", max_run_time=1)
        job.execute()
        _age(job, 100)
        assert stop_overdue_runs() == 0


def test_the_step_loads_only_runs_over_their_time(user):
    """The time test is done in SQL and HTCondor's own jobs (HTCondor holds them at the
    limit) are left out: a monitor cycle over many limited runs loads only the overdue
    ones (issue 17)."""
    from unittest import mock

    from tethys_compute.models import CondorJob, CondorScheduler, run_limits

    within = [_basic(user, max_run_time=3600) for _ in range(4)]
    for job in within:
        _age(job, 10)
    over = _basic(user, max_run_time=60)
    _age(over, 61)
    scheduler = CondorScheduler.objects.create(name="c", host="localhost")
    for index in range(3):
        condor = CondorJob.objects.create(name=f"c{index}", user=user, label="test_app",
                                          scheduler=scheduler, max_run_time=5)
        TethysJob.objects.filter(pk=condor.pk).update(_status="RUN")
        _age(condor, 100)
    with mock.patch.object(run_limits, "_check", wraps=run_limits._check) as check:
        assert stop_overdue_runs() == 1
    assert [call.args[0].pk for call in check.call_args_list] == [over.pk]
    assert TethysJob.objects.filter(_status="RUN").count() == 4 + 3
