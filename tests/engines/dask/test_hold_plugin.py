"""The scheduler plugin that holds a job's task as its submission arrives
(tethys_compute/engines/dask/hold_plugin.py, installed by tasks.install_holder), on a
real LocalCluster."""

import time

import dask
import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import LOCAL_CLUSTER_OPTIONS, own_client, wait_until
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.engines.dask.hold_plugin import TaskHolder


@pytest.fixture
def client(dask_cluster):
    with clients.connection(dask_cluster.scheduler_address) as client:
        yield client


def _holders(client):
    return [name for name in client.run_on_scheduler(work.client_names)
            if name.startswith("variable-")]


def _submit(client, work_, *args, timeout=30, **kwargs):
    key = tasks.new_key("job")
    tasks.submit(client, work_, *args, key=key, annotation={"key": key, "token": "t"},
                 accept_timeout=timeout, **kwargs)
    return key


def _known(client, key):
    return tasks.task_states(client, [key], 10)[key] is not None


def test_a_jobs_task_is_held_as_it_arrives_without_a_round_trip(client, dask_cluster,
                                                                  monkeypatch):
    tasks.release(client, [_submit(client, work.inc, 0)])  # installs the plugin
    calls = []
    monkeypatch.setattr(tasks, "hold_when_accepted", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(tasks, "hold", lambda *a, **k: calls.append(a))
    inner = dask.delayed(work.inc, pure=True)(1)
    keys = [_submit(client, work.inc, 41), _submit(client, dask.delayed(work.inc)(inner))]
    assert calls == []  # no hold call of the client: the scheduler held them
    for key in keys:
        wait_until(lambda key=key: _known(client, key), message=f"{key} to arrive")
    holders = _holders(client)
    assert {f"variable-{key}" for key in keys} <= set(holders)
    # Only the job's own task is held, not a task of its graph.
    assert f"variable-{inner.key}" not in holders
    from distributed import Variable

    with own_client(dask_cluster.scheduler_address) as other:
        assert [Variable(key, other).get(timeout=20).result(timeout=20) for key in keys] == [
            42, 3]
    tasks.release(client, keys)
    wait_until(lambda: not {f"variable-{key}" for key in keys} & set(_holders(client)),
               message="the holders to go")
    wait_until(lambda: not any(_known(client, key) for key in keys),
               message="the released tasks to be forgotten")


def test_the_plugin_is_registered_once_per_scheduler(client, dask_cluster, monkeypatch):
    first = _submit(client, work.inc, 0)
    plugin = dask_cluster.scheduler.plugins[TaskHolder.name]
    registrations = []
    real = client.sync
    monkeypatch.setattr(client, "sync", lambda f, *a, **k: registrations.append(f)
                        or real(f, *a, **k))
    second = _submit(client, work.inc, 1)
    assert not [f for f in registrations if "register" in str(f)]
    # Another client (another process's) registers the same name: a no-op, one plugin.
    with own_client(dask_cluster.scheduler_address) as other:
        assert tasks.install_holder(other, 10) is True
    assert dask_cluster.scheduler.plugins[TaskHolder.name] is plugin
    held = plugin.held
    key = _submit(client, work.inc, 2)
    wait_until(lambda: plugin.held == held + 1, message="the plugin to hold the task")
    tasks.release(client, [first, second, key])


def test_the_submission_is_sent_at_once_not_at_the_streams_next_interval(dask_cluster):
    # execute() no longer waits for the scheduler, but the submission (and its hold) must
    # still leave at once: a client's stream sends at most once per interval (10 ms; made
    # 120 s here so that waiting shows).
    with own_client(dask_cluster.scheduler_address) as client:
        tasks.release(client, [_submit(client, work.inc, 0)])
        # The release's own message must have left before the interval grows: sent after
        # it, it would hold the next send for 120 s (seen under load).
        wait_until(lambda: not client.scheduler_comm.buffer, message="the release to leave")
        client.scheduler_comm.interval = 120
        client.submit(work.inc, 1, pure=False)  # sent at once: the next send waits 120 s
        wait_until(lambda: not client.scheduler_comm.buffer, message="the first send")
        start = time.monotonic()
        key = _submit(client, work.inc, 1)
        assert time.monotonic() - start < 30
        wait_until(lambda: _known(client, key), timeout=30, message="the task to arrive")
        assert f"variable-{key}" in _holders(client)
        tasks.release(client, [key])
        client.scheduler_comm.interval = 0.01


def test_a_scheduler_that_cannot_hold_refuses_the_plugin(caplog):
    # A scheduler without the variables extension cannot hold tasks this way: the
    # plugin refuses to start, and submissions hold with a round trip instead.
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, **{**LOCAL_CLUSTER_OPTIONS,
                                      "scheduler_kwargs": {"dashboard": False,
                                                           "extensions": {}}}) as cluster:
        with own_client(cluster.scheduler_address) as client:
            assert tasks.install_holder(client, 10) is False
            assert TaskHolder.name not in cluster.scheduler.plugins
            assert "refused the task-holding plugin" in caplog.text
            assert tasks.install_holder(client, 10) is False  # remembered, not asked again
