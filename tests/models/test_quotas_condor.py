"""HTCondor jobs over their user's limit (issue 15, item 5) wait, then run with the
arguments of their ``execute()`` once the monitor starts them (the stand-in pool)."""

import pytest

from tests.htcondor_standin.scenarios import condor_job, fast, wait_status
from tethys_compute import monitor
from tethys_compute.models import CondorJob

pytestmark = pytest.mark.django_db


def test_a_waiting_condor_job_is_submitted_when_a_slot_frees(user, settings, standin):
    fast(settings, MAX_ACTIVE_JOBS_PER_USER=1)
    first = condor_job(user, "first", arguments="a 0.2")
    second = condor_job(user, "second", arguments="b 0.1")
    first.execute()
    second.execute(queue=2)
    row = CondorJob.objects.get(pk=second.pk)
    assert (row._status, row.cluster_id, row.status_message) == (
        "PEN", 0, "Waiting for a free slot (1 of 1 running)")
    assert standin.calls().count("condor_submit") == 1
    wait_status(first, "Complete")
    assert monitor.run_cycle().started_from_wait == 1
    second = CondorJob.objects.get(pk=second.pk)
    assert second.cluster_id and second.num_jobs == 2  # queue=2 was kept
    wait_status(second, "Complete")
    assert second.statuses["Completed"] == 2
