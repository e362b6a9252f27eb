"""No false warnings on Dask jobs: a job read right after its submission is never "not
known" to the engine, and a task the scheduler refused makes the job Error with the
scheduler's reason at the next refresh, not Running until the lost-job grace runs out."""

import sys
import uuid

import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute.models import DaskJob, DaskScheduler
from tethys_compute.models.job_status import UNKNOWN_TO_ENGINE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cluster_processes(dask_processes, transactional_db):
    processes = dask_processes()
    processes.start_scheduler()
    processes.start_worker()
    processes.wait_for_workers(1)
    return DaskScheduler.objects.create(name="processes", host=processes.address, timeout=10)


@pytest.mark.parametrize("where", ["local cluster", "processes"])
def test_a_job_read_right_after_submission_is_known(where, request, make_dask_job):
    scheduler = (request.getfixturevalue("cluster_processes") if where == "processes"
                 else None)
    # A large argument makes the scheduler take a moment to take the graph in: a status
    # query on another connection could overtake it.
    payload = b"x" * (8 * 1024 * 1024)
    for attempt in range(5):
        job = make_dask_job(f"fast {attempt}", scheduler=scheduler)
        job.execute(work.size, payload[: len(payload) - attempt], 0.05)
        seen = []
        for _ in range(200):
            status = job.status
            job.refresh_from_db()
            seen.append((status, job.status_message))
            if status in ("Complete", "Error"):
                break
        assert all(UNKNOWN_TO_ENGINE not in (message or "") for _, message in seen), seen
        assert seen[-1][0] == "Complete", seen[-1]


@pytest.fixture
def scheduler_process(dask_processes, transactional_db):
    processes = dask_processes()
    processes.start_scheduler()
    return DaskScheduler.objects.create(name="own process", host=processes.address, timeout=10)


def test_a_task_the_scheduler_refused_makes_the_job_error(scheduler_process, user, tmp_path,
                                                         monkeypatch):
    # A function of a module only this process can import: the scheduler cannot load the
    # task graph and refuses it (distributed: "Error during deserialization").
    name = f"only_here_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("def work(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    from tests.testapp.app import TestApp

    job = TestApp.get_job_manager().create_job("refused", user, job_type="DASK",
                                               scheduler=scheduler_process)
    job.execute(module.work, 1)  # returns once sent: the scheduler answers later
    # The next refresh (no lost-job grace; the grace is far longer) ends it in Error.
    wait_until(lambda: job.status == "Error", timeout=30, interval=0.05,
               message=f"the refused job to end (now {job.cached_status})")
    job = DaskJob.objects.get(pk=job.pk)
    assert job.cached_status == "Error", (job.cached_status, job.status_message)
    assert "refused" in job.status_message and "deserializ" in job.status_message
    sys.modules.pop(name, None)
