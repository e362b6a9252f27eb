"""A monitor cycle writes rows only for the jobs whose status changed (issue 17): the
"engine answered" stamps of unchanged jobs go out in one UPDATE per batch
(tethys_compute/models/status_stamps.py), whatever the number of jobs.

The engine is the file-backed stand-in of tests/testapp/engine.py (FakeEngineJob).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.testapp.fixtures import make_jobs
from tethys_compute.models import JobStatusChange, TethysJob
from tethys_compute.models.job_status import CHECK_FAILED
from tethys_compute.monitor import refresh_jobs, run_cycle

pytestmark = pytest.mark.django_db

SCHEDULERS = ("alpha", "beta", "gamma")


def writes(ctx, table="tethys_compute_tethysjob"):
    """UPDATE statements on ``table`` that are not the leases' claim/release."""
    return [q["sql"] for q in ctx.captured_queries
            if q["sql"].lstrip().upper().startswith("UPDATE") and f'"{table}"' in q["sql"]
            and "lease_owner" not in q["sql"]]


def cycle_writes(fake_engine, user, count):
    TethysJob.objects.all().delete()
    jobs = make_jobs(fake_engine, user, count, schedulers=SCHEDULERS, age=600)
    asked = len(fake_engine.queries())
    with CaptureQueriesContext(connection) as ctx:
        stats = run_cycle()
    assert (stats.checked, stats.changed, stats.errors) == (count, 0, 0)
    assert len(fake_engine.queries()) - asked == len(SCHEDULERS)  # one per scheduler
    return jobs, writes(ctx)


def test_unchanged_jobs_cost_the_same_writes_for_9_and_300_jobs(user, fake_engine):
    _, small = cycle_writes(fake_engine, user, 9)
    jobs, large = cycle_writes(fake_engine, user, 300)
    assert len(small) == len(large) == 1, large  # the stamps, one UPDATE
    assert not JobStatusChange.objects.exists()
    # The stamps are stored: the jobs are not due again (rate limit), their status stays.
    fresh = timezone.now() - timedelta(seconds=5)
    rows = TethysJob.objects.filter(pk__in=[j.pk for j in jobs])
    assert rows.filter(_last_status_update__gte=fresh).count() == 300
    assert set(rows.values_list("_status", flat=True)) == {"SUB"}
    asked = len(fake_engine.queries())
    assert run_cycle().checked == 0 and len(fake_engine.queries()) == asked


def test_changed_jobs_are_written_one_by_one_and_the_rest_in_one_update(user, fake_engine):
    jobs = make_jobs(fake_engine, user, 300, schedulers=SCHEDULERS, age=600)
    fake_engine.set_all("alpha", "running")  # 100 change; beta and gamma stay queued
    with CaptureQueriesContext(connection) as ctx:
        stats = run_cycle()
    assert (stats.checked, stats.changed) == (300, 100)
    # one conditional UPDATE per changed job, one for the 200 stamps
    assert len(writes(ctx)) == 100 + 1
    assert JobStatusChange.objects.filter(new_status="RUN").count() == 100
    assert TethysJob.objects.filter(pk__in=[j.pk for j in jobs], _status="RUN").count() == 100


def test_a_transient_warning_is_cleared_in_the_batch(user, fake_engine):
    """A job whose last check failed (warning in ``status_message``) answers again,
    unchanged: the warning goes, in the grouped write."""
    jobs = make_jobs(fake_engine, user, 6, schedulers=("alpha",), age=600)
    TethysJob.objects.filter(pk__in=[j.pk for j in jobs[:3]]).update(
        status_message=f"{CHECK_FAILED}scheduler unreachable")
    with CaptureQueriesContext(connection) as ctx:
        stats = refresh_jobs(TethysJob.objects.filter(pk__in=[j.pk for j in jobs])
                             .select_subclasses())
    assert (stats.checked, stats.changed) == (6, 0)
    assert len(writes(ctx)) == 2  # stamps with the warning cleared, stamps alone
    assert not TethysJob.objects.filter(status_message__isnull=False).exists()


def test_a_single_refresh_still_writes_its_own_stamp(user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, age=600)
    job = TethysJob.objects.get_subclass(pk=job.pk)
    before = job._last_status_update
    assert job.update_status() is False
    assert TethysJob.objects.get(pk=job.pk)._last_status_update > before


def test_a_scheduler_that_cannot_answer_costs_one_write_for_its_jobs(user, fake_engine):
    """Seen with 3,333 HTCondor jobs whose condor_q timed out: one UPDATE per job to
    record the failed check. Now one for the batch; the jobs keep their status."""
    jobs = make_jobs(fake_engine, user, 120, schedulers=("alpha",), age=600)
    fake_engine.set_down("alpha")
    with CaptureQueriesContext(connection) as ctx:
        stats = run_cycle()
    assert stats.checked == 120 and stats.errors >= 1 and stats.changed == 0
    assert len(writes(ctx)) == 1
    rows = TethysJob.objects.filter(pk__in=[j.pk for j in jobs])
    assert set(rows.values_list("_status", flat=True)) == {"SUB"}
    assert all(m.startswith(CHECK_FAILED) for m in rows.values_list("status_message", flat=True))

