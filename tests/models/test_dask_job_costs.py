"""What a Dask job costs the database (issue 17 item 4: tiny tasks through DaskJobs must
stay within 2x raw Dask): statements and durable commits per job to create and execute
it, both ways Tethys apps do (``create_job`` -> ``execute(f, x)``, and Tethys's docs'
``create_job`` -> ``save()`` -> ``execute(dask.delayed(f)(x))``), and to drive a batch of
finished jobs to Complete with the monitor's refresh. Counted on a real LocalCluster."""

from pathlib import Path

import dask
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tests.views.test_report_commits import Commits
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob, JobStatusChange, TethysJob
from tethys_compute.monitor import refresh_jobs

pytestmark = pytest.mark.django_db(transaction=True)

DATA = ("SELECT", "INSERT", "UPDATE", "DELETE")


def statements(captured):
    """The data statements (no BEGIN/SAVEPOINT/RELEASE) captured, as their verbs."""
    verbs = [q["sql"].lstrip().split(None, 1)[0].upper() for q in captured.captured_queries]
    return [verb for verb in verbs if verb in DATA]


def history(job):
    return list(JobStatusChange.objects.filter(job_id=job.pk).order_by("id")
                .values_list("new_status", flat=True))


def sql_verbs(captured):
    """Every statement captured (BEGIN, SAVEPOINT and RELEASE included), as its verb."""
    return [q["sql"].lstrip().split(None, 1)[0].upper() for q in captured.captured_queries]


def test_create_job_then_execute_inserts_the_job_running_one_commit(make_dask_job):
    # The row is inserted already claimed (attempt 1, execute_time) and Running (the
    # status the submission reports, models/status_ahead.py) in the transaction that
    # submits the task: no claim UPDATE, no status UPDATE, no savepoint; then the
    # history row.
    with Commits() as commits, CaptureQueriesContext(connection) as captured:
        job = make_dask_job()
        job.execute(work.inc, 1)
    assert statements(captured) == ["INSERT", "INSERT", "INSERT"]
    assert "SAVEPOINT" not in sql_verbs(captured)
    assert commits.count == 1
    fresh = DaskJob.objects.get(pk=job.pk)
    assert (fresh.cached_status, fresh.attempt, fresh.key) == ("Running", 1, job.key)
    assert fresh.execute_time is not None and fresh.start_time is not None
    assert fresh._last_status_update == fresh.execute_time == job.execute_time
    assert history(job) == ["RUN"]
    change = JobStatusChange.objects.get(job_id=job.pk)
    assert (change.old_status, change.reason, change.attempt) == ("PEN", "submitted", 1)
    assert (job._status, job.start_time) == ("RUN", fresh.start_time)
    assert job._changed_fields() == []  # memory and its record of the row agree


def test_tethys_pattern_save_then_execute_delayed_costs_two_commits(make_dask_job):
    # Tethys's docs: create_job -> save() -> execute(dask.delayed(f)(x)). save() commits
    # the row (2 INSERTs); execute() claims it by its known attempt and makes it Running
    # in one UPDATE (no read-back, no status UPDATE of its own, no savepoint), then
    # writes the key and the history row, in one transaction.
    job = make_dask_job()
    with Commits() as commits, CaptureQueriesContext(connection) as captured:
        job.save()
    assert statements(captured) == ["INSERT", "INSERT"] and commits.count == 1
    with Commits() as commits, CaptureQueriesContext(connection) as captured:
        job.execute(dask.delayed(work.inc, pure=False)(1))
    assert statements(captured) == ["UPDATE", "UPDATE", "INSERT"]
    assert "SAVEPOINT" not in sql_verbs(captured)
    claim = next(q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE"))
    assert "'RUN'" in claim and "execute_time" in claim and "IS NULL" in claim
    assert commits.count == 1
    fresh = DaskJob.objects.get(pk=job.pk)
    assert (fresh.cached_status, fresh.attempt, fresh.key) == ("Running", 1, job.key)
    assert fresh.start_time is not None
    assert history(job) == ["RUN"]
    assert job._changed_fields() == []


@pytest.mark.parametrize("saved", [False, True])
def test_a_failed_submission_takes_the_running_back_and_ends_error_from_pending(
        make_dask_job, saved):
    # The claim wrote Running ahead; the work cannot be pickled, so the submission fails:
    # the row goes back to Pending (same transaction) and the failure is written as
    # always, Pending -> Error: no Running in the history, no start time.
    import threading

    job = make_dask_job()
    if saved:
        job.save()
    lock = threading.Lock()
    job.execute(lambda: lock)  # a lambda holding a lock: cloudpickle refuses it
    fresh = DaskJob.objects.get(pk=job.pk)
    assert fresh.cached_status == "Error" and "pickled" in fresh.status_message
    assert fresh.start_time is None and fresh.key is None
    assert list(JobStatusChange.objects.filter(job_id=job.pk).values_list(
        "old_status", "new_status")) == [("PEN", "ERR")]
    assert job._status == "ERR" and job._changed_fields() == []


def test_a_stale_copy_claims_by_the_stored_attempt(make_dask_job):
    # The claim by known attempt misses when the row's attempt moved (a copy loaded
    # before another run was claimed and given back): the claim then reads the attempt.
    job = make_dask_job()
    job.save()
    TethysJob.objects.filter(pk=job.pk).update(attempt=3)
    job.execute(work.inc, 1)
    fresh = DaskJob.objects.get(pk=job.pk)
    assert (fresh.cached_status, fresh.attempt) == ("Running", 4)
    assert job.attempt == 4


def test_refresh_of_finished_jobs_claims_their_results_with_the_status(make_dask_job):
    # Gathered results with nothing else to process: one conditional UPDATE ... RETURNING
    # moves the batch's rows to Complete through Results-Ready (the processing done in it,
    # exactly once), then one UPDATE stores the results of exactly the rows it returned
    # and one INSERT their history rows.
    jobs = []
    for number in range(6):
        job = make_dask_job(f"cost {number}")
        job.execute(work.inc, number)
        jobs.append(job)
    with clients.connection(jobs[0].scheduler.host) as client:
        wait_until(lambda: set(tasks.task_states(client, [j.key for j in jobs], 10).values())
                   == {"memory"}, message="the tasks to finish")
    active = list(TethysJob.objects.active().select_subclasses())
    with Commits() as commits, CaptureQueriesContext(connection) as captured:
        refresh_jobs(active)
    verbs = statements(captured)
    # The batch's own statements (its jobs, their leases, the scheduler, the owners'
    # notification preferences) and its three writes: none per job.
    assert len(verbs) <= 11, verbs
    finished = [q["sql"] for q in captured.captured_queries
                if q["sql"].startswith("UPDATE") and "'done'" in q["sql"]]
    assert len(finished) == 1 and all("'COM'" in sql and "'RUN'" in sql and "RETURNING" in sql
                                      for sql in finished)
    assert len([sql for sql in (q["sql"] for q in captured.captured_queries)
                if sql.startswith('UPDATE "tethys_compute_daskjob"')]) == 1
    assert not [q for q in captured.captured_queries if "'claimed'" in q["sql"]]
    assert commits.count <= 3  # one for the batch's jobs, the lease taken and given back
    for number, job in enumerate(jobs):
        fresh = DaskJob.objects.get(pk=job.pk)
        assert (fresh.cached_status, fresh.result) == ("Complete", number + 1)
        assert history(job) == ["RUN", "RES", "COM"]
        assert (fresh._results_state, fresh._results_claim) == ("done", None)


class FileSystemCalls:
    """Counts the directory and status calls (``os.mkdir``, ``os.stat``, ``os.lstat``)
    this thread makes inside a ``with`` block (Dask's own threads poll /proc meanwhile)."""

    NAMES = ("mkdir", "stat", "lstat")

    def __enter__(self):
        import os
        import threading
        from unittest import mock

        self.calls = {name: 0 for name in self.NAMES}
        me = threading.get_ident()

        def counted(name, original):
            def call(*args, **kwargs):
                if threading.get_ident() == me:
                    self.calls[name] += 1
                return original(*args, **kwargs)
            return call

        self._patch = mock.patch.multiple(
            os, **{name: counted(name, getattr(os, name)) for name in self.NAMES})
        self._patch.start()
        return self

    def __exit__(self, *exc):
        self._patch.stop()


@pytest.mark.parametrize("tethys_pattern", [False, True])
def test_create_job_and_execute_make_each_directory_with_one_call(make_dask_job,
                                                                  tethys_pattern):
    # The user's workspace (there already: one mkdir answered "exists", one stat to see it
    # is a directory), the job's own directory (one mkdir), for a function its captured
    # output's dask_output/<key>/ (two), the signed pickle written into the job's
    # directory without checking it first; the workspaces root's path is resolved once.
    make_dask_job("warm-up").execute(work.inc, 1)
    with FileSystemCalls() as fs:
        job = make_dask_job()
        if tethys_pattern:
            job.save()
            job.execute(dask.delayed(work.inc, pure=False)(1))
        else:
            job.execute(work.inc, 1)
    assert fs.calls == {"mkdir": 2 if tethys_pattern else 4, "stat": 1, "lstat": 0}
    assert DaskJob.objects.get(pk=job.pk).cached_status == "Running"
    assert (Path(job.workspace) / "dask_computation.pickle").is_file()
    assert (Path(job.workspace) / "dask_output" / job.key).is_dir() is not tethys_pattern


def test_directories_missing_at_submit_are_made_again(make_dask_job):
    # The job's directory removed between create_job and execute(): the pickle and the
    # output directory are written all the same.
    import shutil

    job = make_dask_job()
    shutil.rmtree(job.workspace)
    job.execute(work.inc, 1)
    assert (Path(job.workspace) / "dask_computation.pickle").is_file()
    assert (Path(job.workspace) / "dask_output" / job.key).is_dir()
    assert DaskJob.objects.get(pk=job.pk).cached_status == "Running"


def test_execute_writes_its_history_row_without_a_model_instance(make_dask_job):
    # The history row of the submission is one INSERT written as SQL: no
    # JobStatusChange is built (its save() cost about as much Python as the INSERT).
    from unittest import mock

    make_dask_job("warm-up").execute(work.inc, 1)
    built = []
    original = JobStatusChange.__init__

    def init(self, *args, **kwargs):
        built.append(kwargs)
        original(self, *args, **kwargs)

    with mock.patch.object(JobStatusChange, "__init__", init):
        job = make_dask_job()
        job.execute(work.inc, 1)
    assert built == []
    change = JobStatusChange.objects.get(job_id=job.pk)
    assert (change.old_status, change.new_status, change.reason, change.attempt,
            change.other_status, change.failure_kind) == ("PEN", "RUN", "submitted", 1, "", "")
    assert change.time == DaskJob.objects.get(pk=job.pk)._last_status_update
