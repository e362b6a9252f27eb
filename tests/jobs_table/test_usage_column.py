"""The jobs table's ``usage`` column (issue 15, item 6): peak memory against the request,
"3.1 of 32 GB", live and sortable."""

import json

import pytest
from django.urls import reverse

from tethys_compute.jobs_table.usage_column import memory_text
from tethys_compute.models import BasicJob

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("peak, requested, text", [
    (3174, 32768, "3.1 of 32 GB"),
    (310, 512, "310 of 512 MB"),
    (700, 2048, "0.7 of 2 GB"),
    (3174, None, "3.1 GB"),
    (20480, 16384, "20 of 16 GB"),
    (None, 2048, ""),
])
def test_memory_text(peak, requested, text):
    assert memory_text(peak, requested) == text


def poll(client, token, rows):
    return client.post(reverse("jobs_table_poll"), data=json.dumps({"config": token, "rows": rows}),
                       content_type="application/json").json()["rows"]


def test_the_column_shows_usage_and_follows_it_live(alice_client, make_job, table_token):
    job = make_job("measured", status="RUN", attempt=1)
    token = table_token([job], column_fields=("name", ("Memory", "usage")))
    first = poll(alice_client, token, {str(job.pk): ""})[str(job.pk)]
    assert '<td class="usage-field"></td>' in first["html"]
    BasicJob.objects.get(pk=job.pk).record_usage(
        {"wall_seconds": 65, "cpu_seconds": 60, "peak_memory_mb": 3174,
         "requested_memory_mb": 32768, "requested_cpus": 2, "disk_kb": 2048})
    row = poll(alice_client, token, {str(job.pk): first["fp"]})[str(job.pk)]
    assert ">3.1 of 32 GB</td>" in row["html"]
    assert 'title="wall 65 s, CPU 60 s, 2 CPUs requested, disk 2 MB"' in row["html"]


def test_the_column_sorts_by_peak_memory(user):
    from tethys_compute.jobs_table.columns import Column, sort_expression

    assert sort_expression(Column("Usage", "usage")) == "usage_peak_memory_mb"
