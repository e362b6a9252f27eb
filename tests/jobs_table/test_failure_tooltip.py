"""The status tooltip of a jobs-table row names a failed run's kind, the engine's reason
and the attempt (issue 15 item 1)."""

import pytest

from tethys_compute import failure_kinds as fk
from tethys_compute.gizmos import JobsTable
from tethys_compute.jobs_table.rows import RowBuilder
from tethys_compute.models import BasicJob

pytestmark = pytest.mark.django_db


def _row(job):
    table = JobsTable(jobs=[job], column_fields=["name"])
    builder = RowBuilder(table.table_config())
    builder.prepare(table.jobs)
    row = builder.row(BasicJob.objects.get(pk=job.pk))
    return row, builder.render([row])


def _running(user, **fields):
    job = BasicJob(name="j", user=user, label="test_app", **fields)
    job.save()
    job.execute()
    job.status = "Running"
    return job


def test_a_retry_waiting_row_says_why_and_which_attempt(user):
    job = _running(user, max_attempts=3)
    job.run_failed(fk.Failure(fk.MEMORY, "held for exceeding its memory request",
                              {"hold_reason_code": 34, "hold_reason_subcode": 0}))
    row, html = _row(job)
    assert row["message"].startswith("Retry 2 of 3 in 60 s: held for exceeding")
    assert "Failure: Out of memory (run 1 of 3; HoldReasonCode 34, subcode 0)" in row["message"]
    assert 'title="Retry 2 of 3 in 60 s' in html


def test_an_error_row_names_the_exception_type(user):
    job = _running(user)
    job.run_failed(fk.Failure(fk.EXIT, "The Dask task raised: ValueError('x')",
                              {"exception_type": "ValueError"}))
    row, _ = _row(job)
    assert row["message"] == ("The Dask task raised: ValueError('x')\n"
                              "Failure: Exited with an error (ValueError)")


def test_a_plain_row_is_unchanged(user):
    job = _running(user)
    row, _ = _row(job)
    assert row["message"] == ""
