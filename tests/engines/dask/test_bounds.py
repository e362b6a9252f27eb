"""Every connection to a Dask scheduler is bounded, handshake included, and a scheduler
that failed is remembered briefly (tethys_compute/engines/dask/clients.py)."""

import time

import pytest

from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.unreachable import SilentScheduler, closed_port_address, timed
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.engines.dask.errors import DaskSchedulerUnavailable

#: What a request may spend beyond the timeout it was given (a loaded machine).
SLACK = 4.0


@pytest.fixture(autouse=True)
def _fresh_clients():
    clients.close_all()
    yield
    clients.close_all()


@pytest.fixture
def silent():
    scheduler = SilentScheduler()
    yield scheduler
    scheduler.close()


def _connect(address, timeout):
    with clients.connection(address, timeout=timeout):
        pass


def test_a_silent_scheduler_is_given_up_within_the_timeout(silent):
    outcome = timed(lambda: _connect(silent.address, 1))
    assert outcome.finished, "connecting to a silent scheduler never returned"
    assert isinstance(outcome.error, DaskSchedulerUnavailable), outcome.error
    assert silent.address in str(outcome.error)
    assert outcome.seconds < 1 + SLACK, outcome.seconds
    assert silent.accepted >= 1  # it did connect: the handshake is what went unanswered


@pytest.mark.parametrize("kind", ["down", "silent"])
def test_a_failed_scheduler_is_remembered_briefly(kind, silent, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 30}
    address = silent.address if kind == "silent" else closed_port_address()
    first = timed(lambda: _connect(address, 1))
    assert isinstance(first.error, DaskSchedulerUnavailable)
    accepted = silent.accepted
    for _ in range(3):
        again = timed(lambda: _connect(address, 1))
        assert isinstance(again.error, DaskSchedulerUnavailable)
        assert again.seconds < 0.5, again.seconds
        assert "failed" in str(again.error) and address in str(again.error)
    assert silent.accepted == accepted  # not asked again


def test_the_memory_runs_out(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 0.5}
    address = closed_port_address()
    timed(lambda: _connect(address, 0.5))
    time.sleep(0.6)
    again = timed(lambda: _connect(address, 0.5))
    assert isinstance(again.error, DaskSchedulerUnavailable)
    assert "failed" not in str(again.error).split(":")[0]
    assert again.seconds >= 0.4  # tried again for real


def test_a_scheduler_that_answers_again_is_used_at_once(dask_cluster, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 30}
    address = dask_cluster.scheduler_address
    clients.remember_failure(address, DaskSchedulerUnavailable("gone", address=address))
    with pytest.raises(DaskSchedulerUnavailable):
        _connect(address, 5)
    clients.forget_failure(address)
    _connect(address, 5)


def test_a_scheduler_call_that_times_out_is_remembered(silent, dask_cluster, settings):
    """A client that is connected but whose scheduler stopped answering (died mid-job)."""
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 30}
    address = dask_cluster.scheduler_address

    def stalled_call():
        with clients.connection(address, timeout=5):
            raise DaskSchedulerUnavailable("no answer (test)", address=address)

    with pytest.raises(DaskSchedulerUnavailable):
        stalled_call()
    again = timed(lambda: _connect(address, 5))
    assert isinstance(again.error, DaskSchedulerUnavailable)
    assert again.seconds < 0.5


def test_a_missing_result_does_not_count_as_a_failed_scheduler(dask_cluster, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 30}
    address = dask_cluster.scheduler_address
    with pytest.raises(tasks.ResultsMissing):
        with clients.connection(address, timeout=5):
            raise tasks.ResultsMissing("a worker left (test)", ["k"], address=address)
    _connect(address, 5)


def test_scheduler_logs_are_bounded(dask_cluster, monkeypatch):
    """``tasks.logs`` passes its timeout to the scheduler call."""
    address = dask_cluster.scheduler_address
    with clients.connection(address, timeout=5) as client:
        scheduler_lines, worker_lines = tasks.logs(client, 5)
        assert isinstance(scheduler_lines, (list, tuple))
        assert worker_lines

        async def never(**kwargs):
            import asyncio

            await asyncio.sleep(3600)

        monkeypatch.setattr(type(client.scheduler), "logs", lambda self, **kw: never(),
                            raising=False)
        outcome = timed(lambda: tasks.logs(client, 0.5))
        assert outcome.finished
        assert isinstance(outcome.error, DaskSchedulerUnavailable), outcome.error
        assert outcome.seconds < 0.5 + SLACK
