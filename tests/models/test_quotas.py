"""Per-user limits on active jobs (issue 15, item 5): a job executed over its user's limit
stays Pending, "Waiting for a free slot (n of n running)", and the monitor starts waiting
jobs first in, first out per user as slots free."""

import pytest

from tethys_compute import monitor
from tethys_compute.app_base import TethysAppBase
from tethys_compute.models import BasicJob, TethysJob
from tethys_compute.models.quotas import positions

pytestmark = pytest.mark.django_db


class LimitedApp(TethysAppBase):
    name = "Limited"
    package = "limited_app"
    max_active_jobs_per_user = 1


def limit(settings, n):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_ACTIVE_JOBS_PER_USER": n}


def jobs(user, n, label="test_app", prefix=None):
    made = []
    for i in range(n):
        job = BasicJob.objects.create(name=f"{prefix or user.username}{i + 1}", user=user,
                                      label=label)
        job.execute()
        made.append(job)
    return made


def finish(job, status="Complete"):
    assert TethysJob.objects.get_subclass(pk=job.pk).update_status(status)


def state(job):
    row = TethysJob.objects.get(pk=job.pk)
    return row._status, row.status_message


def test_without_a_limit_every_job_runs(user):
    assert [state(j)[0] for j in jobs(user, 4)] == ["SUB"] * 4


def test_a_job_over_the_limit_waits_pending_with_the_reason(user, settings):
    limit(settings, 2)
    first, second, third = jobs(user, 3)
    assert state(first) == ("SUB", None) and state(second) == ("SUB", None)
    assert state(third) == ("PEN", "Waiting for a free slot (2 of 2 running)")
    row = TethysJob.objects.get(pk=third.pk)
    assert row.attempt == 0 and row.execute_time is None and row.quota_waiting_since
    assert third.cached_status == "Pending" and third.waiting_for_slot
    assert not row.status_history.exists()  # nothing happened to it yet


def test_the_limit_is_per_user(user, other_user, settings):
    limit(settings, 1)
    (a1, a2), (b1,) = jobs(user, 2), jobs(other_user, 1)
    assert state(a1)[0] == "SUB" and state(a2)[0] == "PEN" and state(b1)[0] == "SUB"


def test_finished_never_executed_and_waiting_jobs_hold_no_slot(user, settings):
    limit(settings, 2)
    done, failed = jobs(user, 2)
    done.update_status("Complete")
    failed.update_status("Error")
    BasicJob.objects.create(name="never executed", user=user, label="test_app")
    running, paused = jobs(user, 2, prefix="b")
    paused.update_status("Paused")
    (waiting,) = jobs(user, 1, prefix="c")
    assert state(running)[0] == "SUB" and state(paused)[0] == "PAS"
    assert state(waiting) == ("PEN", "Waiting for a free slot (2 of 2 running)")
    (also,) = jobs(user, 1, prefix="d")  # the waiting one holds no slot: still 2 of 2
    assert state(also) == ("PEN", "Waiting for a free slot (2 of 2 running)")


def test_an_apps_own_limit_replaces_the_setting_and_counts_its_jobs_only(user, settings):
    limit(settings, 5)
    mine = jobs(user, 2, label="limited_app")
    others = jobs(user, 3, label="test_app")
    assert [state(j)[0] for j in mine] == ["SUB", "PEN"]
    assert state(mine[1])[1] == "Waiting for a free slot (1 of 1 running)"
    assert [state(j)[0] for j in others] == ["SUB"] * 3  # 4 of 5 across apps


def test_the_monitor_starts_waiting_jobs_first_in_first_out_per_user(user, other_user, settings):
    limit(settings, 1)
    a1, a2, a3 = jobs(user, 3)
    b1, b2 = jobs(other_user, 2)
    assert positions([TethysJob.objects.get(pk=j.pk) for j in (a2, a3, b2, a1)]) == {
        a2.pk: 1, a3.pk: 2, b2.pk: 1}
    assert monitor.run_cycle().started_from_wait == 0  # no slot freed yet
    a1.update_status("Complete")
    assert monitor.run_cycle().started_from_wait == 1
    assert state(a2) == ("SUB", None) and state(a3)[0] == "PEN" and state(b2)[0] == "PEN"
    assert positions([TethysJob.objects.get(pk=a3.pk)]) == {a3.pk: 1}
    finish(b1, "Error")
    finish(a2, "Aborted")  # started by the monitor: this copy is stale
    assert monitor.run_cycle().started_from_wait == 2
    for job in (a3, b2):
        row = TethysJob.objects.get(pk=job.pk)
        assert (row._status, row.attempt, row.quota_waiting_since) == ("SUB", 1, None)
        assert list(row.status_history.values_list("new_status", flat=True)) == ["SUB"]


def test_a_raised_limit_starts_as_many_as_fit_in_order(user, settings):
    limit(settings, 1)
    first, *waiting = jobs(user, 5)
    limit(settings, 3)
    assert monitor.run_cycle().started_from_wait == 2
    assert [state(j)[0] for j in waiting] == ["SUB", "SUB", "PEN", "PEN"]


def test_a_waiting_job_can_be_stopped_and_is_never_started(user, settings):
    limit(settings, 1)
    first, waiting = jobs(user, 2)
    waiting.stop()
    first.update_status("Complete")
    assert monitor.run_cycle().started_from_wait == 0
    assert state(waiting)[0] == "ABT"


def test_the_arguments_of_a_waiting_execute_are_used_when_it_starts(user, settings,
                                                                     fake_engine, monkeypatch):
    from tests.testapp.models import FakeEngineJob

    limit(settings, 1)
    (first,) = jobs(user, 1)
    job = FakeEngineJob.objects.create(name="with args", user=user, label="test_app")
    job.execute("alpha", size=3)
    assert TethysJob.objects.get(pk=job.pk).quota_call == {"args": ["alpha"], "kwargs": {"size": 3}}
    seen = []
    original = FakeEngineJob._execute
    monkeypatch.setattr(FakeEngineJob, "_execute",
                        lambda self, *a, **k: (seen.append((a, k)), original(self))[1])
    first.update_status("Complete")
    assert monitor.run_cycle().started_from_wait == 1
    assert seen == [(("alpha",), {"size": 3})]
    assert state(job)[0] == "SUB"


def test_arguments_that_cannot_be_kept_end_in_error_not_lost_silently(user, settings):
    from tests.testapp.models import EngineJob

    limit(settings, 1)
    jobs(user, 1)
    job = EngineJob.objects.create(name="object arg", user=user, label="test_app")
    with pytest.raises(TypeError, match="cannot be kept until it starts"):
        job.execute(status=object())
    assert state(job) == ("PEN", None)


def test_resubmitting_finished_jobs_does_not_exceed_the_limit(user, settings):
    # Found by trial: a user at the limit resubmits finished jobs (the jobs table's
    # Resubmit action) and has as many active jobs as finished ones.
    limit(settings, 1)
    done, running = jobs(user, 2)
    assert state(running)[0] == "PEN"  # waiting behind done
    finish(done)
    monitor.run_cycle()
    assert state(running)[0] == "SUB"  # 1 of 1
    TethysJob.objects.get_subclass(pk=done.pk).resubmit()
    active = TethysJob.objects.filter(user=user, _status__in=["SUB", "RUN"]).count()
    assert active <= 1, f"{active} active jobs with a limit of 1"


def test_a_resubmit_over_the_limit_waits_and_the_monitor_starts_it(user, settings):
    limit(settings, 1)
    (done,) = jobs(user, 1)
    finish(done)
    (running,) = jobs(user, 1, prefix="b")
    TethysJob.objects.get_subclass(pk=done.pk).resubmit()
    row = TethysJob.objects.get(pk=done.pk)
    assert (row._status, row.status_message, row.execute_time) == (
        "PEN", "Waiting for a free slot (1 of 1 running)", None)
    finish(running)
    assert monitor.run_cycle().started_from_wait == 1
    assert state(done)[0] == "SUB"
