"""Status events by email (Django's locmem backend), sent by the monitor's step, once,
recorded on the job, linking back to it."""

import pytest
from django.core import mail

from tests.testapp.app import TestApp
from tethys_compute.failure_kinds import LOST, Failure
from tethys_compute.models import TethysJob
from tethys_compute.monitor import run_cycle
from tethys_compute.notifications import monitor_step
from tethys_compute.notifications.models import JobNotification, NotificationDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(user):
    user.email = "alice@example.org"
    user.save()
    return user


def make_job(user, notify=("email",), **kwargs):
    job = TestApp.get_job_manager().create_job("Flood run", user, job_type="BASIC",
                                               notify=list(notify), **kwargs)
    job.save()
    job.execute()
    return job


def test_finished_job_emails_its_owner_once_with_a_link(alice, notify_settings):
    job = make_job(alice)
    job.status = "Complete"
    assert mail.outbox == []  # nothing is sent on the request path
    stats = monitor_step()
    assert stats["sent"] == 1
    (message,) = mail.outbox
    assert message.to == ["alice@example.org"]
    assert "Flood run" in message.subject and "finished" in message.subject
    assert f"https://jobs.example.org/apps/test_app/jobs/{job.pk}/" in message.body
    monitor_step()
    run_cycle()
    assert len(mail.outbox) == 1
    (note,) = JobNotification.objects.filter(job=job)
    assert (note.event, note.attempt) == ("finished", 1)
    assert list(note.deliveries.values_list("channel", "state")) == [("email", "sent")]


def test_failed_held_and_retried_are_events(alice, notify_settings):
    failed = make_job(alice)
    failed.status = "Error"
    held = make_job(alice)
    held._write_status("OTH", other="Held", reason="hold reason code 26")
    retried = make_job(alice, max_attempts=3)
    retried.status = "Running"
    # The retry policy (models/retries.py) decides another attempt follows.
    assert retried.run_failed(Failure(LOST, "worker lost"))
    monitor_step()
    subjects = sorted(m.subject for m in mail.outbox)
    assert len(subjects) == 3
    assert any("failed" in s for s in subjects)
    assert any("held" in s for s in subjects)
    assert any("retried" in s for s in subjects)
    note = JobNotification.objects.get(job=retried)
    assert note.attempt == 2 and note.detail.startswith("Retry 2 of 3 in ")
    assert "worker lost" in note.detail


def test_only_opted_in_jobs_and_events_notify(alice, notify_settings):
    quiet = TestApp.get_job_manager().create_job("quiet", alice, job_type="BASIC")
    quiet.save()
    quiet.execute()
    quiet.status = "Complete"
    only_failed = make_job(alice, notify=())
    only_failed.notify = {"channels": [{"type": "email"}], "events": ["failed"]}
    only_failed.save()
    only_failed.status = "Complete"
    monitor_step()
    assert mail.outbox == []


def test_users_preference_opts_in_and_out(alice, notify_settings):
    from tethys_compute.notifications.models import NotificationPreference

    pref = NotificationPreference.objects.create(user=alice, email=True)
    job = TestApp.get_job_manager().create_job("by preference", alice, job_type="BASIC")
    job.save()
    job.execute()
    job.status = "Complete"
    monitor_step()
    assert len(mail.outbox) == 1
    pref.enabled = False  # muted: not even the job's own opt-in reaches the user
    pref.save()
    muted = make_job(alice)
    muted.status = "Complete"
    monitor_step()
    assert len(mail.outbox) == 1


def test_a_user_without_an_email_address_is_recorded_not_sent(user, notify_settings):
    job = make_job(user)
    job.status = "Complete"
    monitor_step()
    assert mail.outbox == []
    (delivery,) = NotificationDelivery.objects.filter(notification__job=job)
    assert delivery.state == "failed" and "no email address" in delivery.last_error


def test_notifications_are_shown_on_the_jobs_admin_page(alice, admin_client, notify_settings):
    job = make_job(alice)
    job.status = "Complete"
    monitor_step()
    page = admin_client.get(f"/admin/tethys_compute/tethysjob/{job.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Notifications" in text and "alice@example.org" in text and "sent" in text


def test_the_monitor_cycle_runs_the_step(alice, notify_settings):
    job = make_job(alice)
    TethysJob.objects.get(pk=job.pk)
    job.status = "Complete"
    run_cycle()
    assert len(mail.outbox) == 1


def test_a_preference_is_edited_in_the_admin_and_its_url_validated(alice, admin_client,
                                                                     settings):
    from tethys_compute.notifications.models import NotificationPreference

    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE,
                               "NOTIFY_WEBHOOK_ALLOWED_HOSTS": ["hooks.example.org"]}
    url = "/admin/tethys_compute/notificationpreference/add/"
    form = {"user": alice.pk, "enabled": "on", "email": "on", "events": '["failed"]'}
    bad = admin_client.post(url, {**form, "webhook_url": "http://10.0.0.5/internal"})
    assert bad.status_code == 200 and "NOTIFY_WEBHOOK_ALLOWED_HOSTS" in bad.content.decode()
    assert not NotificationPreference.objects.exists()
    good = admin_client.post(url, {**form, "webhook_url": "https://hooks.example.org/a"})
    assert good.status_code == 302
    preference = NotificationPreference.objects.get(user=alice)
    assert preference.events == ["failed"] and preference.channels() == [
        {"type": "email"}, {"type": "webhook", "url": "https://hooks.example.org/a"}]


def test_a_batch_looks_up_its_owners_preferences_once(alice, django_user_model, notify_settings):
    """Jobs finishing in one batch refresh (monitor.refresh_jobs) read their owners'
    preferences in one query, and each owner still gets their own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tethys_compute.notifications import batch_preferences
    from tethys_compute.notifications.models import NotificationPreference

    bob = django_user_model.objects.create_user("bob", email="bob@example.org")
    carol = django_user_model.objects.create_user("carol", email="carol@example.org")
    NotificationPreference.objects.create(user=alice, email=True)
    NotificationPreference.objects.create(user=bob, email=True, enabled=False)
    jobs = []
    for owner in (alice, bob, carol, alice):
        job = TestApp.get_job_manager().create_job("batch", owner, job_type="BASIC")
        job.save()
        job.execute()
        jobs.append(job)
    with CaptureQueriesContext(connection) as queries:
        with batch_preferences({job.user_id for job in jobs}):
            for job in jobs:
                job.status = "Complete"
    lookups = [q for q in queries.captured_queries
               if "notificationpreference" in q["sql"].lower()]
    assert len(lookups) == 1
    noted = set(JobNotification.objects.values_list("job_id", flat=True))
    assert noted == {jobs[0].pk, jobs[3].pk}  # alice opted in; bob muted; carol never asked


def test_a_monitor_cycle_looks_up_preferences_once_for_the_runs_it_stops(
        alice, django_user_model, notify_settings):
    """The monitor's own steps finish jobs too: the runs over their ``max_run_time`` it
    fails (models/run_limits.py) read their owners' preferences in one query, as its
    batch refresh does, whatever their number."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from tethys_compute.notifications.models import NotificationPreference

    def lookups_for(count):
        owners = [django_user_model.objects.create_user(f"owner{count}-{i}")
                  for i in range(count)]
        for owner in owners[::2]:
            NotificationPreference.objects.create(user=owner, email=True, events=["failed"])
        jobs = []
        for owner in owners:
            job = TestApp.get_job_manager().create_job("overdue", owner, job_type="BASIC",
                                                       max_run_time=60)
            job.save()
            job.execute()
            job.status = "Running"
            jobs.append(job)
        then = timezone.now() - timedelta(seconds=120)
        TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).update(
            start_time=then, _last_status_update=then)
        with CaptureQueriesContext(connection) as queries:
            stats = run_cycle()
        assert stats.overdue == count
        noted = set(JobNotification.objects.filter(event="failed").values_list("job_id",
                                                                               flat=True))
        assert noted >= {job.pk for job in jobs[::2]}  # each owner who asked, told
        assert not noted & {job.pk for job in jobs[1::2]}  # the others, not
        return [q for q in queries.captured_queries
                if "notificationpreference" in q["sql"].lower()]

    # One for the stopped runs, one for the outbox expanding their events.
    assert len(lookups_for(3)) == len(lookups_for(12)) <= 2
