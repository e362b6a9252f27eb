"""A one-task ``Delayed`` (``dask.delayed(f)(x)``, Tethys's usual work) is submitted as
its call under the job's key: one task on the scheduler instead of two, the same result
(tethys_compute/engines/dask/delayed_call.py). On a real LocalCluster."""

import dask
import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.engines.dask.delayed_call import single_call


@pytest.fixture
def client(dask_cluster):
    with clients.connection(dask_cluster.scheduler_address) as client:
        yield client


def _run(client, delayed):
    """Submit ``delayed`` as a job does (annotated, held on arrival); its result."""
    key = tasks.new_key("job")
    tasks.submit(client, delayed, key=key, annotation={"key": key, "token": "t0k"},
                 accept_timeout=10)
    wait_until(lambda: tasks.task_states(client, [key], 10)[key] == "memory",
               message=f"{key} to finish")
    try:
        return key, tasks.gather(client, [key], 10)[key]
    finally:
        tasks.release(client, [key])


def test_a_one_task_delayed_runs_as_one_task_under_the_job_key(client, dask_cluster):
    delayed = dask.delayed(work.add)(2, y=3, scale=4)
    key, result = _run(client, delayed)
    assert result == 20
    scheduler = dask_cluster.scheduler
    assert scheduler.story(delayed.key) == []  # the Delayed's own task never existed
    assert [event for event in scheduler.story(key) if event[2] == "memory"]


@pytest.mark.parametrize("make, expected", [
    (lambda: dask.delayed(work.inc)(dask.delayed(work.inc)(1)), 3),  # a dependency
    (lambda: dask.delayed(work.echo)(1, priority=5), [[1], {"priority": 5}]),  # submit's name
], ids=["dependency", "submit-keyword"])
def test_other_delayed_keep_their_graph(client, dask_cluster, make, expected):
    delayed = make()
    key, result = _run(client, delayed)
    assert result == expected
    assert dask_cluster.scheduler.story(delayed.key) != []  # its own task ran, wrapped


def test_layer_annotations_keep_the_graph(client, dask_cluster):
    with dask.annotate(retries=2):
        delayed = dask.delayed(work.inc)(1)
    key, result = _run(client, delayed)
    assert result == 2
    assert dask_cluster.scheduler.story(delayed.key) != []


def test_single_call_reads_the_call_of_a_one_task_graph_only():
    assert single_call(dask.delayed(work.add)(1, y=2)) == (work.add, (1,), {"y": 2})
    assert single_call(dask.delayed(work.echo)([1, [2]], k={"a": (3,)})) == (
        work.echo, ([1, [2]],), {"k": {"a": (3,)}})
    inner = dask.delayed(work.inc)(1)
    assert single_call(dask.delayed(work.inc)(inner)) is None
    assert single_call(dask.delayed(work.echo)([inner])) is None
    assert single_call(inner + 1) is None
    assert single_call(dask.delayed(work.echo)(1, workers="w")) is None
    with dask.annotate(priority=1):
        assert single_call(dask.delayed(work.inc)(1)) is None
