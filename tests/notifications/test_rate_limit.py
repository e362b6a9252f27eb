"""The per-user rate limit: at most NOTIFY_RATE_LIMIT per NOTIFY_RATE_PERIOD; the excess
is dropped and recorded."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from tests.testapp.app import TestApp
from tethys_compute.notifications import monitor_step
from tethys_compute.notifications.models import NotificationDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(notify_settings):
    notify_settings.TETHYS_COMPUTE = {**notify_settings.TETHYS_COMPUTE,
                                      "NOTIFY_RATE_LIMIT": 3, "NOTIFY_RATE_PERIOD": 3600}
    return notify_settings


def finish(user, count, prefix="job"):
    for i in range(count):
        job = TestApp.get_job_manager().create_job(f"{prefix} {i}", user, job_type="BASIC",
                                                   notify=["email"])
        job.save()
        job.execute()
        job.status = "Complete"


def test_excess_is_dropped_with_a_record_per_user(user, other_user, limited):
    user.email, other_user.email = "alice@example.org", "bob@example.org"
    user.save()
    other_user.save()
    finish(user, 5)
    finish(other_user, 2, "bob's")
    now = timezone.now()
    stats = monitor_step(now)
    assert (stats["sent"], stats["dropped"]) == (5, 2)
    to_alice = [m for m in mail.outbox if m.to == ["alice@example.org"]]
    assert len(to_alice) == 3 and len(mail.outbox) == 5
    dropped = NotificationDelivery.objects.filter(state="dropped")
    assert dropped.count() == 2
    assert all(d.user_id == user.pk and "rate limit: at most 3 per 3600 s" in d.last_error
               for d in dropped)
    # Within the hour: still limited; after it, sent again.
    finish(user, 1, "later")
    assert monitor_step(now + timedelta(minutes=59))["dropped"] == 1
    finish(user, 1, "next hour")
    assert monitor_step(now + timedelta(minutes=61))["sent"] == 1
    assert len(mail.outbox) == 6


def test_no_limit_when_set_to_zero(user, limited):
    limited.TETHYS_COMPUTE = {**limited.TETHYS_COMPUTE, "NOTIFY_RATE_LIMIT": 0}
    user.email = "alice@example.org"
    user.save()
    finish(user, 5)
    assert monitor_step()["sent"] == 5
