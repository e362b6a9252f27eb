"""``execute()`` claims the job atomically (issue 12 item 3): of two processes executing
one job at once, one submits it (one HTCondor cluster on the stand-in) and the other gets
``JobStateError``; a report never moves a submitted job back to Pending."""

import pytest

from tests.htcondor_standin.scenarios import condor_job, fast
from tests.testapp.shared_db import worker
from tethys_compute.exceptions import JobStateError
from tethys_compute.models import BasicJob, TethysJob


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(2))
def test_two_processes_executing_one_job_submit_it_once(user, tmp_path, standin, settings,
                                                         round_):
    fast(settings)
    job = condor_job(user, "twice", arguments="a 0.1")
    go = tmp_path / "go"
    workers = [worker(job, "execute", tmp_path, go=go, name=str(n)) for n in range(2)]
    for each in workers:
        each.wait_ready()
    standin.reset_calls()
    go.touch()
    answers = sorted((w.result() for w in workers), key=lambda a: a["error"] or "")
    assert answers[0] == {"result": "SUB", "error": None}
    assert answers[1]["result"] is None
    assert answers[1]["error"].startswith("JobStateError: ")
    assert standin.calls().count("condor_submit") == 1
    row = TethysJob.objects.get_subclass(pk=job.pk)
    assert (row._status, row.attempt, row.cluster_id) == ("SUB", 1, 1)


@pytest.mark.django_db
def test_execute_of_a_claimed_job_is_refused_and_changes_nothing(user):
    job = BasicJob.objects.create(name="claimed", user=user, label="test_app")
    other = TethysJob.objects.get_subclass(pk=job.pk)
    job.execute()
    with pytest.raises(JobStateError):
        other.execute()
    row = TethysJob.objects.get(pk=job.pk)
    assert (row._status, row.attempt) == ("SUB", 1)
    assert list(row.status_history.values_list("new_status", flat=True)) == ["SUB"]


@pytest.mark.django_db
def test_resubmit_takes_the_next_attempt_and_a_concurrent_execute_loses(user):
    job = BasicJob.objects.create(name="again", user=user, label="test_app")
    job.execute()
    job.update_status("Complete")
    stale = TethysJob.objects.get_subclass(pk=job.pk)
    job.resubmit()
    assert (job._status, job.attempt) == ("RUN", 2)
    with pytest.raises(JobStateError):  # a second resubmit from an older copy
        stale.resubmit()
    assert TethysJob.objects.get(pk=job.pk).attempt == 2


@pytest.mark.django_db
def test_a_submitted_job_never_goes_back_to_pending_except_by_resubmit(user):
    job = BasicJob.objects.create(name="back", user=user, label="test_app")
    job.execute()
    assert job.update_status("Pending") is False
    assert TethysJob.objects.get(pk=job.pk)._status == "SUB"


@pytest.mark.django_db
def test_a_refresh_during_a_resubmit_never_takes_the_old_runs_engine_state(
        user, fake_engine, monkeypatch):
    """Seen in the soak (benchmarks/soak_lifecycle.py): a monitor refreshing a job while it
    was being resubmitted (Pending, still holding the old run's key) read the old run's
    "done" and made the new run Complete; the new engine job was then orphaned."""
    from tests.testapp.fixtures import age, make_jobs
    from tests.testapp.models import FakeEngineJob

    (job,) = make_jobs(fake_engine, user, 1, state="done")  # made Submitted: run 0
    assert job.status == "Complete"
    resubmit = FakeEngineJob._resubmit
    seen = []

    def refreshed_meanwhile(self, *args, **kwargs):
        other = age(TethysJob.objects.get_subclass(pk=self.pk))
        seen.append((other._status, other.update_status()))
        return resubmit(self, *args, **kwargs)

    monkeypatch.setattr(FakeEngineJob, "_resubmit", refreshed_meanwhile)
    job.resubmit()
    assert seen == [("PEN", False)]
    row = TethysJob.objects.get_subclass(pk=job.pk)
    assert (row._status, row.attempt, row.key) == ("SUB", 1, f"job-{job.pk}.1")
    assert fake_engine.submissions() == [f"job-{job.pk}.1"]
    assert list(row.status_history.values_list("old_status", "new_status"))[-2:] == [
        ("COM", "PEN"), ("PEN", "SUB")]
