"""Memory escalation for Dask jobs (issue 15 item 3, Dask side; docs/resilience.rst): a
task whose ``resources`` annotation asks for some of the workers' ``MEMORY`` resource and
whose worker is restarted for exceeding its memory limit is retried asking for more, on a
real cluster on 127.0.0.1 (a scheduler and nanny-supervised workers in processes)."""

import math

import dask
import pytest
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import own_client, poll_job
from tethys_compute.engines.dask.computation import Computation
from tethys_compute.models import DaskJob, DaskScheduler
from tethys_compute.models.retries import start_due_retries

TERMINAL = ("Complete", "Error", "Aborted")
MB = 2**20


def _poll(job, until, timeout=120):
    return poll_job(job, until, timeout)


def _memory_annotations(delayed):
    return [layer.annotations["resources"]["MEMORY"]
            for layer in delayed.__dask_graph__().layers.values()
            if (layer.annotations or {}).get("resources", {}).get("MEMORY") is not None]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_memory_killed_task_is_retried_with_a_raised_memory_resource(
        dask_processes, make_dask_job):
    processes = dask_processes(env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    processes.start_scheduler()
    # Offers 2e8 bytes of MEMORY; its nanny restarts it above ~300 MiB.
    processes.start_worker(nanny=True, nthreads=1,
                           options=["--resources", "MEMORY=2e8", "--memory-limit", "300MiB"])
    processes.wait_for_workers(1)
    scheduler = DaskScheduler.objects.create(name="mem", host=processes.address, timeout=10)
    with dask.annotate(resources={"MEMORY": 1e8}):
        hungry = dask.delayed(work.hog)(640, 16, 0.1)
    job = make_dask_job(scheduler=scheduler, max_attempts=2, retry_delay=0)
    job.execute(hungry)

    row = _poll(job, ("Pending", *TERMINAL))
    assert (row.cached_status, row.failure_kind) == ("Pending", "memory"), row.status_message
    reason = row.failure_reason
    used = reason["memory_used_mb"]
    expected = math.ceil(max(2 * 1e8 / MB, 1.2 * used))
    assert reason["memory_requested_mb"] == pytest.approx(1e8 / MB, abs=0.01)
    assert reason["next_request_memory_mb"] == expected
    assert reason["memory_resource"] == "MEMORY"
    assert row.status_message.startswith("Retry 2 of 2 in 0 s: The Dask worker")
    assert row.status_message.endswith(
        f"; the next attempt asks for {expected} MB (MEMORY={expected * MB})")
    change = [c for c in row.status_history.all() if c.failure_kind == "memory"]
    assert len(change) == 1 and f"the next attempt asks for {expected} MB" in change[0].reason

    # A worker large enough for the raised request (the first cannot take it: 2e8 bytes).
    processes.start_worker(nanny=True, nthreads=1,
                           options=["--resources", "MEMORY=4e9", "--memory-limit", "2GiB"])
    processes.wait_for_workers(2)
    assert start_due_retries(now=timezone.now()) == 1
    retry = DaskJob.objects.get(pk=job.pk)
    assert retry.attempt == 2 and retry.key != job.key
    with own_client(processes.address) as client:
        restrictions = client.run_on_scheduler(work.resource_restrictions, retry.key)
    assert {"MEMORY": expected * MB} in restrictions.values(), restrictions
    # The raised request is what the job keeps for any later attempt.
    assert _memory_annotations(Computation.load(retry.workspace).work) == [expected * MB]

    row = _poll(retry, TERMINAL)
    assert (row.cached_status, row.result, row.attempt) == ("Complete", 640 * MB, 2)
