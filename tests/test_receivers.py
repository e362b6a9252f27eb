"""Deleting a job whose remote work cannot be stopped is refused (tethys_compute/receivers.py):
the HTCondor stand-in's ``condor_rm`` made to fail as it does when the schedd cannot be
reached; through ``job.delete()``, a queryset, the JobManager and the jobs table's
Delete action. Nothing is deleted, the cluster keeps running with its row, and a delete
after ``condor_rm`` works again removes it."""

import os

import pytest
from django.urls import reverse

from tests.htcondor_standin.scenarios import condor_job, fast, job_manager, wait_status
from tethys_compute.exceptions import RemoteWorkNotStopped
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db

FAILING_RM = """#!/bin/sh
echo "ERROR: Can't find address of local schedd" >&2
exit 1
"""


@pytest.fixture
def pool(settings, standin):
    fast(settings)
    return standin


@pytest.fixture
def broken_rm(pool):
    """Make condor_rm fail; ``restore()`` puts the real one back."""
    path = pool.bin / "condor_rm"
    real = path.read_text()
    path.write_text(FAILING_RM)

    class Broken:
        @staticmethod
        def restore():
            path.write_text(real)

    yield Broken
    path.write_text(real)


def queue_status(pool, cluster):
    """JobStatus of a cluster: from the queue, else from the history."""
    answer = pool.run("condor_q", str(cluster), "-af", "JobStatus").stdout.strip()
    return answer or pool.run("condor_history", str(cluster), "-af", "JobStatus").stdout.strip()


def running_job(user, name="long"):
    job = condor_job(user, name, arguments="x 60")
    job.execute()
    wait_status(job, "Running")
    return job


def test_delete_with_a_failing_condor_rm_is_refused_and_keeps_everything(
        user, pool, broken_rm, django_capture_on_commit_callbacks):
    job = running_job(user)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RemoteWorkNotStopped, match="was not deleted: its remote work "
                                                       "could not be stopped"):
            job.delete()
    assert TethysJob.objects.filter(pk=job.pk).exists()
    assert os.path.isdir(job.workspace)
    assert queue_status(pool, job.cluster_id) == "2"  # still running, and still ours
    broken_rm.restore()
    with django_capture_on_commit_callbacks(execute=True):
        job.delete()
    assert not TethysJob.objects.filter(pk=job.pk).exists()
    assert not os.path.isdir(job.workspace)
    assert queue_status(pool, job.cluster_id) == "3"  # removed


def test_a_reported_final_status_does_not_skip_condor_rm(user, pool, broken_rm):
    """A compute node may report Error while the cluster still runs: the table then offers
    Delete, which must still stop the cluster (or refuse)."""
    job = running_job(user)
    job.update_status("Error", reason="reported by the job's own script")
    with pytest.raises(RemoteWorkNotStopped):
        job.delete()
    assert queue_status(pool, job.cluster_id) == "2"
    broken_rm.restore()
    job.delete()
    assert queue_status(pool, job.cluster_id) == "3"


def test_queryset_and_job_manager_deletes_are_refused_as_a_whole(user, pool, broken_rm):
    job = running_job(user)
    other = BasicJob.objects.create(name="plain", user=user, label="test_app")
    with pytest.raises(RemoteWorkNotStopped):
        TethysJob.objects.filter(pk__in=[other.pk, job.pk]).delete()
    assert set(TethysJob.objects.values_list("pk", flat=True)) == {job.pk, other.pk}
    with pytest.raises(RemoteWorkNotStopped):
        job_manager().get_job(job.pk, user).delete()
    with pytest.raises(RemoteWorkNotStopped):
        job_manager().list_jobs(user).delete()
    assert TethysJob.objects.count() == 2
    assert queue_status(pool, job.cluster_id) == "2"


def test_the_jobs_table_delete_answers_409_with_the_reason(user, client, pool, broken_rm):
    from tethys_compute.gizmos import JobsTable

    job = running_job(user)
    job.update_status("Error", reason="reported")  # the table offers Delete
    client.force_login(user)
    token = JobsTable(jobs=[job], column_fields=["id", "name"]).table_config().dumps()
    answer = client.post(reverse("jobs_table_action"),
                         {"config": token, "job_id": job.pk, "action": "delete"})
    assert answer.status_code == 409
    assert "could not be stopped" in answer.json()["error"]
    assert TethysJob.objects.filter(pk=job.pk).exists()
    assert queue_status(pool, job.cluster_id) == "2"
    broken_rm.restore()
    answer = client.post(reverse("jobs_table_action"),
                         {"config": token, "job_id": job.pk, "action": "delete"})
    assert answer.json()["removed"] is True
    assert queue_status(pool, job.cluster_id) == "3"


def test_keep_remote_work_deletes_the_row_and_leaves_the_cluster(user, pool, broken_rm):
    job = running_job(user)
    job.delete(keep_remote_work=True)
    assert not TethysJob.objects.filter(pk=job.pk).exists()
    assert queue_status(pool, job.cluster_id) == "2"  # as asked: left running
    broken_rm.restore()
    pool.run("condor_rm", str(job.cluster_id))
