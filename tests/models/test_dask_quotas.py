"""A Dask job over its user's limit (issue 15, item 5) waits like any job; its work is kept
in its directory and runs when the monitor starts it, on a real LocalCluster. A Future
already runs on the cluster: it is never held back."""

import pytest
from distributed import Client

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute import monitor
from tethys_compute.models import DaskJob

pytestmark = pytest.mark.django_db


def done(job):
    wait_until(lambda: job.status in ("Complete", "Error"), timeout=30,
               message=f"job {job.pk} to finish")
    return job.cached_status


def test_a_waiting_dask_job_keeps_its_work_and_runs_it_when_started(make_dask_job, settings,
                                                                    tmp_path):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_ACTIVE_JOBS_PER_USER": 1}
    gate = tmp_path / "gate"
    first = make_dask_job(name="first")
    first.execute(work.nap_until_file, str(gate), value=1)
    waiting = make_dask_job(name="waiting")
    waiting.execute(work.add, 2, y=3, scale=10)
    row = DaskJob.objects.get(pk=waiting.pk)
    assert (row._status, row.status_message, row.key) == (
        "PEN", "Waiting for a free slot (1 of 1 running)", None)
    assert monitor.run_cycle().started_from_wait == 0
    gate.touch()
    assert done(first) == "Complete"
    assert monitor.run_cycle().started_from_wait == 1
    started = DaskJob.objects.get(pk=waiting.pk)
    assert started.key.startswith("add-") and started.attempt == 1
    assert done(started) == "Complete" and DaskJob.objects.get(pk=waiting.pk).result == 50


def test_a_future_is_never_held_back(make_dask_job, settings, dask_scheduler):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_ACTIVE_JOBS_PER_USER": 1}
    first = make_dask_job(name="first")
    first.execute(work.nap, 5)
    with Client(dask_scheduler.host, set_as_default=False) as client:
        job = make_dask_job(name="future")
        job.execute(client.submit(work.inc, 41, pure=False))
        assert DaskJob.objects.get(pk=job.pk)._status == "RUN"
        assert done(job) == "Complete"
