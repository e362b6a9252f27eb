"""A Dask job's own output (tethys_compute/models/dask/dask_output.py, captured on the
worker by tethys_compute/engines/dask/capture.py), on real clusters on 127.0.0.1: the
task's stdout and stderr, its exception and full traceback, kept with the job after the
scheduler forgot the task, bounded in size, and readable from an offset while it runs."""

import json

import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.jobs_table import logs as table_logs
from tethys_compute.models import DaskJob, DaskScheduler
from tethys_compute.models.dask import dask_output
from tethys_compute.models.dask.dask_output import read_output

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("Complete", "Error", "Aborted")


def drive(job, timeout=30):
    wait_until(lambda: job.status in TERMINAL, timeout=timeout,
               message=f"job {job.pk} to finish")
    return DaskJob.objects.get(pk=job.pk)


def read_all(job, stream, limit=4096):
    """Everything ``read_output`` gives, read ``limit`` bytes at a time."""
    text, offset = "", 0
    while True:
        chunk, offset_after = read_output(job, stream, offset, limit)
        if offset_after == offset:
            return text, offset
        text, offset = text + chunk, offset_after


def test_stdout_and_stderr_of_a_function_are_kept_with_the_job(make_dask_job):
    job = make_dask_job()
    job.execute(work.chatty, 3, value=5)
    job = drive(job)
    assert (job.cached_status, job.result) == ("Complete", 5)
    logs = job.get_logs()
    assert logs["stdout"]() == "out line 0\nout line 1\nout line 2\n"
    assert logs["stderr"]() == "a warning on stderr\n"
    assert "unknown to the scheduler" not in logs["Task"]
    assert "State: finished" in logs["Task"]
    # Kept in the job's directory: the task is released and the web process may restart.
    with clients.connection(job.scheduler.host) as client:
        wait_until(lambda: tasks.task_states(client, [job.key], 10)[job.key] is None,
                   message="the task to be released")
    clients.close_all()
    again = DaskJob.objects.get(pk=job.pk)
    assert again.get_logs()["stdout"]() == "out line 0\nout line 1\nout line 2\n"
    assert read_all(again, "stdout") == ("out line 0\nout line 1\nout line 2\n", 33)


def test_concurrent_tasks_in_one_worker_process_keep_their_own_output(make_dask_job):
    """The LocalCluster runs tasks in threads of one process: each task's prints go to
    its own job only."""
    jobs = [make_dask_job(name=f"chatty {n}") for n in range(3)]
    for job in jobs:
        job.execute(work.chatty, 400)
    for job in jobs:
        stdout = drive(job).get_logs()["stdout"]()
        assert stdout == "".join(f"out line {n}\n" for n in range(400))


def test_failed_function_keeps_type_message_and_full_traceback(make_dask_job):
    job = make_dask_job()
    job.execute(work.fail_deep, "the model diverged")
    job = drive(job)
    assert job.cached_status == "Error"
    assert "ValueError" in job.status_message and "the model diverged" in job.status_message
    logs = job.get_logs()
    assert logs["stdout"]() == "about to fail\n"
    task = logs["Task"]
    assert "ValueError: the model diverged" in task
    assert "Traceback (most recent call last)" in task
    assert "in fail_deep" in task and "in _deep_inner" in task
    stored = json.loads((dask_output.output_dir(job) / "error.json").read_text())
    assert stored["type"] == "ValueError" and stored["message"] == "the model diverged"


def test_huge_output_is_bounded_keeping_its_start_and_end(make_dask_job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_OUTPUT_MAX_BYTES": 64 * 1024}
    job = make_dask_job()
    job.execute(work.shout, 8)
    job = drive(job, timeout=120)
    assert job.cached_status == "Complete"
    written = job.result + len("the very end\n")
    stdout = job.get_logs()["stdout"]()
    assert len(stdout.encode()) <= 64 * 1024 + 200
    assert stdout.startswith("shout 000000000\n")
    assert stdout.endswith("the very end\n")
    assert "bytes not kept" in stdout
    kept = sum(f.stat().st_size for f in dask_output.output_dir(job).glob("stdout*"))
    assert kept <= 64 * 1024
    # Offsets are those of the whole stream: the last read ends at its size.
    assert read_all(job, "stdout", limit=10000)[1] == written


def test_output_is_readable_from_an_offset_while_the_task_runs(make_dask_job, tmp_path):
    flag = tmp_path / "go"
    job = make_dask_job()
    job.execute(work.chatty, 6, flag=str(flag))
    first = "out line 0\nout line 1\nout line 2\n"
    wait_until(lambda: read_output(job, "stdout", 0, 4096)[0] == first,
               message="the first half of the output")
    assert read_output(job, "stdout", 4, 6) == (
        "line 0", 10)
    offset = len(first)
    assert read_output(job, "stdout", offset, 4096) == ("", offset)
    flag.write_text("go")
    rest = "out line 3\nout line 4\nout line 5\n"
    wait_until(lambda: read_output(job, "stdout", offset, 4096)[0] == rest,
               message="the rest of the output")
    job = drive(job)
    assert read_output(job, "stdout", offset, 4096) == (rest, offset + len(rest))
    with pytest.raises(ValueError, match="stdout"):
        read_output(job, "stdlog", 0, 10)


def test_read_output_never_cuts_a_character(make_dask_job):
    job = make_dask_job()
    job.execute(print, "héllo wörld")
    job = drive(job)
    text, offset = read_output(job, "stdout", 0, 2)  # "h" + half of "é"
    assert (text, offset) == ("h", 1)
    assert read_output(job, "stdout", offset, 2) == ("é", 3)


@pytest.mark.slow
def test_failed_task_traceback_survives_a_scheduler_restart(dask_processes, make_dask_job):
    processes = dask_processes()
    processes.start_scheduler()
    processes.start_worker()
    processes.wait_for_workers(1)
    row = DaskScheduler.objects.create(name="pair", host=processes.address, timeout=5)
    job = make_dask_job(scheduler=row)
    job.execute(work.fail_deep, "lost no more")
    job = drive(job)
    assert job.cached_status == "Error"
    processes.stop_scheduler()
    processes.start_scheduler()  # the same address, no memory of the task
    clients.close_all()  # and the web process restarted
    job = DaskJob.objects.get(pk=job.pk)
    logs = job.get_logs()
    assert "ValueError: lost no more" in logs["Task"]
    assert "in _deep_inner" in logs["Task"]
    assert "unknown to the scheduler" not in logs["Task"]
    assert logs["stdout"]() == "about to fail\n"


def test_delayed_failure_keeps_the_schedulers_exception_and_traceback(make_dask_job):
    import dask

    job = make_dask_job()
    job.execute(dask.delayed(work.fail_deep)("in a graph"))
    job = drive(job)
    assert job.cached_status == "Error"
    task = job.get_logs()["Task"]
    assert "in a graph" in task and "in _deep_inner" in task


def test_the_jobs_table_follows_a_running_tasks_stdout_from_an_offset(make_dask_job, tmp_path):
    """The logs dialog's follow reads (tethys_compute.jobs_table.logs.read_from) get only
    what is new, by byte offset into the task's stream; get_logs() asks no worker."""
    flag = tmp_path / "go"
    job = make_dask_job()
    job.execute(work.chatty, 6, flag=str(flag))
    first = "out line 0\nout line 1\nout line 2\n"
    log = job.get_logs()["stdout"]
    wait_until(lambda: table_logs.read_from(log, None, 1000)["content"] == first,
               message="the first half of the output")
    assert table_logs.read_from(log, None, 1000) == {
        "content": first, "offset": 33, "size": 33, "skipped": 0, "reset": True,
        "truncated": False}
    assert table_logs.read_from(log, 33, 1000)["content"] == ""
    flag.write_text("go")
    rest = "out line 3\nout line 4\nout line 5\n"
    wait_until(lambda: table_logs.read_from(log, 33, 1000)["content"] == rest,
               message="the rest of the output")
    drive(job)
    # More new bytes than the limit: the last ones, the others counted as skipped.
    assert table_logs.read_from(job.get_logs()["stdout"], 0, 11) == {
        "content": "out line 5\n", "offset": 66, "size": 66, "skipped": 55, "reset": False,
        "truncated": False}
    assert table_logs.read_from(log, None, 11)["truncated"] is True
    assert table_logs.read_from(log, 100, 11)["reset"] is True  # longer than the stream


def test_the_monitors_batch_stores_the_output_of_every_finished_task(make_dask_job):
    """The monitor's batch asks the workers for all finished tasks' output at once."""
    from tethys_compute.models import TethysJob
    from tethys_compute.monitor import refresh_jobs

    jobs = [make_dask_job(name=f"batch {n}") for n in range(3)]
    for number, job in enumerate(jobs):
        job.execute(work.chatty, number + 1)

    def all_done():
        refresh_jobs(TethysJob.objects.active().select_subclasses())
        return not TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).active().exists()

    wait_until(all_done, timeout=60, message="the batch to finish")
    for number, job in enumerate(jobs):
        job = DaskJob.objects.get(pk=job.pk)
        assert dask_output.stored(job)["stdout"]["size"] == 11 * (number + 1)
        assert job.get_logs()["stdout"]().endswith(f"out line {number}\n")


def test_capture_off_runs_the_function_as_given(make_dask_job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_OUTPUT_MAX_BYTES": 0}
    job = make_dask_job()
    job.execute(work.fail_deep, "uncaptured")
    job = drive(job)
    logs = job.get_logs()
    assert "stdout" not in logs
    assert "uncaptured" in logs["Task"] and "in _deep_inner" in logs["Task"]
    assert "run_captured" not in logs["Task"]  # no frame of the wrapper in the traceback


def test_a_task_that_wrote_nothing_stores_only_its_meta(make_dask_job):
    # Most tiny tasks write nothing: four empty stream files per job were four atomic
    # writes (a temporary file, a rename) on every completion. Empty streams are not
    # written; they read as empty.
    job = make_dask_job()
    job.execute(work.inc, 1)
    job = drive(job)
    assert (job.cached_status, job.result) == ("Complete", 2)
    directory = dask_output.output_dir(job)
    assert sorted(path.name for path in directory.iterdir()) == ["meta.json"]
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["stdout"] == {"size": 0, "head": 0, "tail": 0}
    logs = job.get_logs()
    assert (logs["stdout"](), logs["stderr"]()) == ("", "")
    assert read_all(job, "stdout") == ("", 0)
