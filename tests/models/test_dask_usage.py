"""Dask jobs' usage (issue 15, item 6): the task's wall run time and its worker's peak
memory, measured by the capture wrapper on the worker (engines/dask/capture.py), stored
with the task's output and recorded through ``job.record_usage``; on real LocalClusters
on 127.0.0.1: on the job's own refresh, the monitor's batch and the scheduler plugin's
report."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import LOCAL_CLUSTER_OPTIONS, read_json, wait_until
from tethys_compute.engines.dask import clients
from tethys_compute.engines.dask.plugin import TethysJobStatusPlugin
from tethys_compute.jobs_table.usage_column import usage_text, usage_title
from tethys_compute.models import DaskJob, DaskScheduler, TethysJob
from tethys_compute.models.dask import dask_output

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_that_sleeps_a_second_records_its_wall_time_and_worker_memory(make_dask_job):
    job = make_dask_job(name="napper")
    job.execute(work.nap, 1.0, value=7)
    wait_until(lambda: job.status in ("Complete", "Error"), timeout=60, message="the job")
    job = DaskJob.objects.get(pk=job.pk)
    assert (job.cached_status, job.result) == ("Complete", 7)
    run = job.usage["attempts"]["1"]
    assert 1.0 <= run["wall_seconds"] < 30
    assert job.usage_wall_seconds == run["wall_seconds"]
    # The worker process's peak resident memory: a Python process with Dask holds tens of MB.
    assert 10 <= job.usage_peak_memory_mb == run["peak_memory_mb"] < 64 * 1024
    assert run["cpu_seconds"] is None  # not measured (see docs/fair_share.rst)
    assert dask_output.stored(job)["usage"] == {"wall_seconds": run["wall_seconds"],
                                                "peak_memory_mb": run["peak_memory_mb"]}
    # The jobs table's column and the usage command show it.
    assert usage_text(job) == f"{job.usage_peak_memory_mb} MB"
    assert f"wall {run['wall_seconds']:.0f} s" in usage_title(job)
    out = StringIO()
    call_command("tethys_compute_jobs", "usage", "--by", "app", "--format", "json", stdout=out)
    row = json.loads(out.getvalue())["totals"][0]
    assert row["wall_seconds"] >= 1.0 and row["measured_jobs"] == 1


def test_the_monitors_batch_records_the_usage_of_every_finished_task(make_dask_job):
    from tethys_compute.monitor import refresh_jobs

    jobs = [make_dask_job(name=f"nap {n}") for n in range(2)]
    for job in jobs:
        job.execute(work.nap, 1.0)

    def all_done():
        refresh_jobs(TethysJob.objects.active().select_subclasses())
        return not TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).active().exists()

    wait_until(all_done, timeout=60, message="the batch to finish")
    for job in jobs:
        job = DaskJob.objects.get(pk=job.pk)
        assert job.usage_wall_seconds >= 1.0 and job.usage_peak_memory_mb >= 10


def test_a_failed_task_records_its_usage_too(make_dask_job):
    job = make_dask_job()
    job.execute(work.fail_deep, "no luck")
    wait_until(lambda: job.status in ("Complete", "Error"), timeout=60, message="the job")
    job = DaskJob.objects.get(pk=job.pk)
    assert job.cached_status == "Error"
    assert 0 <= job.usage_wall_seconds < 30 and job.usage_peak_memory_mb >= 10


@pytest.fixture
def plugged_scheduler(push_server):
    """A LocalCluster whose scheduler runs the plugin, reporting to the live server."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, **LOCAL_CLUSTER_OPTIONS)
    cluster.scheduler.add_plugin(TethysJobStatusPlugin(
        push_server.url, scheduler=cluster.scheduler, retry_delay=0.1))
    yield DaskScheduler.objects.create(name="plugged", host=cluster.scheduler_address)
    clients.close_client(cluster.scheduler_address)
    cluster.close()


@pytest.mark.urls("tests.engines.dask.urls")
def test_the_scheduler_plugins_report_records_the_usage(push_server, plugged_scheduler,
                                                         make_dask_job, tmp_path):
    gate = tmp_path / "gate"
    job = make_dask_job(scheduler=plugged_scheduler)
    job.execute(work.nap_after_file, str(gate), 1.0, "done")
    gate.touch()  # the task finishes only once execute() is done with the database
    url = f"{push_server.url}/_test/dask-job/{job.pk}/"  # read without polling the scheduler
    state = wait_until(lambda: (s := read_json(url))["status"] in ("Complete", "Error") and s,
                       timeout=60, message="the plugin to complete the job")
    assert state["status"] == "Complete"
    assert "reported by the Dask scheduler plugin (processing-memory)" in [
        reason for _, reason in state["history"]]
    job = DaskJob.objects.get(pk=job.pk)
    assert 1.0 <= job.usage_wall_seconds < 30 and job.usage_peak_memory_mb >= 10
