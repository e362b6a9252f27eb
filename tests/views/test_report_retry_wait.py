"""A compute node's status report about a job waiting for its automatic retry (issue 15
item 2) changes nothing: the run it reports on has failed, and the next run has not
started. Progress is refused too (it belongs to the failed run)."""

import pytest
from django.test import Client

from tests.views.test_update_status import report
from tethys_compute import failure_kinds as fk
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fields", [{"status": "Running"}, {"status": "Complete"},
                                    {"progress": 50}])
def test_a_report_during_the_retry_wait_is_refused(user, fields):
    job = BasicJob(name="b", user=user, label="test_app", max_attempts=2)
    job.save()
    job.execute()
    job.status = "Running"
    assert job.run_failed(fk.Failure(fk.LOST, "reporter silent"))
    response = report(Client(enforce_csrf_checks=True), job.pk, job.status_report_token,
                      **fields)
    assert response.status_code == 409
    assert "waiting for its retry" in response.json()["error"]
    row = TethysJob.objects.get(pk=job.pk)
    assert (row._status, row.progress, row.retry_due_at is not None) == ("PEN", None, True)
