"""Every Dask task state maps to a job status (tethys_compute/models/dask/
dask_job_status.py, dask_status_map.py). The transient states (released, waiting,
queued, no-worker) are hard to catch on a real cluster at a chosen moment, so the
scheduler's answers are given here directly; the real-cluster paths are in
test_dask_job.py and tests/engines/dask/test_processes.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tethys_compute.models import DaskJob
from tethys_compute.models.dask.dask_refresh import TaskAnswer
from tethys_compute.models.dask.dask_status_map import (
    DASK_TO_STATUS_TYPES,
    FUTURE_STATUS,
    MISSING,
    TASK_STATE_STATUS,
    parse_transition,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running_job(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 1)
    return DaskJob.objects.get(pk=job.pk)


def answer(job, state, **fields):
    job.__dict__["_dask_answer"] = TaskAnswer(state, **fields)
    try:
        job.refresh_from_scheduler()
    finally:
        job.__dict__.pop("_dask_answer", None)
    return DaskJob.objects.get(pk=job.pk)


@pytest.mark.parametrize("state", ["released", "waiting", "queued", "processing"])
def test_waiting_and_running_states_are_running(running_job, state):
    fresh = answer(running_job, state)
    assert fresh.cached_status == "Running" and fresh.status_message is None


def test_no_worker_is_running_with_a_message_cleared_later(running_job):
    fresh = answer(running_job, "no-worker")
    assert fresh.cached_status == "Running" and "no-worker" in fresh.status_message
    assert answer(fresh, "processing").status_message is None


def test_erred_is_error_with_the_exception(running_job):
    fresh = answer(running_job, "erred", exception="ZeroDivisionError('x')")
    assert fresh.cached_status == "Error"
    assert fresh.status_message == "The Dask task raised: ZeroDivisionError('x')"


def test_memory_is_results_ready_then_complete(running_job):
    fresh = answer(running_job, "memory", result=41)
    assert (fresh.cached_status, fresh.result) == ("Complete", 41)


@pytest.mark.parametrize("state", [None, "forgotten"])
def test_unknown_key_is_not_final_within_the_grace(running_job, settings, state):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 3600}
    # Submitted long ago (not a submission that may still be on its way).
    DaskJob.objects.filter(pk=running_job.pk).update(
        execute_time=timezone.now() - timedelta(hours=1))
    running_job.refresh_from_db()
    fresh = answer(running_job, state)
    assert fresh.cached_status == "Running" and "has no task" in fresh.status_message
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 0}
    fresh = answer(fresh, state)
    assert fresh.cached_status == "Error" and "no longer knows this job" in fresh.status_message


@pytest.mark.parametrize("state", [None, "forgotten"])
def test_unknown_key_just_after_execute_is_on_its_way_not_warned(running_job, state):
    # execute() returns once the submission is sent: within the scheduler's timeout, an
    # unknown key the scheduler's hold plugin has not held and forgotten changes nothing
    # (here the task is in fact known: the answer given says otherwise).
    fresh = answer(running_job, state)
    assert fresh.cached_status == "Running" and fresh.status_message is None


def test_unknown_state_changes_nothing(running_job):
    assert answer(running_job, "teleported").cached_status == "Running"


def test_every_state_and_future_status_is_mapped():
    assert set(TASK_STATE_STATUS) == {"released", "waiting", "queued", "no-worker",
                                      "processing", "memory", "erred", "forgotten", None}
    assert set(FUTURE_STATUS) == {"pending", "lost", "finished", "error", "cancelled", None}
    assert FUTURE_STATUS["lost"] == "RUN" and FUTURE_STATUS["cancelled"] == "ABT"
    assert TASK_STATE_STATUS[None] == MISSING
    assert DASK_TO_STATUS_TYPES["waiting-processing"] == "RUN"  # Tethys: RES
    assert DASK_TO_STATUS_TYPES["processing-memory"] == "RES"


@pytest.mark.parametrize("status, expected", [
    ("waiting-processing", ("waiting", "processing")),
    ("waiting-no-worker", ("waiting", "no-worker")),
    ("no-worker-processing", ("no-worker", "processing")),
    ("processing-memory", ("processing", "memory")),
    ("memory", (None, "memory")),
    ("processing-exploded", (None, None)),
    ("", (None, None)),
])
def test_parse_transition(status, expected):
    assert parse_transition(status) == expected
    assert parse_transition("x", start="a", finish="erred") == ("a", "erred")


def test_a_stale_copy_told_the_key_is_unknown_leaves_a_finished_row_alone(running_job, settings):
    # A web process and the monitor load the same Running job; the monitor completes it
    # (and releases its task), then the web process's refresh finds the key unknown. Its
    # warning must not land on the Complete row; it reloads the status instead.
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 3600}
    DaskJob.objects.filter(pk=running_job.pk).update(
        execute_time=timezone.now() - timedelta(hours=1))
    winner = DaskJob.objects.get(pk=running_job.pk)
    loser = DaskJob.objects.get(pk=running_job.pk)
    done = answer(winner, "memory", result=41)
    assert done.cached_status == "Complete"
    for state in (None, "forgotten"):
        fresh = answer(loser, state)
        assert fresh.status_message == done.status_message
        assert fresh.cached_status == "Complete" and fresh.result == 41
        assert loser.cached_status == "Complete"


def test_a_stale_copy_whose_status_query_failed_leaves_a_finished_row_alone(running_job):
    winner = DaskJob.objects.get(pk=running_job.pk)
    loser = DaskJob.objects.get(pk=running_job.pk)
    done = answer(winner, "memory", result=41)
    loser._record_engine_problem("Checking the status failed: scheduler unreachable")
    fresh = DaskJob.objects.get(pk=running_job.pk)
    assert fresh.status_message == done.status_message
    assert fresh._last_status_update == done._last_status_update
    assert loser.cached_status == "Complete"
