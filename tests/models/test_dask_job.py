"""DaskJob on a real LocalCluster (tethys_compute/models/dask/dask_job.py)."""

from pathlib import Path

import dask
import pytest
from distributed import Client

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.engines.dask.computation import FILENAME
from tethys_compute.exceptions import JobStateError
from tethys_compute.models import DaskJob, DaskJobException, DaskScheduler, JobStatusChange

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("Complete", "Error", "Aborted")


def drive(job, timeout=20):
    """Poll the job's status (the pull path) until it is terminal; return it."""
    wait_until(lambda: job.status in TERMINAL, timeout=timeout,
               message=f"job {job.pk} to finish")
    return job.cached_status


def task_state(job):
    with clients.connection(job.scheduler.host) as client:
        return tasks.task_states(client, [job.key], 10)[job.key]


def wait_task_state(job, *states, timeout=20):
    wait_until(lambda: task_state(job) in states, timeout=timeout,
               message=f"task of job {job.pk} to reach {states}")


def reload(job):
    return DaskJob.objects.get(pk=job.pk)


# --- execute ---------------------------------------------------------------------------
def test_function_with_arguments_runs_to_complete(make_dask_job):
    job = make_dask_job()
    job.execute(work.add, 2, y=3, scale=10)
    assert job.cached_status == "Running"  # Tethys ends Submitted (reference 10.6)
    fresh = reload(job)
    assert fresh.cached_status == "Running" and fresh.start_time and fresh.execute_time
    assert fresh.key == job.key and fresh.key.startswith("add-")
    assert drive(job) == "Complete"
    fresh = reload(job)
    assert fresh.result == 50
    assert fresh.completion_time is not None
    assert [c.new_status for c in JobStatusChange.objects.filter(job_id=job.pk)
            .order_by("id")] == ["RUN", "RES", "COM"]


def test_delayed_runs_and_identical_jobs_get_their_own_keys(make_dask_job):
    total = dask.delayed(sum)([dask.delayed(work.inc, pure=True)(i) for i in range(4)])
    jobs = [make_dask_job(name=f"d{i}") for i in range(2)]
    for job in jobs:
        job.execute(total)
    assert jobs[0].key != jobs[1].key
    assert total.key not in (jobs[0].key, jobs[1].key)
    for job in jobs:
        assert drive(job) == "Complete"
        assert reload(job).result == 10


def test_future_runs_and_identical_futures_get_their_own_keys(make_dask_job, dask_scheduler):
    client = dask_scheduler.client
    first = make_dask_job(name="f1")
    second = make_dask_job(name="f2")
    future = client.submit(work.inc, 41)  # pure: the same key for identical calls
    first.execute(future)
    second.execute(client.submit(work.inc, 41))
    assert first.key != second.key and future.key not in (first.key, second.key)
    assert drive(first) == drive(second) == "Complete"
    assert reload(first).result == reload(second).result == 42


@pytest.mark.parametrize("bad", [None, 42, "text"])
def test_bad_work_ends_in_error_with_the_reason(make_dask_job, bad):
    job = make_dask_job()
    job.execute(bad) if bad is not None else job.execute()
    fresh = reload(job)
    assert fresh.cached_status == "Error"
    assert "Delayed" in fresh.status_message and "Future" in fresh.status_message


def test_job_without_scheduler_fails_clearly(user):
    from tests.testapp.app import TestApp

    job = TestApp.get_job_manager().create_job("no scheduler", user, job_type="DASK")
    job.execute(work.inc, 1)
    assert reload(job).cached_status == "Error"
    assert "has no scheduler" in reload(job).status_message
    with pytest.raises(DaskJobException, match="has no scheduler"):
        job.client


def test_unreachable_scheduler_fails_execute_naming_the_address(make_dask_job):
    scheduler = DaskScheduler.objects.create(name="gone", host="tcp://127.0.0.1:9", timeout=1)
    job = make_dask_job(scheduler=scheduler)
    job.execute(work.inc, 1)
    fresh = reload(job)
    assert fresh.cached_status == "Error"
    assert "tcp://127.0.0.1:9" in fresh.status_message
    assert fresh.key is None  # the key chosen for the row never ran


def test_execute_twice_is_refused(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 1)
    with pytest.raises(JobStateError):
        job.execute(work.inc, 1)


# --- status by polling -----------------------------------------------------------------
def test_task_that_raised_reaches_error_by_polling_alone(make_dask_job):
    job = make_dask_job()
    job.execute(work.boom, "disk full")
    assert drive(job) == "Error"
    fresh = reload(job)
    assert "disk full" in fresh.status_message and "ValueError" in fresh.status_message
    assert fresh.completion_time is not None
    wait_task_state(job, None)  # the erred task was released once recorded


def test_running_task_reads_running_then_complete(make_dask_job, tmp_path):
    gate = tmp_path / "gate"
    job = make_dask_job()
    job.execute(work.nap_until_file, str(gate), "ok")
    wait_task_state(job, "processing")
    assert job.status == "Running"
    assert not job.done()
    gate.touch()
    assert drive(job) == "Complete"
    assert job.done()
    assert reload(job).result == "ok"


def test_briefly_unknown_task_is_not_final_on_first_reading(make_dask_job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 2}
    job = make_dask_job()
    job.execute(work.inc, 1)
    wait_task_state(job, "memory")
    # The scheduler forgets the task behind our back (as after a scheduler restart).
    with clients.connection(job.scheduler.host) as client:
        tasks.cancel(client, [job.key])
    wait_task_state(job, None)
    assert job.status == "Running"  # unknown, within the grace period
    message = reload(job).status_message
    assert "does not know this job" in message and "has no task" in message
    wait_until(lambda: job.status == "Error", timeout=10, message="Error after the grace")
    assert "no longer knows this job" in reload(job).status_message


def test_task_known_again_clears_the_warning(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 1)
    wait_task_state(job, "memory")
    DaskJob.objects.filter(pk=job.pk).update(
        status_message="The engine does not know this job (earlier reading)")
    job = reload(job)
    assert drive(job) == "Complete"
    assert reload(job).status_message is None


def test_deleted_scheduler_ends_in_error(make_dask_job, tmp_path):
    job = make_dask_job()
    job.execute(work.nap_until_file, str(tmp_path / "gate"))
    other = DaskScheduler.objects.create(name="x", host=job.scheduler.host)
    DaskJob.objects.filter(pk=job.pk).update(scheduler=None)
    job = reload(job)
    assert job.status == "Error"
    assert "scheduler was deleted" in reload(job).status_message
    (tmp_path / "gate").touch()
    other.delete()


def test_engine_unreachable_while_polling_is_not_terminal(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 1)
    gone = DaskScheduler.objects.create(name="gone", host="tcp://127.0.0.1:9", timeout=1)
    DaskJob.objects.filter(pk=job.pk).update(scheduler=gone)
    job = reload(job)
    assert job.status == "Running"
    assert "tcp://127.0.0.1:9" in reload(job).status_message
    assert reload(job).cached_status == "Running"


# --- results ---------------------------------------------------------------------------
def process_double(result):
    return {"doubled": result * 2}


def process_fails(result):
    raise RuntimeError("cannot summarize")


def process_not_json(result):
    return object()


def test_results_function_is_applied_to_the_result(make_dask_job):
    job = make_dask_job()
    job.process_results_function = process_double
    job.execute(work.inc, 20)
    assert drive(job) == "Complete"
    assert reload(job).result == {"doubled": 42}


def test_failing_results_function_ends_in_error_with_the_reason(make_dask_job):
    job = make_dask_job()
    job.process_results_function = process_fails
    job.execute(work.inc, 1)
    assert drive(job) == "Error"  # Tethys forces Complete (reference 10.7)
    fresh = reload(job)
    assert "cannot summarize" in fresh.status_message
    assert fresh.result is None
    # The task is kept so the processing can be retried.
    assert task_state(job) == "memory"
    DaskJob.objects.filter(pk=job.pk).update(_process_results_function=None)
    fresh = reload(job)
    assert fresh.retry_results() is True
    assert reload(job).cached_status == "Complete" and reload(job).result == 2
    wait_task_state(job, None)


@pytest.mark.parametrize("function", [None, process_not_json])
def test_result_that_is_not_json_ends_in_error(make_dask_job, function):
    job = make_dask_job()
    job.process_results_function = function
    job.execute(work.not_json if function is None else work.inc, *(() if function is None
                                                                    else (1,)))
    assert drive(job) == "Error"
    fresh = reload(job)
    assert "cannot be stored" in fresh.status_message
    assert "DASK_RESULT_SERIALIZER" in fresh.status_message or "JSON" in fresh.status_message
    assert "['" not in fresh.status_message  # the reason, not a list's repr
    assert fresh.result is None


def test_result_is_released_after_it_is_stored(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 1)
    assert drive(job) == "Complete"
    wait_task_state(job, None)
    assert reload(job).result == 2  # read back from the database, not the cluster


def test_forget_completes_without_fetching_the_result(make_dask_job):
    job = make_dask_job(forget=True)
    job.process_results_function = process_fails  # not applied: nothing fetched
    job.execute(work.inc, 1)
    assert drive(job) == "Complete"
    assert reload(job).result is None
    wait_task_state(job, None)


def test_result_lost_before_gathering_ends_in_error(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 2)
    wait_task_state(job, "memory")
    with clients.connection(job.scheduler.host) as client:
        tasks.cancel(client, [job.key])  # the scheduler forgets it before we gather
    wait_task_state(job, None)
    job.update_status("RES")  # e.g. the plugin's report, read after the loss
    fresh = reload(job)
    assert fresh.cached_status == "Error"
    assert "was lost" in fresh.status_message


# --- control ---------------------------------------------------------------------------
def test_stop_cancels_the_task_and_ends_aborted(make_dask_job, tmp_path):
    gate = tmp_path / "gate"
    job = make_dask_job()
    job.execute(work.nap_until_file, str(gate))
    wait_task_state(job, "processing")
    job.stop()
    assert reload(job).cached_status == "Aborted"
    wait_task_state(job, None)
    gate.touch()
    job.stop()  # a finished job: nothing happens
    assert reload(job).cached_status == "Aborted"


def test_pause_and_resume_are_not_supported(make_dask_job):
    job = make_dask_job()
    with pytest.raises(NotImplementedError, match="not supported for Dask jobs"):
        job.pause()
    with pytest.raises(NotImplementedError, match="not supported for Dask jobs"):
        job.resume()


def test_resubmit_after_the_key_was_released(make_dask_job, tmp_path):
    runs = tmp_path / "runs.txt"
    job = make_dask_job()
    job.execute(work.count_runs, str(runs), "v")
    assert drive(job) == "Complete"
    first_key = job.key
    wait_task_state(job, None)
    assert (Path(job.workspace) / FILENAME).exists()
    job = reload(job)  # as another process would
    job.resubmit()
    assert job.key != first_key
    assert job.cached_status == "Running" and job.result is None
    assert drive(job) == "Complete"
    assert reload(job).result == "v"
    assert runs.read_text().count("run") == 2


def test_resubmit_of_a_delayed_reruns_it(make_dask_job, tmp_path):
    runs = tmp_path / "runs.txt"
    job = make_dask_job()
    job.execute(dask.delayed(work.count_runs, pure=True)(str(runs), 7))
    assert drive(job) == "Complete"
    job = reload(job)
    job.resubmit()
    assert drive(job) == "Complete" and reload(job).result == 7
    assert runs.read_text().count("run") == 2


def test_resubmit_with_new_work_and_of_a_running_job(make_dask_job, tmp_path):
    gate = tmp_path / "gate"
    job = make_dask_job()
    job.execute(work.nap_until_file, str(gate), "old")
    old_key = job.key
    wait_task_state(job, "processing")
    job.resubmit(work.add, 1, y=1)
    assert job.key != old_key
    with clients.connection(job.scheduler.host) as client:
        wait_until(lambda: tasks.task_states(client, [old_key], 10)[old_key] is None,
                   message="the old task to be cancelled")
    gate.touch()
    assert drive(job) == "Complete" and reload(job).result == 2


def test_resubmit_of_a_future_job_needs_the_work(make_dask_job, dask_scheduler):
    job = make_dask_job()
    job.execute(dask_scheduler.client.submit(work.inc, 1))
    assert drive(job) == "Complete"
    with pytest.raises(DaskJobException, match="Future cannot be rebuilt"):
        job.resubmit()
    assert reload(job).cached_status == "Complete"  # unchanged


def test_tampered_stored_work_is_refused(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 1)
    assert drive(job) == "Complete"
    path = Path(job.workspace) / FILENAME
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(DaskJobException, match="Refusing to load"):
        job.resubmit()
    assert reload(job).cached_status == "Complete"


def test_delete_cancels_the_task(make_dask_job, tmp_path):
    gate = tmp_path / "gate"
    job = make_dask_job()
    job.execute(work.nap_until_file, str(gate))
    wait_task_state(job, "processing")
    key, host = job.key, job.scheduler.host
    job.delete()
    with clients.connection(host) as client:
        wait_until(lambda: tasks.task_states(client, [key], 10)[key] is None,
                   message="the deleted job's task to be cancelled")
    gate.touch()


def test_delete_with_an_unreachable_scheduler_is_refused_while_the_job_is_active(
        make_dask_job):
    from tethys_compute.exceptions import RemoteWorkNotStopped

    job = make_dask_job()
    job.execute(work.inc, 1)
    gone = DaskScheduler.objects.create(name="gone", host="tcp://127.0.0.1:9", timeout=1)
    DaskJob.objects.filter(pk=job.pk).update(scheduler=gone, _status="RUN")
    with pytest.raises(RemoteWorkNotStopped, match="could not be stopped"):
        reload(job).delete()
    assert DaskJob.objects.filter(pk=job.pk).exists()
    # Finished: its end came from the scheduler, nothing runs; the row may go.
    DaskJob.objects.filter(pk=job.pk).update(_status="COM")
    reload(job).delete()
    assert not DaskJob.objects.filter(pk=job.pk).exists()


# --- logs, properties ------------------------------------------------------------------
def test_logs_name_the_task_scheduler_and_workers(make_dask_job):
    job = make_dask_job()
    job.execute(work.boom, "logged reason")
    wait_task_state(job, "erred")
    logs = job.get_logs()
    assert "logged reason" in logs["Task"] and job.key in logs["Task"]
    assert "Scheduler" in logs and "Worker-0" in logs
    assert logs["Worker-0"].startswith("tcp://127.0.0.1:")


def test_logs_show_no_other_jobs_task_keys(make_dask_job):
    """Seen in a new user's trial: the Scheduler and Worker tabs of any Dask job showed the
    whole cluster's log, other users' task keys included (a key is enough to ask the
    unauthenticated Dask callback about that job)."""
    mine, theirs = make_dask_job(name="mine"), make_dask_job(name="theirs")
    theirs.execute(work.boom, "their secret reason")
    wait_task_state(theirs, "erred")
    mine.execute(work.boom, "my reason")
    wait_task_state(mine, "erred")
    wait_until(lambda: any(mine.key in text for name, text in mine.get_logs().items()
                           if name.startswith("Worker")))
    # Every log read, the task's own output included (a callable, read when shown).
    logs = {name: value() if callable(value) else value
            for name, value in mine.get_logs().items()}
    for name, text in logs.items():
        assert theirs.key not in text and "their secret reason" not in text, name
    assert "my reason" in logs["Task"]
    assert any(mine.key in text for name, text in logs.items() if name.startswith("Worker"))


def test_logs_without_scheduler_or_reachable_scheduler(make_dask_job):
    job = make_dask_job()
    job.scheduler = None
    assert job.get_logs() == {"Task": "This job has no Dask scheduler."}
    job.scheduler = DaskScheduler.objects.create(name="gone", host="tcp://127.0.0.1:9",
                                                 timeout=1)
    assert "tcp://127.0.0.1:9" in job.get_logs()["Scheduler"]


def test_future_property_follows_the_task(make_dask_job):
    job = make_dask_job()
    assert job.future is None
    job.execute(work.inc, 4)
    assert job.future.result(timeout=20) == 5
    assert reload(job).future.result(timeout=20) == 5


def test_client_property_is_the_shared_client(make_dask_job, dask_scheduler):
    job = make_dask_job()
    assert job.client is dask_scheduler.client
    assert isinstance(job.client, Client)


def test_status_token_is_bound_to_job_and_key(make_dask_job):
    from tethys_compute.models.dask.dask_token import read_token

    job = make_dask_job()
    with pytest.raises(DaskJobException):
        job.status_token
    job.execute(work.inc, 1)
    assert read_token(job.status_token) == (str(job.pk), job.key)


def test_dask_jobs_refresh_on_every_read_by_default(make_dask_job, settings):
    job = make_dask_job()
    assert job.update_status_interval.total_seconds() == 0  # as Tethys
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_UPDATE_STATUS_INTERVAL": 30}
    assert job.update_status_interval.total_seconds() == 30
    job.update_status_interval = 5
    assert job.update_status_interval.total_seconds() == 5


# --- transactions ----------------------------------------------------------------------
def test_task_is_cancelled_when_the_job_cannot_be_written(make_dask_job, tmp_path):
    from tethys_compute import signals

    gate = tmp_path / "gate"
    job = make_dask_job()

    def fail(sender, job, **kwargs):
        raise RuntimeError("database trouble after submission")

    signals.job_submitted.connect(fail, sender=DaskJob)
    try:
        with pytest.raises(RuntimeError, match="database trouble"):
            job.execute(work.nap_until_file, str(gate))
    finally:
        signals.job_submitted.disconnect(fail, sender=DaskJob)
    key = job.key
    assert not DaskJob.objects.filter(pk=job.pk).exists()  # the insert was rolled back
    with clients.connection(job.scheduler.host) as client:
        wait_until(lambda: tasks.task_states(client, [key], 10)[key] is None,
                   message="the orphaned task to be cancelled")
    gate.touch()


def test_task_is_released_only_once_the_result_is_committed(make_dask_job):
    from django.db import transaction

    job = make_dask_job()
    job.execute(work.inc, 1)
    wait_task_state(job, "memory")
    with transaction.atomic():
        assert job.status == "Complete"
        assert task_state(job) == "memory"  # not released before the commit
    wait_task_state(job, None)
    assert reload(job).result == 2
