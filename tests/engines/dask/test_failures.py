"""Failed Dask runs classified from the scheduler's own records (issue 15 item 1) and
retried by the job's policy (item 2), on real clusters on 127.0.0.1: a task exception is
``exit``, workers dying under the task (``KilledWorker``) is ``lost``, a worker restarted
by its nanny for exceeding ``memory_limit`` is ``memory``; a lost run is retried as a new
task and completes, its result processed once."""

import dask
import pytest
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import LOCAL_CLUSTER_OPTIONS, poll_job, wait_until
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob, DaskScheduler
from tethys_compute.models.retries import start_due_retries

TERMINAL = ("Complete", "Error", "Aborted")


def _poll(job, until, timeout=90):
    return poll_job(job, until, timeout)


def _state(job):
    with clients.connection(job.scheduler.host, timeout=5) as client:
        return tasks.task_states(client, [job.key], 5)[job.key]


@pytest.mark.django_db(transaction=True)
def test_a_task_exception_is_exit_with_its_type(make_dask_job):
    job = make_dask_job()
    job.execute(work.boom, "bad input")
    row = _poll(job, TERMINAL)
    assert row.cached_status == "Error"
    assert row.failure_kind == "exit"
    assert row.failure_reason["exception_type"] == "ValueError"
    assert "bad input" in row.failure_reason["message"]
    assert row.status_message == "The Dask task raised: ValueError('bad input')"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_task_is_lost_then_retried_and_completes_once(
        dask_processes, make_dask_job, tmp_path):
    processes = dask_processes(env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    processes.start_scheduler()
    processes.start_worker()
    processes.wait_for_workers(1)
    scheduler = DaskScheduler.objects.create(name="pair", host=processes.address, timeout=5)
    gate = tmp_path / "gate"
    job = make_dask_job(scheduler=scheduler, max_attempts=2, retry_delay=0)
    job.execute(work.nap_until_file, str(gate), "survived")
    first_key = job.key
    wait_until(lambda: _state(job) == "processing", message="the task to run")
    processes.kill(processes.workers[0])

    row = _poll(job, ("Pending", *TERMINAL))
    assert row.cached_status == "Pending" and not row.is_terminal
    assert row.failure_kind == "lost" and row.failure_reason["exception_type"] == "KilledWorker"
    assert row.status_message.startswith("Retry 2 of 2 in 0 s: The Dask workers running the "
                                         "task died: KilledWorker")
    gate.touch()
    processes.start_worker()
    processes.wait_for_workers(1)
    assert start_due_retries(now=timezone.now()) == 1

    row = _poll(DaskJob.objects.get(pk=job.pk), TERMINAL)
    assert (row.cached_status, row.result, row.attempt) == ("Complete", "survived", 2)
    assert row.key != first_key and row.failure_kind is None
    history = list(row.status_history.all())
    assert [c.attempt for c in history if c.failure_kind] == [1]
    assert [c.new_status for c in history].count("COM") == 1  # result processed once
    assert [c.attempt for c in history if c.new_status == "COM"] == [2]


@pytest.fixture
def small_cluster():
    """Two-process LocalCluster whose one worker (behind a nanny) may use 300 MiB, and a
    scheduler that fails a task at the first worker death."""
    from distributed import LocalCluster

    options = {**LOCAL_CLUSTER_OPTIONS, "processes": True}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="300MiB",
                               **options)
    yield cluster
    clients.close_client(cluster.scheduler_address)
    cluster.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_over_the_worker_memory_limit_is_memory(small_cluster, make_dask_job):
    scheduler = DaskScheduler.objects.create(name="small", host=small_cluster.scheduler_address,
                                             timeout=10)
    job = make_dask_job(scheduler=scheduler)
    job.execute(work.hog, 600)
    row = _poll(job, TERMINAL, timeout=120)
    assert row.cached_status == "Error"
    assert row.failure_kind == "memory", row.failure_reason
    assert row.failure_reason["memory_killed"]
    assert row.failure_reason["memory_used_mb"] > 250
    assert "exceeding its memory limit" in row.status_message


@pytest.mark.django_db(transaction=True)
def test_a_retried_jobs_first_run_output_is_kept_and_shown(make_dask_job, tmp_path):
    # Issue 15 item 2: each run's task key keeps its output; get_logs shows earlier runs.
    job = make_dask_job(max_attempts=2, retry_delay=0, retry_on=["exit"])
    job.execute(work.fail_first_time, str(tmp_path / "tried"), "ok")
    first_attempt = job.attempt
    row = _poll(job, ("Pending", *TERMINAL))
    assert row.cached_status == "Pending", row.status_message
    assert start_due_retries(now=timezone.now()) == 1
    row = _poll(DaskJob.objects.get(pk=job.pk), TERMINAL)
    assert (row.cached_status, row.result) == ("Complete", "ok")
    logs = row.get_logs()
    assert logs["stdout"]() == "second run output\n"
    earlier = logs[f"Run {first_attempt}"]
    assert earlier["stdout"]() == "first run output\n"
    assert "RuntimeError: first run fails" in earlier["Task"]
