"""The monitor's refresh (tethys_compute/monitor.py): batches per scheduler, due refresh
requests, result-processing retries, jobs the engine no longer knows, and leases.

The engine is the file-backed scheduler stand-in of tests/testapp/engine.py, reached
through the test-only FakeEngineJob's batch hooks; its journal counts engine queries.
"""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.testapp.fixtures import age, make_jobs, row
from tests.testapp.models import FakeEngineJob
from tethys_compute import leases
from tethys_compute.models import BasicJob, JobStatusChange, TethysJob
from tethys_compute.monitor import RefreshStats, refresh_jobs, run_cycle

pytestmark = pytest.mark.django_db


def statuses(jobs):
    return sorted(TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list(
        "_status", flat=True))


# --- batches per scheduler -----------------------------------------------------------------

def test_cycle_over_1000_active_jobs_issues_one_engine_query_per_scheduler(user, fake_engine):
    jobs = make_jobs(fake_engine, user, 1000, schedulers=("alpha", "beta", "gamma"))
    fake_engine.set_all("alpha", "running")
    fake_engine.set_all("beta", "failed")
    # gamma's jobs are still queued: checked, unchanged.

    stats = run_cycle()

    queries = fake_engine.queries()
    assert sorted(q["scheduler"] for q in queries) == ["alpha", "beta", "gamma"]
    for query in queries:
        expected = {j.key for j in jobs if j.scheduler_name == query["scheduler"]}
        assert set(query["keys"]) == expected and len(query["keys"]) == len(expected)
    assert (stats.claimed, stats.checked, stats.errors) == (1000, 1000, 0)
    assert stats.changed == 334 + 333
    assert statuses(jobs).count("RUN") == 334
    assert statuses(jobs).count("ERR") == 333
    assert statuses(jobs).count("SUB") == 333
    assert not TethysJob.objects.filter(lease_owner__isnull=False).exists()


def test_cycle_reads_jobs_in_a_fixed_number_of_queries(user, fake_engine):
    """Claiming and loading cost the same for 10 and 200 jobs (no per-job SELECT); each
    job then costs its own status write only."""
    def selects_for(count, scheduler):
        make_jobs(fake_engine, user, count, schedulers=(scheduler,))
        with CaptureQueriesContext(connection) as ctx:
            run_cycle()
        return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]

    def step(sql):  # the notification step's own fixed cost (tests/notifications)
        return "_jobnotification" in sql or "_notificationdelivery" in sql

    def notification_step(sqls):
        return [sql for sql in sqls if step(sql)]

    small = selects_for(10, "alpha")
    TethysJob.objects.all().delete()
    large = selects_for(200, "beta")
    assert len(notification_step(small)) == len(notification_step(large)) <= 4
    small, large = [[sql for sql in sqls if not step(sql)] for sqls in (small, large)]
    # claim, load, overdue runs, retries due, waiting for a slot (one read each),
    # whatever the count
    assert len(small) == len(large) <= 6


def test_jobs_not_due_are_not_sent_to_the_engine(user, fake_engine):
    due = make_jobs(fake_engine, user, 3, age=60)
    fresh = make_jobs(fake_engine, user, 2, age=1)
    stats = run_cycle()
    (query,) = fake_engine.queries()
    assert set(query["keys"]) == {j.key for j in due}
    assert stats.checked == 3 and stats.claimed == 5
    for job in fresh:
        assert row(job)._last_status_update == job._last_status_update


def test_finished_and_engineless_jobs_are_left_alone(user, fake_engine):
    done = make_jobs(fake_engine, user, 2, status="COM", state="done")
    TethysJob.objects.filter(pk__in=[j.pk for j in done]).update(completion_time=timezone.now())
    basic = BasicJob.objects.create(name="basic", user=user, label="test_app", _status="RUN")
    stats = run_cycle()
    assert fake_engine.queries() == []
    assert stats.checked == 0 and stats.claimed == 1  # the Basic job is active, nothing to do
    assert row(basic)._status == "RUN"


def test_label_limits_the_cycle_to_one_app(user, fake_engine):
    mine = make_jobs(fake_engine, user, 2, label="test_app")
    theirs = make_jobs(fake_engine, user, 2, label="other_app")
    fake_engine.set_all("alpha", "running")
    stats = run_cycle("test_app")
    assert stats.changed == 2
    assert statuses(mine) == ["RUN", "RUN"] and statuses(theirs) == ["SUB", "SUB"]


def test_unreachable_scheduler_is_counted_and_never_terminal(user, fake_engine):
    down = make_jobs(fake_engine, user, 3, schedulers=("down",))
    up = make_jobs(fake_engine, user, 2, schedulers=("up",), state="running")
    fake_engine.set_down("down")
    stats = run_cycle()
    assert (stats.checked, stats.changed, stats.errors) == (5, 2, 3)
    assert statuses(down) == ["SUB"] * 3 and statuses(up) == ["RUN"] * 2
    assert "not answering" in row(down[0]).status_message


def test_a_raising_batch_is_logged_and_the_others_still_run(user, fake_engine, monkeypatch, caplog):
    broken = make_jobs(fake_engine, user, 2, schedulers=("broken",))
    fine = make_jobs(fake_engine, user, 2, schedulers=("fine",), state="running")
    real_query = fake_engine.query.__func__

    def query(self, scheduler, keys):
        if scheduler == "broken":
            raise RuntimeError("the scheduler sent garbage")
        return real_query(self, scheduler, keys)

    monkeypatch.setattr("tests.testapp.engine.FakeEngine.query", query)
    with caplog.at_level(logging.ERROR, logger="tethys_compute.monitor"):
        stats = run_cycle()
    assert (stats.checked, stats.changed, stats.errors) == (4, 2, 1)
    assert statuses(broken) == ["SUB", "SUB"] and statuses(fine) == ["RUN", "RUN"]
    assert "batch 'broken'" in caplog.text
    assert not TethysJob.objects.filter(lease_owner__isnull=False).exists()


def test_cycle_logs_one_summary_line(user, fake_engine, caplog):
    make_jobs(fake_engine, user, 4, state="running")
    with caplog.at_level(logging.INFO, logger="tethys_compute.monitor"):
        run_cycle()
    lines = [r.getMessage() for r in caplog.records if r.name == "tethys_compute.monitor"]
    assert len(lines) == 1
    assert lines[0].startswith("tethys_compute monitor: checked 4 jobs, changed 4, errors 0, ")
    assert lines[0].endswith(" s")


# --- results, lost jobs --------------------------------------------------------------------

def test_incomplete_result_processing_is_retried_by_a_later_cycle(user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, state="done")
    fake_engine.set_results_available("alpha", False)
    run_cycle()
    stored = row(job)
    assert stored._status == "COM" and stored.completion_time is None
    assert stored._results_state == "retry" and "will be retried" in stored.status_message

    run_cycle()  # not due yet: the failure was just recorded
    assert row(job).completion_time is None and fake_engine.result_fetches() == []

    fake_engine.set_results_available("alpha", True)
    age(job)
    stats = run_cycle()
    stored = row(job)
    assert stored.completion_time is not None and stored._results_state == "done"
    assert stored.results == f"results of {job.key}"
    assert (stats.checked, stats.changed, stats.errors) == (1, 1, 0)
    assert [q["keys"] for q in fake_engine.queries()] == [[job.key]]  # no status re-query


def test_job_unknown_to_its_engine_becomes_error_after_the_grace_time(user, fake_engine, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 120}
    (job,) = make_jobs(fake_engine, user, 1, state="running")
    run_cycle()
    assert row(job)._status == "RUN"
    fake_engine.forget("alpha", job.key)
    age(job, 60)
    seen = row(job)._last_status_update

    stats = run_cycle()
    stored = row(job)
    assert stored._status == "RUN" and stats.errors == 1
    assert "does not know this job" in stored.status_message
    assert stored._last_status_update == seen  # still counts from the last real answer

    age(job, 121)
    stats = run_cycle()
    stored = row(job)
    assert stored._status == "ERR" and stored.completion_time is not None
    assert stored.status_message.startswith("The engine no longer knows this job")
    assert stats.changed == 1
    change = JobStatusChange.objects.filter(job_id=job.pk).last()
    assert (change.old_status, change.new_status) == ("RUN", "ERR")
    assert job.key in change.reason


def test_job_seen_again_within_the_grace_time_keeps_going(user, fake_engine, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 120}
    (job,) = make_jobs(fake_engine, user, 1, state="running", status="RUN", age=60)
    fake_engine.forget("alpha", job.key)
    run_cycle()
    fake_engine.set_state("alpha", job.key, "done")
    age(job, 100)
    run_cycle()
    assert row(job)._status == "COM"


# --- refresh requests (?delay=) ------------------------------------------------------------

def test_due_request_refreshes_a_job_whose_status_is_fresh(user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, age=1, state="running")
    run_cycle()
    assert row(job)._status == "SUB"  # rate-limited: checked a second ago
    leases.request_refresh(job, 0)
    stats = run_cycle()
    assert row(job)._status == "RUN" and stats.changed == 1
    assert row(job).refresh_requested_at is None


def test_request_not_yet_due_waits(user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, age=1, state="running")
    due = leases.request_refresh(job, 30)
    run_cycle()
    stored = row(job)
    assert stored._status == "SUB" and stored.refresh_requested_at == due
    TethysJob.objects.filter(pk=job.pk).update(refresh_requested_at=timezone.now())
    run_cycle()
    assert row(job)._status == "RUN" and row(job).refresh_requested_at is None


def test_request_made_during_a_cycle_survives_it(user, fake_engine, monkeypatch):
    (job,) = make_jobs(fake_engine, user, 1, age=60, state="running")
    real = FakeEngineJob.bulk_update_status.__func__

    def bulk(cls, jobs):
        # A caller asks for a refresh in 10 s while the engine is being asked.
        TethysJob.objects.filter(pk=job.pk).update(
            refresh_requested_at=timezone.now() + timedelta(seconds=10))
        return real(cls, jobs)

    monkeypatch.setattr(FakeEngineJob, "bulk_update_status", classmethod(bulk))
    run_cycle()
    assert row(job).refresh_requested_at is not None


def test_request_on_a_finished_job_is_cleared_without_engine_work(user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, status="COM", state="done")
    TethysJob.objects.filter(pk=job.pk).update(completion_time=timezone.now(),
                                               refresh_requested_at=timezone.now())
    stats = run_cycle()
    assert stats.checked == 0 and fake_engine.queries() == []
    assert row(job).refresh_requested_at is None


def test_due_requests_are_claimed_before_stale_jobs(user, fake_engine):
    stale = make_jobs(fake_engine, user, 3, age=600)
    (asked,) = make_jobs(fake_engine, user, 1, age=1)
    leases.request_refresh(asked, 0)
    stats = run_cycle(batch_size=2)
    assert stats.claimed == 2
    (query,) = fake_engine.queries()
    assert set(query["keys"]) == {asked.key, stale[0].key}


# --- leases --------------------------------------------------------------------------------

def test_jobs_leased_by_another_process_are_skipped_until_the_lease_runs_out(user, fake_engine):
    jobs = make_jobs(fake_engine, user, 2, state="running")
    TethysJob.objects.filter(pk=jobs[0].pk).update(
        lease_owner="elsewhere", lease_expires=timezone.now() + timedelta(seconds=60))
    stats = run_cycle()
    assert stats.claimed == 1 and row(jobs[0])._status == "SUB" and row(jobs[1])._status == "RUN"
    assert row(jobs[0]).lease_owner == "elsewhere"  # not released by someone else

    TethysJob.objects.filter(pk=jobs[0].pk).update(
        lease_expires=timezone.now() - timedelta(seconds=1))  # the holder crashed
    age(jobs[0])
    run_cycle()
    assert row(jobs[0])._status == "RUN" and row(jobs[0]).lease_owner is None


def test_refresh_jobs_takes_leases_and_skips_jobs_refreshed_since_loading(user, fake_engine):
    jobs = make_jobs(fake_engine, user, 3, state="running")
    loaded = list(TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).select_subclasses())
    TethysJob.objects.filter(pk=jobs[0].pk).update(
        lease_owner="elsewhere", lease_expires=timezone.now() + timedelta(seconds=60))
    TethysJob.objects.filter(pk=jobs[1].pk).update(_last_status_update=timezone.now())
    stats = refresh_jobs(loaded)
    assert stats == RefreshStats(checked=1, changed=1, errors=0)
    assert [row(j)._status for j in jobs] == ["SUB", "SUB", "RUN"]
    assert list(TethysJob.objects.exclude(lease_owner=None).values_list("pk", flat=True)) == [
        jobs[0].pk]


def test_refresh_jobs_with_nothing_due_runs_no_query(user, fake_engine):
    jobs = make_jobs(fake_engine, user, 3, age=1)
    loaded = list(TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).select_subclasses())
    with CaptureQueriesContext(connection) as ctx:
        assert refresh_jobs(loaded) == RefreshStats()
    assert ctx.captured_queries == [] and fake_engine.queries() == []


def test_stop_event_ends_the_cycle_and_releases_leases(user, fake_engine):
    make_jobs(fake_engine, user, 4, schedulers=("alpha", "beta"))
    stop = threading.Event()
    stop.set()
    stats = run_cycle(stop=stop)
    assert stats.claimed == 4 and stats.checked == 0 and fake_engine.queries() == []
    assert not TethysJob.objects.filter(lease_owner__isnull=False).exists()



def test_forcing_a_due_request_keeps_an_interval_the_class_fixes():
    from tethys_compute.monitor import _force_refresh

    class FixedInterval:  # an app class whose interval is a read-only property
        pk, type = 1, "FixedInterval"
        update_status_interval = property(lambda self: timedelta(hours=1))

    job = FixedInterval()
    _force_refresh(job)  # no AttributeError
    assert job.update_status_interval == timedelta(hours=1)
