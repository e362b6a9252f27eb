"""Batch refresh of Dask jobs (tethys_compute/models/dask/dask_refresh.py): one task-state
query per scheduler, through the monitor's entry point."""

from datetime import timedelta

import pytest
from distributed import LocalCluster
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import LOCAL_CLUSTER_OPTIONS, wait_until
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob, DaskScheduler, TethysJob
from tethys_compute.monitor import refresh_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_cluster():
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, **LOCAL_CLUSTER_OPTIONS)
    yield cluster
    clients.close_client(cluster.scheduler_address)
    cluster.close()


@pytest.fixture
def calls(monkeypatch):
    """Count calls at the engine adapter boundary."""
    counted = {"task_states": [], "gather": [], "task_details": []}
    for name in counted:
        original = getattr(tasks, name)

        def wrapper(client, keys, timeout, _original=original, _name=name):
            counted[_name].append(list(keys))
            return _original(client, keys, timeout)

        monkeypatch.setattr(tasks, name, wrapper)
    return counted


def active_jobs():
    return list(TethysJob.objects.active().select_subclasses())


def wait_all_finished(jobs):
    with clients.connection(jobs[0].scheduler.host) as client:
        wait_until(lambda: all(s in ("memory", "erred") for s in tasks.task_states(
            client, [j.key for j in jobs], 10).values()), message="all tasks to finish")


def test_one_task_state_query_per_scheduler(make_dask_job, second_cluster, calls):
    other = DaskScheduler.objects.create(name="second", host=second_cluster.scheduler_address)
    jobs = [make_dask_job(name=f"a{i}") for i in range(5)]
    jobs += [make_dask_job(name=f"b{i}", scheduler=other) for i in range(4)]
    for i, job in enumerate(jobs):
        job.execute(work.inc, i)
    wait_all_finished(jobs[:5])
    wait_all_finished(jobs[5:])
    calls["task_states"].clear()
    stats = refresh_jobs(active_jobs())
    assert stats.checked == 9 and stats.changed == 9 and stats.errors == 0
    assert sorted(len(keys) for keys in calls["task_states"]) == [4, 5]
    assert sorted(len(keys) for keys in calls["gather"]) == [4, 5]  # results in one call each
    for i, job in enumerate(jobs):
        fresh = DaskJob.objects.get(pk=job.pk)
        assert (fresh.cached_status, fresh.result) == ("Complete", i + 1)
    assert active_jobs() == []


def test_erred_tasks_texts_in_one_call(make_dask_job, calls):
    jobs = [make_dask_job(name=f"e{i}") for i in range(3)]
    for i, job in enumerate(jobs):
        job.execute(work.boom, f"reason {i}")
    wait_all_finished(jobs)
    refresh_jobs(active_jobs())
    assert len(calls["task_details"]) == 1 and len(calls["task_details"][0]) == 3
    for i, job in enumerate(jobs):
        fresh = DaskJob.objects.get(pk=job.pk)
        assert fresh.cached_status == "Error" and f"reason {i}" in fresh.status_message


def test_database_queries_per_job_do_not_grow_with_the_batch(make_dask_job):
    """Issue 17 item 4: the refresh of N finished jobs costs the same statements and
    transactions for any N (it cost 3 statements and a savepoint per job: each job's
    conditional UPDATE, its result and its history INSERT)."""
    def refresh_cost(count):
        jobs = [make_dask_job(name=f"n{count}-{i}") for i in range(count)]
        for i, job in enumerate(jobs):
            job.execute(work.inc, i)
        wait_all_finished(jobs)
        with CaptureQueriesContext(connection) as queries:
            stats = refresh_jobs(active_jobs())
        assert (stats.checked, stats.changed, stats.errors) == (count, count, 0)
        for i, job in enumerate(jobs):
            fresh = DaskJob.objects.get(pk=job.pk)
            assert (fresh.cached_status, fresh.result, fresh._results_state) == (
                "Complete", i + 1, "done")
            assert list(fresh.status_history.order_by("id").values_list(
                "old_status", "new_status")) == [("PEN", "RUN"), ("RUN", "RES"), ("RES", "COM")]
        return [q["sql"].lstrip().split(None, 1)[0].upper() for q in queries.captured_queries]

    small, large = refresh_cost(3), refresh_cost(15)
    assert large == small, (small, large)
    data = [verb for verb in large if verb in ("SELECT", "INSERT", "UPDATE", "DELETE")]
    # The leases, the active jobs, their scheduler, the owners' preferences; then the
    # batch's UPDATE ... RETURNING, its results and its history rows.
    assert len(data) <= 11, large
    # One transaction for the batch's writes (PostgreSQL: and one for the leases' claim).
    assert "SAVEPOINT" not in large and large.count("COMMIT") <= 2, large


def test_unreachable_scheduler_keeps_statuses(make_dask_job):
    gone = DaskScheduler.objects.create(name="gone", host="tcp://127.0.0.1:9", timeout=1)
    jobs = [make_dask_job(name=f"g{i}") for i in range(3)]
    for job in jobs:
        job.execute(work.inc, 1)
    DaskJob.objects.filter(pk__in=[j.pk for j in jobs]).update(scheduler=gone)
    stats = refresh_jobs(active_jobs())
    assert stats.changed == 0 and stats.errors == 3  # checks that failed, not terminal
    for job in jobs:
        fresh = DaskJob.objects.get(pk=job.pk)
        assert fresh.cached_status == "Running"
        assert "tcp://127.0.0.1:9" in fresh.status_message


def test_jobs_not_due_are_not_queried(make_dask_job, settings, calls):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_UPDATE_STATUS_INTERVAL": 3600}
    job = make_dask_job()
    job.execute(work.inc, 1)
    calls["task_states"].clear()
    assert DaskJob.bulk_update_status([DaskJob.objects.get(pk=job.pk)]) == 0
    assert calls["task_states"] == []


def test_results_ready_jobs_are_retried_in_the_batch(make_dask_job):
    job = make_dask_job()
    job.execute(work.inc, 5)
    wait_all_finished([job])
    # Results-Ready with processing still to do (e.g. the gather failed before).
    TethysJob.objects.filter(pk=job.pk).update(_status="RES", _results_state="retry")
    DaskJob.bulk_update_status([DaskJob.objects.get(pk=job.pk)])
    fresh = DaskJob.objects.get(pk=job.pk)
    assert (fresh.cached_status, fresh.result) == ("Complete", 6)


def test_unchanged_running_jobs_need_no_transaction_or_savepoint(make_dask_job, tmp_path):
    """A batch of running tasks that still run (most of a monitor cycle, issue 17): each
    job's refresh writes nothing but the batched stamp, so no savepoint per job."""
    gate = tmp_path / "go"
    jobs = [make_dask_job(name=f"r{i}") for i in range(6)]
    try:
        for job in jobs:
            job.execute(work.nap_until_file, str(gate), None, 0.02, 120)
        wait_until(lambda: (refresh_jobs(active_jobs()) or True) and all(
            DaskJob.objects.get(pk=j.pk)._status == "RUN" for j in jobs),
            message="the jobs to be seen running")
        TethysJob.objects.update(_last_status_update=timezone.now() - timedelta(hours=1))
        with CaptureQueriesContext(connection) as queries:
            stats = refresh_jobs(active_jobs())
        assert (stats.checked, stats.changed, stats.errors) == (6, 0, 0)
        sqls = [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]
        assert "SAVEPOINT" not in sqls, sqls
        assert sqls.count("UPDATE") <= 3, sqls  # the stamps (and the leases' claim, release)
    finally:
        gate.touch()


def test_a_stale_copy_does_not_finish_a_finished_job_again(make_dask_job):
    # Two refreshers each loaded the Running job; the first completes it in one
    # conditional UPDATE, the second's (the same conditions) finds the row moved on.
    from tethys_compute.models.status_change import JobStatusChange

    job = make_dask_job(name="twice")
    job.execute(work.inc, 41)
    wait_all_finished([job])
    first, second = active_jobs(), active_jobs()
    finished = []
    from tethys_compute import signals

    def on_finished(sender, job, status, **kwargs):
        finished.append((job.pk, status))

    signals.job_finished.connect(on_finished)
    try:
        assert DaskJob.bulk_update_status(first) == 1
        # The second copy got the same answer from its scheduler (before the release).
        from tethys_compute.models.dask.dask_refresh import TaskAnswer

        second[0].__dict__["_dask_answer"] = TaskAnswer("memory", result=42)
        assert second[0]._refresh_from_engine() is False
    finally:
        signals.job_finished.disconnect(on_finished)
    fresh = DaskJob.objects.get(pk=job.pk)
    assert (fresh.cached_status, fresh.result, fresh._results_state) == ("Complete", 42, "done")
    assert finished == [(job.pk, "COM")]
    assert list(JobStatusChange.objects.filter(job_id=job.pk).order_by("id").values_list(
        "old_status", "new_status")) == [("PEN", "RUN"), ("RUN", "RES"), ("RES", "COM")]
    assert second[0].cached_status == "Complete"  # reloaded, not left believing Running
