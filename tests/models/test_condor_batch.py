"""Batched refresh: one condor_q and at most one condor_history per scheduler, whatever the
number of jobs, through CondorBase.bulk_update_status and the monitor."""

import time

import pytest

from tests.htcondor_standin.scenarios import condor_job, condor_workflow, fast, wait_status
from tethys_compute.models import CondorJob, CondorWorkflow, TethysJob
from tethys_compute.monitor import refresh_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, standin):
    fast(settings)


def fresh(jobs):
    return list(TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).select_subclasses())


def test_status_batch_key_is_the_scheduler(user):
    job = condor_job(user)
    assert job.status_batch_key() is None


def test_one_query_for_many_jobs_with_the_normal_rules(user, standin):
    jobs = [condor_job(user, f"j{n}", arguments=f"{n} {0.1 if n % 2 else 30}") for n in range(6)]
    for job in jobs:
        job.execute()
    deadline = time.time() + 20
    while len(standin.run("condor_history", "-af", "ClusterId").stdout.split()) < 3:
        assert time.time() < deadline
        time.sleep(0.05)
    standin.reset_calls()
    changed = CondorJob.bulk_update_status(fresh(jobs))
    assert standin.calls() == ["condor_q", "condor_history"]
    assert changed == 6
    statuses = {j.name: j.cached_status for j in fresh(jobs)}
    assert statuses == {f"j{n}": ("Complete" if n % 2 else "Running") for n in range(6)}
    # Nothing due: nothing asked.
    standin.reset_calls()
    fast_jobs = fresh(jobs)
    for job in fast_jobs:
        job.update_status_interval = 3600
    assert CondorJob.bulk_update_status(fast_jobs) == 0 and standin.calls() == []
    for job in fresh(jobs):
        if not job.is_terminal:
            job.stop()


def test_a_failed_batch_query_is_transient_for_every_job(user, standin, monkeypatch):
    jobs = [condor_job(user, f"j{n}", arguments=f"{n} 30") for n in range(3)]
    for job in jobs:
        job.execute()
    time.sleep(0.02)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert CondorJob.bulk_update_status(fresh(jobs)) == 0
    for job in fresh(jobs):
        assert job.cached_status == "Submitted"
        assert job.status_message.startswith("Status check failed, will retry:")
    monkeypatch.setenv("PATH", standin.path_env())
    for job in fresh(jobs):
        job.stop()


def test_monitor_refreshes_jobs_and_workflows_per_scheduler(user, standin):
    jobs = [condor_job(user, f"j{n}") for n in range(3)]
    workflow = condor_workflow(user, "wf", {"A": {}, "B": {"parents": ["A"]}})
    for job in [*jobs, workflow]:
        job.execute()
    deadline = time.time() + 30
    calls = []
    while time.time() < deadline:
        standin.reset_calls()
        stats = refresh_jobs(TethysJob.objects.active().select_subclasses())
        calls.append([c for c in standin.calls() if c in ("condor_q", "condor_history")])
        if stats.checked == 0:
            break
        time.sleep(0.1)
    assert all(len(batch) <= 4 for batch in calls)  # jobs: q+history; workflow: q+history
    assert all(batch.count("condor_q") <= 2 for batch in calls)
    assert {j.cached_status for j in fresh(jobs)} == {"Complete"}
    assert CondorWorkflow.objects.get(pk=workflow.pk).cached_status == "Complete"


def test_batch_also_retries_unfinished_result_processing(user, standin):
    job = condor_job(user)
    job.execute()
    wait_status(job, "Complete")
    TethysJob.objects.filter(pk=job.pk).update(completion_time=None, _results_state="retry")
    (job,) = fresh([job])
    assert job.post_processing_incomplete
    standin.reset_calls()
    time.sleep(0.01)
    CondorJob.bulk_update_status([job])
    assert standin.calls() == []  # nothing to ask HTCondor; the processing ran again
    (job,) = fresh([job])
    assert job.completion_time is not None
