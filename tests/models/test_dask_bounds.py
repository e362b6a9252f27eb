"""Dask jobs whose scheduler is down (closed port) or silent (accepts, never answers):
every engine call answers within the scheduler's timeout and leaves the job in a clear
state with the reason; a failed scheduler is not asked again by every call."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.unreachable import SilentScheduler, closed_port_address, timed
from tethys_compute.engines.dask import clients
from tethys_compute.models import DaskJob, DaskJobException, DaskScheduler, TethysJob

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 1  # the scheduler's own timeout field, seconds
SLACK = 4.0  # what a loaded machine may add (database work included)


@pytest.fixture(autouse=True)
def _fresh_clients(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 30}
    clients.close_all()
    yield
    clients.close_all()


@pytest.fixture(params=["down", "silent"])
def unreachable(request):
    if request.param == "down":
        yield closed_port_address()
        return
    scheduler = SilentScheduler()
    yield scheduler.address
    scheduler.close()


@pytest.fixture
def scheduler(unreachable):
    return DaskScheduler.objects.create(name="gone", host=unreachable, timeout=TIMEOUT)


@pytest.fixture
def make_job(user, scheduler):
    from tests.testapp.app import TestApp

    manager = TestApp.get_job_manager()
    return lambda name="dask job": manager.create_job(name, user, job_type="DASK",
                                                      scheduler=scheduler)


def running(job, key="work-0123456789abcdef0123456789abcdef"):
    """The job as if its task had been submitted before the scheduler went away."""
    job.save()
    TethysJob.objects.filter(pk=job.pk).update(
        _status="RUN", _last_status_update=timezone.now() - timedelta(hours=1))
    DaskJob.objects.filter(pk=job.pk).update(key=key)
    return DaskJob.objects.get(pk=job.pk)


def within(outcome, bound=TIMEOUT + SLACK):
    assert outcome.finished, "the call never returned"
    assert outcome.seconds < bound, outcome.seconds
    return outcome


def test_execute_ends_in_error_with_the_reason_within_the_timeout(make_job, scheduler):
    job = make_job()
    outcome = within(timed(lambda: job.execute(work.add, 1, 2)))
    assert outcome.error is None, outcome.error
    job = DaskJob.objects.get(pk=job.pk)
    assert job.cached_status == "Error"
    assert scheduler.address in job.status_message
    assert job.key is None


def test_later_calls_do_not_pay_the_timeout_again(make_job):
    first = make_job("first")
    within(timed(lambda: first.execute(work.add, 1, 2)))
    second = make_job("second")
    outcome = within(timed(lambda: second.execute(work.add, 1, 2)), bound=1.0)
    assert DaskJob.objects.get(pk=second.pk).cached_status == "Error"
    assert "not asked again" in DaskJob.objects.get(pk=second.pk).status_message
    assert outcome.error is None


def test_status_keeps_running_with_the_reason(make_job, scheduler):
    job = running(make_job())
    outcome = within(timed(lambda: job.status))
    assert outcome.value == "Running"
    job = DaskJob.objects.get(pk=job.pk)
    assert job.cached_status == "Running"
    assert scheduler.address in job.status_message


def test_stop_raises_within_the_timeout_and_keeps_the_status(make_job):
    job = running(make_job())
    outcome = within(timed(job.stop))
    assert isinstance(outcome.error, DaskJobException), outcome.error
    assert DaskJob.objects.get(pk=job.pk).cached_status == "Running"


def test_logs_say_why_within_the_timeout(make_job, scheduler):
    job = running(make_job())
    outcome = within(timed(job.get_logs))
    assert outcome.error is None, outcome.error
    assert scheduler.address in str(outcome.value)


def test_resubmit_ends_in_error_within_the_timeout(make_job, scheduler):
    job = running(make_job())
    outcome = within(timed(lambda: job.resubmit(work.add, 1, 2)), bound=2 * TIMEOUT + SLACK)
    assert outcome.error is None or isinstance(outcome.error, DaskJobException), outcome.error
    job = DaskJob.objects.get(pk=job.pk)
    assert job.cached_status == "Error"
    assert scheduler.address in job.status_message


def test_delete_answers_within_the_timeout(make_job):
    """An active job is refused (its task could not be stopped), a finished one goes; both
    within the timeout (docs/jobs.rst, the deletion rule)."""
    from tethys_compute.exceptions import RemoteWorkNotStopped

    active = running(make_job("active"))
    outcome = within(timed(active.delete))
    assert isinstance(outcome.error, RemoteWorkNotStopped), outcome.error
    assert TethysJob.objects.filter(pk=active.pk).exists()
    finished = running(make_job("finished"))
    TethysJob.objects.filter(pk=finished.pk).update(_status="ABT")
    finished = DaskJob.objects.get(pk=finished.pk)
    within(timed(finished.delete))
    assert not TethysJob.objects.filter(pk=finished.pk).exists()


def test_connection_test_answers_within_the_timeout(scheduler):
    outcome = within(timed(scheduler.test_connection))
    assert isinstance(outcome.error, DaskJobException)
    assert scheduler.address in str(outcome.error)
