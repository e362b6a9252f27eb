"""Two processes executing one saved Dask job at once (the Tethys pattern: ``create_job``
-> ``save()`` -> ``execute(dask.delayed(f)(x))``): the run is claimed, and made Running,
by one conditional UPDATE (models/status_ahead.py), so one process submits the task and
the other gets ``JobStateError`` without submitting anything. Real processes, a real
LocalCluster, SQLite and PostgreSQL."""

import pytest

from tests.engines.dask.fixtures import *  # noqa: F403
from tests.testapp.shared_db import worker
from tethys_compute.engines.dask import hold_plugin
from tethys_compute.models import DaskJob, JobStatusChange

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("round_", range(2))
def test_two_processes_executing_one_dask_job_submit_one_task(make_dask_job, dask_cluster,
                                                              tmp_path, round_):
    job = make_dask_job(name=f"race {round_}")
    job.save()
    prefix = f"race{job.pk}r{round_}"
    go = tmp_path / "go"
    workers = [worker(job, "execute", tmp_path, go=go, name=str(n),
                      work="tests.engines.dask.work.inc", args=[41],
                      delayed_key=f"{prefix}-{n}") for n in range(2)]
    for each in workers:
        each.wait_ready()
    go.touch()
    answers = sorted((w.result() for w in workers), key=lambda a: a["error"] or "")
    assert answers[0] == {"result": "RUN", "error": None}
    assert answers[1]["result"] is None
    assert answers[1]["error"].startswith("JobStateError: ")

    row = DaskJob.objects.get(pk=job.pk)
    assert (row._status, row.attempt) == ("RUN", 1)
    assert row.key.startswith(f"{prefix}-")
    assert list(JobStatusChange.objects.filter(job_id=job.pk).values_list(
        "old_status", "new_status")) == [("PEN", "RUN")]
    # Only the winner's task ever reached the scheduler (the loser never submitted).
    holder = dask_cluster.scheduler.plugins[hold_plugin.TaskHolder.name]
    assert [key for key in holder.arrived if key.startswith(f"{prefix}-")] == [row.key]
