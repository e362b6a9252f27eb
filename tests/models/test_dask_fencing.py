"""Dask: an old run's result never lands on the resubmitted job (issue 12 item 1). The
first run's result is processed slowly in another process, which freezes (SIGSTOP) after
gathering it; its claim runs out, the job is resubmitted and its new run completes here;
when the frozen process resumes, its write of the old result is refused by the fence."""

import time

import pytest
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tests.testapp.shared_db import worker
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LEASE = 1.0


def task_state(job, key):
    with clients.connection(job.scheduler.host) as client:
        return tasks.task_states(client, [key], 10)[key]


def test_an_old_runs_result_never_lands_on_the_resubmitted_job(make_dask_job, tmp_path,
                                                                 settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "RESULTS_LEASE": LEASE}
    job = make_dask_job()
    job.process_results_function = "tests.testapp.results.tag_run"
    job.save()
    job.execute(work.inc, 1)
    first_key = job.key
    wait_until(lambda: task_state(job, first_key) == "memory", message="the first task")
    DaskJob.objects.filter(pk=job.pk).update(_status="RES")  # its run finished
    mark = tmp_path / "processing"
    first = worker(job, "process", tmp_path, tethys_compute={"RESULTS_LEASE": LEASE},
                   env={"TESTAPP_RESULTS_MARK": mark, "TESTAPP_RESULTS_SECONDS": 2})
    first.wait_for(mark.exists, message="the first processing")
    first.freeze()  # gathered the old result, then froze
    try:
        def claim_ran_out():
            claimed = DaskJob.objects.get(pk=job.pk)._results_claimed_at
            return (timezone.now() - claimed).total_seconds() > 1.2 * LEASE

        wait_until(claim_ran_out, timeout=30, message="the claim to run out")
        job.refresh_from_db()
        job.resubmit(work.inc, 10)
        assert (job.attempt, job.key != first_key) == (2, True)
        deadline = time.monotonic() + 30
        while job.status not in ("Complete", "Error"):
            assert time.monotonic() < deadline, job.cached_status
            time.sleep(0.05)
        assert job.cached_status == "Complete"
    finally:
        first.thaw()
    assert first.result()["result"] is False
    row = DaskJob.objects.get(pk=job.pk)
    assert (row._status, row.attempt, row.result) == ("COM", 2, {"run": 11})
