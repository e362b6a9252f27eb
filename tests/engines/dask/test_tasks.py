"""Task operations by key (tethys_compute/engines/dask/tasks.py) on a real LocalCluster."""

import gc
import time

import dask
import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import own_client, run_python, wait_until
from tethys_compute.engines.dask import clients, tasks


@pytest.fixture
def client(dask_cluster):
    with clients.connection(dask_cluster.scheduler_address) as client:
        yield client


def _state(client, key):
    return tasks.task_states(client, [key], 10)[key]


def _wait_state(client, key, *states, timeout=20):
    wait_until(lambda: _state(client, key) in states, timeout=timeout,
               message=f"{key} to reach {states}")


def test_new_keys_are_unique_and_url_safe():
    keys = {tasks.new_key("my func/<lambda> x") for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        assert key.startswith("my_func_lambda_x-")
        assert all(ch.isalnum() or ch in "_.-" for ch in key)
    assert tasks.new_key("").startswith("task-")


def test_callable_is_held_after_its_future_is_gone(client, dask_cluster):
    key = tasks.new_key("add")
    assert tasks.submit(client, work.add, 1, y=2, scale=3, key=key) == key
    gc.collect()
    _wait_state(client, key, "memory")
    time.sleep(0.2)  # the submitting future was dropped; the holder keeps the result
    assert _state(client, key) == "memory"
    assert tasks.gather(client, [key], 10) == {key: 9}
    tasks.release(client, [key])
    _wait_state(client, key, None)


def test_annotation_reaches_the_scheduler(client, dask_cluster):
    key = tasks.new_key("inc")
    tasks.submit(client, work.inc, 1, key=key, annotation={"key": key, "token": "t0k"})
    _wait_state(client, key, "memory")
    task = dask_cluster.scheduler.tasks[key]
    assert task.annotations[tasks.ANNOTATION] == {"key": key, "token": "t0k"}
    assert dask.get_annotations() == {}  # nothing left in the process's dask config
    tasks.release(client, [key])


def test_identical_delayed_and_futures_get_distinct_keys(client):
    pure = dask.delayed(work.inc, pure=True)(41)
    first = tasks.keyed_delayed(pure, tasks.new_key("inc"))
    second = tasks.keyed_delayed(pure, tasks.new_key("inc"))
    assert first.key != second.key != pure.key
    keys = [tasks.submit(client, d, key=d.key) for d in (first, second)]
    assert keys == [first.key, second.key]
    user_future = client.submit(work.inc, 1)  # pure=True: a shared key
    same_future = client.submit(work.inc, 1)
    assert user_future.key == same_future.key
    wrapped = [tasks.submit(client, f, key=tasks.new_key("inc")) for f in (user_future,
                                                                           same_future)]
    assert wrapped[0] != wrapped[1]
    for key in keys + wrapped:
        _wait_state(client, key, "memory")
    assert tasks.gather(client, keys + wrapped, 10) == {
        keys[0]: 42, keys[1]: 42, wrapped[0]: 2, wrapped[1]: 2}
    tasks.release(client, keys + wrapped)


def test_arguments_only_with_a_function(client):
    with pytest.raises(ValueError, match="only accepted with a function"):
        tasks.submit(client, dask.delayed(work.inc)(1), 2, key=None)
    with pytest.raises(ValueError, match="not int"):
        tasks.submit(client, 5, key="k")


def test_erred_task_details_give_the_exception_text(client):
    key = tasks.new_key("boom")
    tasks.submit(client, work.boom, "the reason", key=key)
    _wait_state(client, key, "erred")
    details = tasks.task_details(client, [key, "unknown"], 10)
    assert "the reason" in details[key]["exception"]
    assert "ValueError" in details[key]["traceback"] or "boom" in details[key]["traceback"]
    assert details["unknown"]["state"] is None
    tasks.release(client, [key])


def test_cancel_forgets_a_running_task(client, tmp_path):
    key = tasks.new_key("nap")
    gate = tmp_path / "gate"
    tasks.submit(client, work.nap_until_file, str(gate), key=key)
    _wait_state(client, key, "processing")
    tasks.cancel(client, [key])
    _wait_state(client, key, None)
    gate.touch()  # let the worker thread (which distributed cannot interrupt) end


def test_gather_of_missing_key_raises_results_missing(client):
    with pytest.raises(tasks.ResultsMissing) as caught:
        tasks.gather(client, ["no-such-key"], 10)
    assert caught.value.keys == ["no-such-key"]


def test_release_after_scheduler_forgot_the_holder_is_harmless(client):
    tasks.release(client, ["never-held"])
    tasks.cancel(client, ["never-held"])
    assert _state(client, "never-held") is None
    assert client.status == "running"


def test_task_survives_the_client_that_submitted_it(dask_cluster, tmp_path):
    gate = tmp_path / "gate"
    with own_client(dask_cluster.scheduler_address) as short_lived:
        key = tasks.new_key("nap")
        tasks.submit(short_lived, work.nap_until_file, str(gate), "done", key=key)
        _wait_state(short_lived, key, "processing")
    gate.touch()
    with clients.connection(dask_cluster.scheduler_address) as client:
        _wait_state(client, key, "memory")
        assert tasks.gather(client, [key], 10) == {key: "done"}
        tasks.release(client, [key])


def test_state_by_key_from_a_process_started_after_submission(client, dask_cluster):
    key = tasks.new_key("add")
    tasks.submit(client, work.add, 20, y=22, key=key)
    _wait_state(client, key, "memory")
    script = (
        "from tethys_compute.engines.dask import clients, tasks\n"
        f"with clients.connection({dask_cluster.scheduler_address!r}) as c:\n"
        f"    print(tasks.task_states(c, [{key!r}], 10)[{key!r}],"
        f" tasks.gather(c, [{key!r}], 10)[{key!r}])\n"
    )
    result = run_python(script)
    assert result.stdout.split() == ["memory", "42"]
    tasks.release(client, [key])


def test_future_for_key_follows_a_task_submitted_elsewhere(client, dask_cluster):
    with own_client(dask_cluster.scheduler_address) as other:
        key = tasks.new_key("inc")
        tasks.submit(other, work.inc, 9, key=key)
    future = tasks.future_for_key(client, key)
    assert future.result(timeout=20) == 10
    assert future.status == "finished"
    del future
    tasks.release(client, [key])


def test_scheduler_info_lists_workers(client, dask_cluster):
    info = tasks.scheduler_info(client, 10)
    assert set(info["workers"]) == set(dask_cluster.scheduler.workers)


def test_logs_of_scheduler_and_workers(client):
    scheduler_lines, worker_lines = tasks.logs(client, 10)
    assert isinstance(scheduler_lines, (list, tuple))
    assert len(worker_lines) == 1


def test_hold_is_a_variable_in_place_when_submit_returns(client, dask_cluster, tmp_path):
    # The hold uses distributed's public Variable: when submit() returns, the scheduler
    # already holds the key for the job's variable (no one-way message still in flight),
    # any client can follow it with Variable.get, and release/cancel delete the variable
    # and its holder on the scheduler.
    from distributed import Variable

    def holders():
        return [name for name in client.run_on_scheduler(work.client_names)
                if name.startswith("variable-")]

    key = tasks.new_key("inc")
    tasks.submit(client, work.inc, 41, key=key)
    assert f"variable-{key}" in holders()
    with own_client(dask_cluster.scheduler_address) as other:
        assert Variable(key, other).get(timeout=20).result(timeout=20) == 42
    tasks.release(client, [key])
    _wait_state(client, key, None)
    assert f"variable-{key}" not in holders()

    gate = tmp_path / "gate"
    running = tasks.new_key("nap")
    tasks.submit(client, work.nap_until_file, str(gate), key=running)
    _wait_state(client, running, "processing")
    tasks.cancel(client, [running], reason="stopped by a test")
    _wait_state(client, running, None)
    wait_until(lambda: f"variable-{running}" not in holders(),
               message="the variable's holder to go")
    gate.touch()


def test_cancel_with_a_closed_client_is_scheduler_unavailable(dask_cluster):
    closed = own_client(dask_cluster.scheduler_address)
    closed.close()
    with pytest.raises(tasks.DaskSchedulerUnavailable, match="cancel"):
        tasks.cancel(closed, ["any-key"])


def test_submit_waits_for_the_task_and_holds_it_in_one_call(client, dask_cluster, monkeypatch):
    # The scheduler's Variable.set waits for the key itself: a submission that waits for
    # its task to be taken in asks no separate status queries (they cost a round trip
    # and a pause each, on every job's execute()).
    from distributed import Variable

    calls = []
    real = tasks.task_states
    monkeypatch.setattr(tasks, "task_states", lambda *a, **k: calls.append(a) or real(*a, **k))
    keys = [tasks.new_key("inc") for _ in range(5)]
    for number, key in enumerate(keys):
        tasks.submit(client, work.inc, number, key=key, accept_timeout=30)
    assert calls == []
    holders = [name for name in client.run_on_scheduler(work.client_names)
               if name.startswith("variable-")]
    assert {f"variable-{key}" for key in keys} <= set(holders)
    with own_client(dask_cluster.scheduler_address) as other:
        assert [Variable(key, other).get(timeout=20).result(timeout=20) for key in keys] == [
            1, 2, 3, 4, 5]
    tasks.release(client, keys)


def test_submit_sends_the_task_at_once_not_at_the_streams_next_interval(dask_cluster):
    # A client's stream to the scheduler sends at most once per interval (10 ms): each
    # execute() waits for the scheduler to have its task, so without sending at once it
    # waits out the rest of the interval. Made 120 s here so that waiting shows.
    with own_client(dask_cluster.scheduler_address) as client:
        assert client.submit(work.inc, 0, pure=False).result(timeout=30) == 1
        client.scheduler_comm.interval = 120
        client.submit(work.inc, 1, pure=False)  # sent at once: the next send waits 120 s
        wait_until(lambda: not client.scheduler_comm.buffer, message="the first send")
        key = tasks.new_key("inc")
        start = time.monotonic()
        tasks.submit(client, work.inc, 1, key=key, accept_timeout=60)
        assert time.monotonic() - start < 30
        assert _state(client, key) in ("waiting", "queued", "processing", "memory")
        tasks.release(client, [key])
        client.scheduler_comm.interval = 0.01
