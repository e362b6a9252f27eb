"""Failure kinds and retries on the model (issue 15 items 1 and 2): ``run_failed`` records
the kind and the engine's reason, and the retry policy either schedules the next attempt
(the job stays non-terminal, Pending, with "Retry n of m in s: ...") or ends in Error.
The monitor step starts due retries through resubmit's machinery."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tethys_compute import failure_kinds as fk
from tethys_compute.failure_kinds import Failure
from tethys_compute.job_manager import JobManager
from tethys_compute.models import BasicJob, TethysJob
from tethys_compute.models.retries import start_due_retries
from tethys_compute.models.validation import InvalidField

pytestmark = pytest.mark.django_db

MEMORY = Failure(fk.MEMORY, "held for exceeding its memory request (asked 2048 MB, used 2311 MB)",
                 {"hold_reason_code": 34, "memory_requested_mb": 2048, "memory_used_mb": 2311})
EXIT = Failure(fk.EXIT, "the task raised ValueError('boom')", {"exception_type": "ValueError"})


def _job(user, **fields):
    job = JobManager(type("App", (), {"package": "test_app"})()).create_job(
        "retried", user, job_type=BasicJob, **fields)
    job.save()
    job.execute()
    job.status = "Running"
    return job


def _row(job):
    return TethysJob.objects.get(pk=job.pk)


def test_failure_without_retries_ends_in_error_with_kind_and_reason(user):
    job = _job(user)
    assert job.run_failed(MEMORY) is True
    row = _row(job)
    assert row._status == "ERR" and row.completion_time is not None
    assert row.failure_kind == "memory"
    assert row.failure_reason == MEMORY.as_dict()
    assert row.status_message == MEMORY.message
    last = row.status_history.last()
    assert (last.new_status, last.failure_kind, last.attempt) == ("ERR", "memory", 1)
    assert "memory" in last.reason and "2311 MB" in last.reason


def test_retryable_failure_schedules_the_next_attempt_non_terminal(user):
    job = _job(user, max_attempts=3, retry_delay=60)
    before = timezone.now()
    assert job.run_failed(MEMORY) is True
    row = _row(job)
    assert row._status == "PEN" and not row.is_terminal and row.completion_time is None
    assert row.status_message == ("Retry 2 of 3 in 60 s: held for exceeding its memory "
                                  "request (asked 2048 MB, used 2311 MB)")
    assert before + timedelta(seconds=59) <= row.retry_due_at <= timezone.now() + timedelta(seconds=61)
    assert row.failure_kind == "memory" and row.attempt == 1
    last = row.status_history.last()
    assert (last.old_status, last.new_status, last.failure_kind) == ("RUN", "PEN", "memory")
    assert "Retry 2 of 3" in last.reason
    # A Pending job waiting for its retry cannot be executed again by hand ...
    with pytest.raises(Exception, match="submitted"):
        row.execute()


def test_exit_is_retried_only_when_the_app_asks(user):
    job = _job(user, max_attempts=3)
    job.run_failed(EXIT)
    assert _row(job)._status == "ERR"
    job = _job(user, max_attempts=3, retry_on=["exit", "lost"])
    job.run_failed(EXIT)
    assert _row(job)._status == "PEN"
    job = _job(user, max_attempts=3, retry_on=["exit"])
    job.run_failed(Failure(fk.LOST, "worker lost"))
    assert _row(job)._status == "ERR"


def test_settings_give_the_defaults(user, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_ATTEMPTS": 2,
                               "RETRY_DELAY": 5, "RETRY_ON": ["exit"]}
    job = _job(user)
    job.run_failed(EXIT)
    assert _row(job).status_message.startswith("Retry 2 of 2 in 5 s: ")


def _fail_and_restart(job, failure, now):
    """Fail the current attempt, then run the monitor step once the retry is due."""
    assert job.run_failed(failure)
    due = _row(job).retry_due_at
    started = start_due_retries(now=due + timedelta(seconds=1))
    return due, started


def test_delay_doubles_up_to_the_cap_and_every_attempt_is_in_the_history(user, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "RETRY_DELAY_CAP": 150}
    job = _job(user, max_attempts=4, retry_delay=60)
    delays = []
    for number in (1, 2, 3):
        job = BasicJob.objects.get(pk=job.pk)
        failed_at = timezone.now()
        due, started = _fail_and_restart(job, Failure(fk.LOST, f"lost {number}"), failed_at)
        delays.append(round((due - failed_at).total_seconds()))
        assert started == 1
        row = _row(job)
        assert row.attempt == number + 1 and row._status == "RUN" and row.retry_due_at is None
        assert row.failure_kind is None  # the new run has not failed
    assert delays == [60, 120, 150]
    job = BasicJob.objects.get(pk=job.pk)
    job.run_failed(Failure(fk.LOST, "lost 4"))
    row = _row(job)
    assert row._status == "ERR" and row.status_message == "lost 4"
    failures = [(c.attempt, c.failure_kind) for c in row.status_history.all() if c.failure_kind]
    assert failures == [(1, "lost"), (2, "lost"), (3, "lost"), (4, "lost")]
    assert [c.attempt for c in row.status_history.filter(reason__startswith="retry")] == [2, 3, 4]


def test_a_retry_not_yet_due_is_not_started(user):
    job = _job(user, max_attempts=2, retry_delay=60)
    job.run_failed(MEMORY)
    assert start_due_retries(now=timezone.now() + timedelta(seconds=30)) == 0
    assert _row(job)._status == "PEN" and _row(job).attempt == 1


def test_due_retries_start_oldest_due_first_within_the_limit(user):
    jobs = [_job(user, max_attempts=2, retry_delay=delay) for delay in (90, 30, 60)]
    for job in jobs:
        job.run_failed(MEMORY)
    later = timezone.now() + timedelta(seconds=200)
    assert start_due_retries(now=later, limit=2) == 2
    assert [_row(job).attempt for job in jobs] == [1, 2, 2]


def test_a_stale_run_or_a_finished_job_is_not_changed(user):
    job = _job(user, max_attempts=3)
    assert job.run_failed(MEMORY, attempt=0) is False
    assert _row(job)._status == "RUN" and _row(job).failure_kind is None
    job.status = "Complete"
    assert job.run_failed(MEMORY) is False
    assert _row(job)._status == "COM" and _row(job).failure_kind is None


def test_resubmit_by_hand_during_the_wait_runs_now_and_cancels_the_wait(user):
    job = _job(user, max_attempts=3)
    job.run_failed(MEMORY)
    job = BasicJob.objects.get(pk=job.pk)
    job.resubmit()
    row = _row(job)
    assert row._status == "RUN" and row.attempt == 2 and row.retry_due_at is None
    assert start_due_retries(now=timezone.now() + timedelta(days=1)) == 0
    # a new series: its attempts count from here
    BasicJob.objects.get(pk=job.pk).run_failed(MEMORY)
    assert _row(job).status_message.startswith("Retry 2 of 3")


@pytest.mark.parametrize("fields, name", [
    ({"max_attempts": 0}, "max_attempts"),
    ({"retry_on": ["memory", "bogus"]}, "retry_on"),
    ({"retry_on": "memory"}, "retry_on"),
    ({"max_run_time": -5}, "max_run_time"),
    # found by trial: a nested list raised TypeError (unhashable), a fraction was
    # silently cut to a whole number (1.7 attempts became 1)
    ({"retry_on": [["lost"]]}, "retry_on"),
    ({"retry_on": [{"kind": "lost"}]}, "retry_on"),
    ({"max_attempts": 1.7}, "max_attempts"),
    ({"retry_delay": 0.5}, "retry_delay"),
    ({"max_attempts": 0.0}, "max_attempts"),
])
def test_bad_retry_settings_are_refused_naming_the_field(user, fields, name):
    with pytest.raises(InvalidField, match=name):
        JobManager(type("App", (), {"package": "test_app"})()).create_job(
            "bad", user, job_type=BasicJob, **fields)
    assert not TethysJob.objects.exists()


def test_run_failed_wants_a_failure(user):
    job = _job(user)
    with pytest.raises(TypeError, match="Failure"):
        job.run_failed("memory")


def test_a_refused_submission_is_an_engine_failure(user):
    from tests.testapp.models import EngineJob

    job = EngineJob(name="refused", user=user, label="test_app")
    job.save()
    job.execute(fail="scheduler said no")
    row = _row(job)
    assert (row._status, row.failure_kind) == ("ERR", "engine")
    assert row.failure_reason == {"kind": "engine", "message": "Execute failed: scheduler said no",
                                  "exception_type": "RuntimeError"}
    assert row.status_history.last().failure_kind == "engine"
