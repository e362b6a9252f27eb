"""``tethys_compute_jobs usage --by user --since 30d`` (issue 15, item 6): usage totals
per user and per app over a period, as a table or JSON."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db


def measured(user, label, wall, cpu, peak, requested=4096, disk=1024, days_ago=0):
    job = BasicJob.objects.create(name="j", user=user, label=label, attempt=1)
    job.record_usage({"wall_seconds": wall, "cpu_seconds": cpu, "peak_memory_mb": peak,
                      "requested_memory_mb": requested, "requested_cpus": 1, "disk_kb": disk})
    if days_ago:
        TethysJob.objects.filter(pk=job.pk).update(
            creation_time=timezone.now() - timedelta(days=days_ago))
    return job


@pytest.fixture
def usage(user, other_user):
    measured(user, "app_a", 3600, 3000, 1000)
    measured(user, "app_b", 1800, 1700, 3174, requested=32768)
    measured(other_user, "app_a", 7200, 7000, 500)
    measured(other_user, "app_a", 99999, 99999, 9999, days_ago=40)  # outside 30 days
    BasicJob.objects.create(name="never measured", user=user, label="app_a")


def run(*args):
    out = StringIO()
    call_command("tethys_compute_jobs", "usage", *args, stdout=out)
    return out.getvalue()


def test_totals_by_user_as_json(usage):
    data = json.loads(run("--by", "user", "--since", "30d", "--format", "json"))
    totals = {row["user"]: row for row in data["totals"]}
    assert [row["user"] for row in data["totals"]] == ["bob", "alice"]  # most wall time first
    assert totals["alice"]["jobs"] == 3 and totals["alice"]["measured_jobs"] == 2
    assert totals["alice"]["wall_seconds"] == 5400 and totals["alice"]["cpu_seconds"] == 4700
    assert totals["alice"]["peak_memory_mb"] == 3174
    assert totals["bob"]["wall_seconds"] == 7200  # the 40-day-old job is out


def test_totals_by_app_as_a_table(usage):
    out = run("--by", "app", "--since", "60d")
    lines = out.splitlines()
    assert lines[0].split() == ["app", "jobs", "measured", "wall", "h", "CPU", "h", "peak",
                                "memory", "disk"]
    app_a = next(line for line in lines if line.startswith("app_a"))
    assert app_a.split()[:5] == ["app_a", "4", "3", f"{(3600 + 7200 + 99999) / 3600:.2f}",
                                 f"{(3000 + 7000 + 99999) / 3600:.2f}"]
    assert "9.8 of 4 GB" in app_a


@pytest.mark.parametrize("since", ["30x", "0d", "soon"])
def test_a_bad_period_is_refused_clearly(usage, since):
    with pytest.raises(CommandError, match="90m, 12h, 30d or 2w"):
        run("--since", since)
