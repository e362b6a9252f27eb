"""Bounded, batched refresh of stale jobs while a table polls."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tethys_compute.jobs_table.refresh import refresh_due
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db


def stale(job, seconds=3600):
    TethysJob.objects.filter(pk=job.pk).update(
        _last_status_update=timezone.now() - timedelta(seconds=seconds))
    return TethysJob.objects.get_subclass(pk=job.pk)


def test_only_stale_unfinished_jobs_with_an_engine_are_refreshed(make_job, engine):
    due = stale(make_job("due", status="SUB"))
    fresh = make_job("fresh", status="SUB")
    done = stale(make_job("done", status="COM"))
    engine[due.pk] = "RUN"
    refreshed = refresh_due([due, fresh, done])
    assert engine.calls == [due.pk]
    assert [(job.pk, job.cached_status) for job in refreshed] == [(due.pk, "Running")]
    assert not TethysJob.objects.exclude(lease_owner=None).exists()


def test_jobs_without_an_engine_cost_nothing(make_job, django_assert_num_queries):
    jobs = [stale(make_job(f"basic {i}", status="RUN")) for i in range(5)]
    with django_assert_num_queries(0):
        assert refresh_due(jobs) == []


def test_batch_is_bounded_stalest_first(make_job, engine, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_REFRESH_BATCH": 2}
    jobs = [stale(make_job(f"j{i}", status="SUB"), seconds=100 + i * 100) for i in range(5)]
    refresh_due(jobs)
    assert sorted(engine.calls) == sorted([jobs[4].pk, jobs[3].pk])


def test_a_job_leased_by_the_monitor_is_left_to_it(make_job, engine):
    job = stale(make_job(status="SUB"))
    TethysJob.objects.filter(pk=job.pk).update(
        lease_owner="monitor:1", lease_expires=timezone.now() + timedelta(seconds=30))
    job = TethysJob.objects.get_subclass(pk=job.pk)
    assert refresh_due([job]) == []
    assert engine.calls == []
    assert TethysJob.objects.get(pk=job.pk).lease_owner == "monitor:1"


def test_a_job_claimed_meanwhile_by_another_poll_is_skipped(make_job, engine):
    job = stale(make_job(status="SUB"))
    in_memory = TethysJob.objects.get_subclass(pk=job.pk)  # read before the other claim
    TethysJob.objects.filter(pk=job.pk).update(
        lease_owner="jobs-table:other", lease_expires=timezone.now() + timedelta(seconds=30))
    assert refresh_due([in_memory]) == []
    assert engine.calls == []


def test_time_budget_stops_starting_new_batches(make_job, engine, settings, monkeypatch):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_REFRESH_BUDGET": 0}
    from tethys_compute.models import BasicJob

    monkeypatch.setattr(BasicJob, "status_batch_key", lambda self: self.name)
    jobs = [stale(make_job(f"scheduler {i}", status="SUB")) for i in range(3)]
    refresh_due(jobs)
    assert len(engine.calls) == 1  # one batch (one scheduler) started, then out of time
    assert not TethysJob.objects.exclude(lease_owner=None).exists()


def test_results_processing_left_incomplete_is_retried(make_job, engine, monkeypatch):
    job = make_job(status="SUB")
    TethysJob.objects.filter(pk=job.pk).update(
        _status="RES", _last_status_update=timezone.now() - timedelta(hours=1))
    job = TethysJob.objects.get_subclass(pk=job.pk)
    assert job.post_processing_incomplete
    refreshed = refresh_due([job])
    assert refreshed[0].cached_status == "Complete"
