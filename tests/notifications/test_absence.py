"""Absence events with a clock the test controls (``monitor_step(now)``): a running job
that reports no progress for N minutes, a job still waiting to start after N hours."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.testapp.app import TestApp
from tethys_compute.models import TethysJob
from tethys_compute.notifications import monitor_step
from tethys_compute.notifications.models import JobNotification

pytestmark = pytest.mark.django_db

NOTIFY = {"channels": ["email"], "no_progress_minutes": 30, "waiting_hours": 2}


@pytest.fixture
def alice(user):
    user.email = "alice@example.org"
    user.save()
    return user


def new_job(user, notify=NOTIFY, name="Long run"):
    job = TestApp.get_job_manager().create_job(name, user, job_type="BASIC", notify=notify)
    job.save()
    return job


def events(job):
    return list(JobNotification.objects.filter(job=job).values_list("event", "attempt"))


def test_no_progress_for_n_minutes_is_told_once(alice, notify_settings):
    job = new_job(alice)
    job.execute()
    job.status = "Running"
    start = TethysJob.objects.get(pk=job.pk).start_time
    monitor_step(start + timedelta(minutes=29))
    assert events(job) == []
    monitor_step(start + timedelta(minutes=31))
    assert events(job) == [("no_progress", 1)]
    (message,) = mail.outbox
    assert "reported no progress" in message.subject
    assert "no progress reported for 30 minutes" in message.body
    monitor_step(start + timedelta(hours=5))
    assert len(mail.outbox) == 1


def test_a_progress_report_resets_the_clock(alice, notify_settings):
    job = new_job(alice)
    job.execute()
    job.status = "Running"
    start = TethysJob.objects.get(pk=job.pk).start_time
    job.set_progress(40)
    reported = TethysJob.objects.get(pk=job.pk).progress_reported_at
    assert reported >= start
    monitor_step(reported + timedelta(minutes=29))
    assert events(job) == []
    monitor_step(reported + timedelta(minutes=30))
    assert events(job) == [("no_progress", 1)]


def test_still_waiting_to_start_after_n_hours(alice, notify_settings):
    job = new_job(alice)
    job.execute()  # Submitted, never Running
    since = TethysJob.objects.get(pk=job.pk).execute_time
    monitor_step(since + timedelta(hours=1, minutes=59))
    assert events(job) == []
    monitor_step(since + timedelta(hours=2))
    assert events(job) == [("waiting", 1)]
    assert "still waiting to start after 2 hours" in mail.outbox[0].body


def test_a_pending_job_counts_from_its_creation(alice, notify_settings):
    job = new_job(alice)
    monitor_step(job.creation_time + timedelta(hours=2, seconds=1))
    assert events(job) == [("waiting", 0)]


def test_finished_jobs_and_jobs_without_thresholds_are_not_absent(alice, notify_settings):
    done = new_job(alice, name="done")
    done.execute()
    done.status = "Complete"
    plain = new_job(alice, notify=["email"], name="no thresholds")
    plain.execute()
    plain.status = "Running"
    monitor_step(timezone.now() + timedelta(days=3))
    assert events(plain) == []
    assert events(done) == [("finished", 1)]


def test_each_attempt_is_told_once(alice, notify_settings):
    job = new_job(alice)
    job.execute()
    job.status = "Running"
    later = timezone.now() + timedelta(hours=1)
    monitor_step(later)
    TethysJob.objects.filter(pk=job.pk).update(attempt=2, start_time=later)
    monitor_step(later + timedelta(minutes=10))
    assert events(job) == [("no_progress", 1)]
    monitor_step(later + timedelta(minutes=31))
    assert events(job) == [("no_progress", 1), ("no_progress", 2)]


def test_the_search_costs_the_same_for_3_and_60_jobs(alice, notify_settings):
    def queries(count):
        jobs = [new_job(alice, name=f"j{i}") for i in range(count)]
        for job in jobs:
            job.execute()
            job.status = "Running"
        when = timezone.now() + timedelta(hours=1)
        with CaptureQueriesContext(connection) as ctx:
            from tethys_compute.notifications.events import find_absences
            found = find_absences(when, 1000)
        assert found == count
        JobNotification.objects.all().delete()
        TethysJob.objects.all().delete()
        return len(ctx.captured_queries)

    # Two searches, one preference lookup, then per event recorded its get_or_create
    # (SELECT, SAVEPOINT, INSERT, RELEASE: 4 queries).
    assert queries(60) - 4 * 60 == queries(3) - 4 * 3


def test_a_progress_report_to_the_callback_url_resets_the_clock(alice, client,
                                                                notify_settings):
    from django.urls import reverse

    job = new_job(alice)
    job.execute()
    job.status = "Running"
    answer = client.post(reverse("report_job_status", kwargs={"job_id": job.pk}),
                         {"progress": "10"},
                         HTTP_AUTHORIZATION=f"Bearer {job.status_report_token}")
    assert answer.status_code == 200, answer.content
    reported = TethysJob.objects.get(pk=job.pk).progress_reported_at
    assert reported is not None
    monitor_step(reported + timedelta(minutes=29))
    assert events(job) == []


def test_a_scheduled_retry_waits_from_when_it_is_due(alice, notify_settings):
    from tethys_compute.failure_kinds import LOST, Failure

    job = new_job(alice)
    job.max_attempts = 3
    job.save()
    job.execute()
    job.status = "Running"
    TethysJob.objects.filter(pk=job.pk).update(
        execute_time=timezone.now() - timedelta(hours=5),
        start_time=timezone.now() - timedelta(hours=5), progress_reported_at=timezone.now())
    job.refresh_from_db()
    assert job.run_failed(Failure(LOST, "worker lost"))
    due = TethysJob.objects.get(pk=job.pk).retry_due_at
    monitor_step(due - timedelta(seconds=1))
    assert [e for e, _a in events(job)] == ["retried"]  # not "waiting": its run began 5 h ago
    monitor_step(due + timedelta(hours=2))
    assert [e for e, _a in events(job)] == ["retried", "waiting"]
