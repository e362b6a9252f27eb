"""DaskJob on a real LocalCluster (tethys_compute/models/dask/dask_job.py)."""

import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until


def _drive(job, timeout=20):
    """Poll the job's status (pull path) until it is terminal."""
    return wait_until(lambda: job.status in ("Complete", "Error", "Aborted") and job.status,
                      timeout=timeout, message=f"job {job.pk} to finish")


@pytest.mark.django_db
def test_callable_runs_to_complete(make_dask_job):
    job = make_dask_job()
    job.execute(work.add, 2, y=3, scale=10)
    assert job.cached_status == "Running"
    assert _drive(job) == "Complete"
    job.refresh_from_db()
    assert job.result == 50
