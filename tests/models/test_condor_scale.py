"""The issue's scale checks: a 26-node workflow and 100 single jobs run to completion on
this machine and over SSH, refreshed in batches (at most one condor_q and one
condor_history per batch)."""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from tests.conftest import requires_postgres
from tests.htcondor_standin.scenarios import (
    condor_job,
    condor_workflow,
    fast,
    node_statuses,
    remote,
    remote_scheduler,
    wait_status,
)
from tethys_compute.engines.condor import ssh
from tethys_compute.models import TethysJob
from tethys_compute.monitor import refresh_jobs

pytestmark = pytest.mark.django_db
QUERY_TOOLS = ("condor_q", "condor_history")


def twenty_six_nodes(user, scheduler=None):
    names = [chr(ord("A") + i) for i in range(26)]
    nodes = {"A": {}}
    for name in names[1:25]:
        nodes[name] = {"parents": ["A"], "category": "middle"}
    nodes["Z"] = {"parents": names[1:25]}
    return condor_workflow(user, "twenty six", nodes, scheduler=scheduler, max_jobs={"middle": 8})


def refresh_until_done(jobs, pool, timeout=120):
    ids = [job.pk for job in jobs]
    deadline, batches = time.time() + timeout, []
    while time.time() < deadline:
        pool.reset_calls()
        stats = refresh_jobs(TethysJob.objects.filter(pk__in=ids).active().select_subclasses())
        batches.append([c for c in pool.calls() if c in QUERY_TOOLS])
        if stats.checked == 0:
            return batches
        time.sleep(0.2)
    raise AssertionError("jobs did not finish")


def check_hundred(user, pool, scheduler=None):
    jobs = [condor_job(user, f"job {n}", scheduler=scheduler, arguments=f"{n} 0.05") for n in range(100)]
    for job in jobs:
        job.execute()
    batches = refresh_until_done(jobs, pool)
    assert all(len(batch) <= 2 for batch in batches), batches  # never one call per job
    done = TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).select_subclasses()
    assert {job.cached_status for job in done} == {"Complete"}
    for job in done:
        n = job.name.split()[1]
        assert open(os.path.join(job.initial_dir, f"result_{n}.txt")).read() == f"result {n}\n"


def check_workflow(user, scheduler=None):
    workflow = twenty_six_nodes(user, scheduler)
    workflow.execute()
    wait_status(workflow, "Complete", timeout=120)
    assert set(node_statuses(workflow).values()) == {"Completed"}
    assert len(node_statuses(workflow)) == 26
    assert os.path.exists(os.path.join(workflow.workspace, "Z", "result_Z.txt"))


def test_hundred_jobs_locally(user, settings, standin):
    fast(settings)
    check_hundred(user, standin)


def test_twenty_six_node_workflow_locally(user, settings, standin):
    fast(settings)
    check_workflow(user)


def test_hundred_jobs_over_ssh(user, settings, ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    check_hundred(user, ssh_server.pool, remote_scheduler(ssh_server))


def test_twenty_six_node_workflow_over_ssh(user, settings, ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    check_workflow(user, remote_scheduler(ssh_server))


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_jobs_execute_side_by_side_in_threads(user, settings, standin, ssh_server):
    """execute() from many threads at once (as a threaded web server does), locally and
    over one shared SSH connection (needs PostgreSQL for concurrent writers)."""
    remote(settings, ssh_server)
    scheduler = remote_scheduler(ssh_server)
    jobs = [condor_job(user, f"t{n}", scheduler=scheduler if n % 2 else None, arguments=str(n))
            for n in range(16)]
    cwd = os.getcwd()

    def execute(job):
        try:
            job.execute()
            return job.cluster_id
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as threads:
        clusters = list(threads.map(execute, jobs))
    assert os.getcwd() == cwd and all(clusters)
    for job in jobs:
        wait_status(job, "Complete")
        n = job.name[1:]
        assert open(os.path.join(job.initial_dir, f"result_{n}.txt")).read() == f"result {n}\n"
