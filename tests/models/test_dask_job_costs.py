"""What a Dask job costs the database (issue 17 item 4: tiny tasks through DaskJobs must
stay within 2x raw Dask): statements and durable commits per job to create and execute
it, both ways Tethys apps do (``create_job`` -> ``execute(f, x)``, and Tethys's docs'
``create_job`` -> ``save()`` -> ``execute(dask.delayed(f)(x))``), and to drive a batch of
finished jobs to Complete with the monitor's refresh. Counted on a real LocalCluster."""

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


def test_create_job_then_execute_inserts_the_job_claimed_one_commit(make_dask_job):
    # The row is inserted already claimed (attempt 1, execute_time) in the transaction
    # that submits the task: no claim UPDATE nor read-back of the attempt.
    with Commits() as commits, CaptureQueriesContext(connection) as captured:
        job = make_dask_job()
        job.execute(work.inc, 1)
    assert statements(captured) == ["INSERT", "INSERT", "UPDATE", "INSERT"]
    assert commits.count == 1
    fresh = DaskJob.objects.get(pk=job.pk)
    assert (fresh.cached_status, fresh.attempt, fresh.key) == ("Running", 1, job.key)
    assert fresh.execute_time is not None and fresh.start_time is not None
    assert history(job) == ["RUN"]


def test_tethys_pattern_save_then_execute_delayed_costs_two_commits(make_dask_job):
    # Tethys's docs: create_job -> save() -> execute(dask.delayed(f)(x)). save() commits
    # the row (2 INSERTs); execute() claims it by its known attempt (no read-back) and
    # writes key and status in one transaction.
    job = make_dask_job()
    with Commits() as commits, CaptureQueriesContext(connection) as captured:
        job.save()
    assert statements(captured) == ["INSERT", "INSERT"] and commits.count == 1
    with Commits() as commits, CaptureQueriesContext(connection) as captured:
        job.execute(dask.delayed(work.inc, pure=False)(1))
    assert statements(captured) == ["UPDATE", "UPDATE", "UPDATE", "INSERT"]
    assert commits.count == 1
    fresh = DaskJob.objects.get(pk=job.pk)
    assert (fresh.cached_status, fresh.attempt, fresh.key) == ("Running", 1, job.key)
    assert history(job) == ["RUN"]


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
