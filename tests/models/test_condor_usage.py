"""``job.usage`` of HTCondor jobs (issue 15, item 6): wall and CPU seconds, peak memory,
requested memory and CPUs, disk, per attempt and in total, read from the same batched
``condor_q``/``condor_history`` query the refresh already makes (the stand-in measures
them as HTCondor does)."""

import sys

import pytest

from tests.htcondor_standin.scenarios import condor_job, condor_workflow, fast, wait_status
from tests.htcondor_standin.test_usage import ALLOC
from tethys_compute.models import CondorJob, TethysJob

pytestmark = pytest.mark.django_db

SCRIPT = ALLOC.replace("{python}", sys.executable)


@pytest.fixture(autouse=True)
def _fast(settings, standin):
    fast(settings)


def test_a_jobs_usage_comes_from_the_refresh_query(user, standin):
    job = condor_job(user, "measured", script=SCRIPT, arguments="120 1 0.3 3",
                     attributes={"request_memory": 2048, "request_cpus": 2})
    job.execute()
    standin.reset_calls()
    wait_status(job, "Complete")
    # Only the refresh's own queries were made: no extra call for the usage.
    assert set(standin.calls()) <= {"condor_q", "condor_history"}
    usage = TethysJob.objects.get(pk=job.pk).usage
    (one,) = usage["attempts"].values()
    assert list(usage["attempts"]) == ["1"]
    assert one["wall_seconds"] >= 1 and one["cpu_seconds"] >= 0.2
    assert 120 <= one["peak_memory_mb"] < 2048
    assert one["requested_memory_mb"] == 2048 and one["requested_cpus"] == 2
    assert one["disk_kb"] is not None  # the stand-in measures the execute directory
    assert usage["total"] == one


def test_usage_is_kept_per_attempt_and_totalled(user, standin):
    job = condor_job(user, "twice", script=SCRIPT, arguments="20 0.5 0 1",
                     attributes={"request_memory": 512})
    job.execute()
    wait_status(job, "Complete")
    job = CondorJob.objects.get(pk=job.pk)
    job.resubmit()
    wait_status(job, "Complete")
    usage = TethysJob.objects.get(pk=job.pk).usage
    first, second = usage["attempts"]["1"], usage["attempts"]["2"]
    total = usage["total"]
    assert total["wall_seconds"] == pytest.approx(first["wall_seconds"] + second["wall_seconds"])
    assert total["cpu_seconds"] == pytest.approx(first["cpu_seconds"] + second["cpu_seconds"])
    assert total["peak_memory_mb"] == max(first["peak_memory_mb"], second["peak_memory_mb"])
    assert total["requested_memory_mb"] == 512
    row = TethysJob.objects.get(pk=job.pk)
    assert row.usage_wall_seconds == pytest.approx(total["wall_seconds"])


def test_a_workflows_usage_sums_its_nodes(user, standin):
    workflow = condor_workflow(user, "wf", {"a": {"executable": "alloc.sh",
                                                  "arguments": "10 0.6 0 1"},
                                            "b": {"executable": "alloc.sh",
                                                  "arguments": "10 0.6 0 1",
                                                  "parents": ["a"]}},
                               scripts={"alloc.sh": SCRIPT})
    workflow.execute()
    wait_status(workflow, "Complete")
    total = TethysJob.objects.get(pk=workflow.pk).usage["total"]
    assert total["wall_seconds"] >= 1.2 and total["disk_kb"] is not None
