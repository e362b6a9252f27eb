"""Failed runs in the job admin (issue 15 item 1): the changelist shows and filters by
failure kind, the job page shows the failure with the engine's reason and the retry
settings, and the status history gives each change's run and failure kind."""

import pytest
from django.urls import reverse

from tethys_compute import failure_kinds as fk

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tethys_compute_tethysjob_changelist")
HELD = fk.Failure(fk.MEMORY, "held for exceeding its memory request (asked 2048 MB, used 2311 MB)",
                  {"hold_reason_code": 34, "hold_reason_subcode": 0})


@pytest.fixture
def failed(make_job):
    job = make_job("memory hog", max_attempts=3, retry_delay=60)
    job.execute()
    job.status = "Running"
    job.run_failed(HELD)
    return job


def test_changelist_shows_and_filters_the_failure_kind(admin_client, failed, make_job):
    make_job("fine").execute()
    body = admin_client.get(CHANGELIST).content.decode()
    assert "Out of memory" in body
    filtered = admin_client.get(CHANGELIST + "?failure_kind__exact=memory")
    names = [job.name for job in filtered.context["cl"].result_list]
    assert names == ["memory hog"]


def test_job_page_shows_the_failure_the_retry_and_the_history(admin_client, failed):
    url = reverse("admin:tethys_compute_tethysjob_change", args=[failed.pk])
    body = admin_client.get(url).content.decode()
    assert "Failed runs and retries" in body
    assert "hold_reason_code" in body and "34" in body
    assert "Retry 2 of 3 in 60 s" in body
    # the history table: the run and the failure kind of each change
    history = body[body.index("<th>When</th>"):]
    assert "<th>Run</th>" in history and "<th>Failure</th>" in history
    assert "<td>1</td>" in history and "<td>Out of memory</td>" in history
