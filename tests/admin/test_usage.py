"""The job admin's usage (issue 15, item 6): per run and total on the job page, and totals
per user and per app over a period."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db


def measured(user, label, wall, peak, attempt=1, days_ago=0):
    job = BasicJob.objects.create(name=f"{label}-{wall}", user=user, label=label, attempt=attempt)
    job.record_usage({"wall_seconds": wall, "cpu_seconds": wall / 2, "peak_memory_mb": peak,
                      "requested_memory_mb": 4096, "requested_cpus": 2, "disk_kb": 2048})
    if days_ago:
        TethysJob.objects.filter(pk=job.pk).update(
            creation_time=timezone.now() - timedelta(days=days_ago))
    return job


def test_the_job_page_shows_usage_per_run_and_total(admin_client, user):
    job = measured(user, "app_a", 100, 1000)
    TethysJob.objects.filter(pk=job.pk).update(attempt=2)
    job = BasicJob.objects.get(pk=job.pk)
    job.record_usage({"wall_seconds": 50, "cpu_seconds": 20, "peak_memory_mb": 3000,
                      "requested_memory_mb": 4096, "requested_cpus": 2, "disk_kb": 1024})
    page = admin_client.get(f"/admin/tethys_compute/tethysjob/{job.pk}/change/").content.decode()
    assert "<td>attempt 1</td><td>100.0</td><td>50.0</td><td>1000 MB</td><td>4 GB</td>" in page
    assert "<td>attempt 2</td><td>50.0</td><td>20.0</td><td>2.9 GB</td>" in page
    assert "<td>total</td><td>150.0</td><td>70.0</td><td>2.9 GB</td><td>4 GB</td><td>2</td>" in page
    assert "Totals per user and per app" in page


def test_a_job_without_usage_says_so(admin_client, user):
    job = BasicJob.objects.create(name="quiet", user=user, label="app_a")
    page = admin_client.get(f"/admin/tethys_compute/tethysjob/{job.pk}/change/").content.decode()
    assert "Not reported by the engine (yet)." in page


def test_totals_per_user_and_per_app_over_a_period(admin_client, user, other_user):
    measured(user, "app_a", 3600, 1000)
    measured(user, "app_b", 7200, 3174)
    measured(other_user, "app_a", 1800, 500)
    measured(other_user, "app_a", 36000, 500, days_ago=10)
    page = admin_client.get("/admin/tethys_compute/tethysjob/usage/?by=user&since=7d")
    text = page.content.decode()
    assert page.status_code == 200
    assert "<td>alice</td><td>2</td><td>2</td><td>3.00</td><td>1.50</td><td>3.1 of 4 GB</td>" in text
    assert "<td>bob</td><td>1</td><td>1</td><td>0.50</td>" in text
    text = admin_client.get("/admin/tethys_compute/tethysjob/usage/?by=app&since=30d").content.decode()
    assert "<td>app_a</td><td>3</td><td>3</td><td>11.50</td>" in text
    bad = admin_client.get("/admin/tethys_compute/tethysjob/usage/?since=forever").content.decode()
    assert "90m, 12h, 30d or 2w" in bad


def test_totals_need_the_view_permission(client, user):
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert client.get("/admin/tethys_compute/tethysjob/usage/").status_code == 403
