"""Row leases and refresh requests (tethys_compute/leases.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tethys_compute import leases
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db


def jobs(user, count):
    return [BasicJob.objects.create(name=f"j{i}", user=user, label="test_app", _status="RUN")
            for i in range(count)]


def test_two_owners_claim_disjoint_jobs(user):
    created = jobs(user, 5)
    everything = TethysJob.objects.filter(pk__in=[j.pk for j in created])
    first = leases.claim(everything, "a", limit=3, order_by=("pk",))
    second = leases.claim(everything, "b")
    assert first == [j.pk for j in created[:3]]
    assert sorted(second) == [j.pk for j in created[3:]]
    assert leases.claim(everything, "c") == []


def test_lease_runs_out_and_release_touches_only_the_owners_rows(user):
    created = jobs(user, 2)
    everything = TethysJob.objects.filter(pk__in=[j.pk for j in created])
    assert len(leases.claim(everything, "a", seconds=-1)) == 2  # already run out
    assert len(leases.claim(everything, "b", seconds=60)) == 2
    assert leases.release("a", [j.pk for j in created]) == 0
    assert leases.release("b", [j.pk for j in created]) == 2
    assert not TethysJob.objects.exclude(lease_owner=None).exists()


def test_owner_names_are_unique_and_fit_the_column(user):
    names = {leases.new_owner() for _ in range(100)}
    assert len(names) == 100
    assert max(len(name) for name in names) <= 64


def test_requests_merge_to_the_earliest_and_are_capped(user, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "CALLBACK_MAX_DELAY": 50}
    (job,) = jobs(user, 1)
    first = leases.request_refresh(job, 30)
    job.refresh_from_db()
    assert leases.request_refresh(job, 40) == first
    capped = leases.request_refresh(job, 10**6)
    assert capped == first
    sooner = leases.request_refresh(job, 0)
    assert sooner < first
    job.refresh_from_db()
    assert job.refresh_requested_at == sooner
    (other,) = jobs(user, 1)
    assert leases.request_refresh(other, 10**6) <= timezone.now() + timedelta(seconds=50)


def test_release_clears_only_requests_carried_out(user):
    created = jobs(user, 2)
    now = timezone.now()
    TethysJob.objects.filter(pk=created[0].pk).update(refresh_requested_at=now)
    TethysJob.objects.filter(pk=created[1].pk).update(
        refresh_requested_at=now + timedelta(seconds=30))
    ids = leases.claim(TethysJob.objects.filter(pk__in=[j.pk for j in created]), "m")
    leases.release("m", ids, clear_requests_before=now)
    values = dict(TethysJob.objects.values_list("pk", "refresh_requested_at"))
    assert values[created[0].pk] is None and values[created[1].pk] is not None


# --- named leases (one engine refresh per scheduler) -----------------------------------------
def test_a_named_lease_has_one_holder_until_released():
    from tethys_compute.models import EngineLease

    assert leases.claim_named("scheduler 1", "a", seconds=60)
    assert not leases.claim_named("scheduler 1", "b", seconds=60)
    assert leases.claim_named("scheduler 2", "b", seconds=60)  # names are independent
    assert not leases.release_named("scheduler 1", "b")  # not b's to release
    assert leases.release_named("scheduler 1", "a")
    assert leases.claim_named("scheduler 1", "b", seconds=60)
    assert EngineLease.objects.get(name="scheduler 1").owner == "b"


def test_a_named_lease_that_ran_out_is_taken_over():
    from tethys_compute.models import EngineLease

    assert leases.claim_named("scheduler 1", "crashed", seconds=60)
    EngineLease.objects.filter(name="scheduler 1").update(
        expires=timezone.now() - timedelta(seconds=1))
    assert leases.claim_named("scheduler 1", "next", seconds=60)
    assert not leases.release_named("scheduler 1", "crashed")
