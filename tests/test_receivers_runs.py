"""Deleting a job removes the remote work of its current run, even when the copy being
deleted was loaded during an earlier run (a Delete pressed on a finished job while
another request resubmitted it), and a job being submitted is not deleted (its new engine
job would be left without a row)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.htcondor_standin.scenarios import condor_job, fast, wait_status
from tethys_compute.exceptions import RemoteWorkNotStopped
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db


def test_delete_of_a_copy_from_an_earlier_run_stops_the_current_run(user, standin,
                                                                      settings):
    fast(settings)
    job = condor_job(user, arguments="d 0.1")
    job.execute()
    wait_status(job, "Complete")
    stale = TethysJob.objects.get_subclass(pk=job.pk)  # finished: Delete is offered
    job.set_attribute("arguments", "d 60")
    job.save()
    job.resubmit()  # run 2: a new cluster, running for a minute
    wait_status(job, "Running")
    current = job.cluster_id
    assert current != stale.cluster_id
    stale.delete()
    assert not TethysJob.objects.filter(pk=job.pk).exists()
    status = standin.run("condor_q", str(current), "-af", "JobStatus").stdout or \
        standin.run("condor_history", str(current), "-af", "JobStatus").stdout
    assert status == "3\n"  # removed, not left running without a row


def test_a_job_being_submitted_is_not_deleted(user):
    from tethys_compute.models import BasicJob

    job = BasicJob.objects.create(name="submitting", user=user, label="test_app")
    TethysJob.objects.filter(pk=job.pk).update(execute_time=timezone.now(),
                                               attempt=1)  # claimed by an execute()
    with pytest.raises(RemoteWorkNotStopped, match="being submitted"):
        job.delete()
    assert TethysJob.objects.filter(pk=job.pk).exists()
    # A claim whose holder stopped long ago (presumed dead) does not hold the job.
    TethysJob.objects.filter(pk=job.pk).update(execute_time=timezone.now() - timedelta(hours=1))
    job.delete()
    assert not TethysJob.objects.filter(pk=job.pk).exists()
