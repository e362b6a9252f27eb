"""A results function that leaves a value the database cannot store (issue 12 item 4,
bug-log kind B38): the job ends in Error naming the field, the claim is released,
nothing raises into the caller (a status setter, a report request), and nothing retries
it forever; ``retry_results()`` runs it again once fixed."""

import pytest

from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db


def running_job(user, function):
    job = BasicJob.objects.create(name="b38", user=user, label="test_app",
                                  extended_properties={"kept": 1})
    job.process_results_function = f"tests.testapp.results.{function}"
    job.save()
    job.execute()
    job.update_status("Running")
    return job


@pytest.mark.parametrize(("function", "kind"), [("leave_a_datetime", "datetime"),
                                                 ("leave_an_object", "object")])
def test_a_non_json_value_ends_in_error_and_releases_the_claim(user, function, kind):
    job = running_job(user, function)
    job.status = "Complete"  # processing runs here; nothing is raised
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "ERR" and row.completion_time is not None
    assert row.status_message.startswith(
        "Result processing failed: it left a value in extended_properties that cannot be stored")
    assert f"Object of type {kind} is not JSON serializable" in row.status_message
    assert (row._results_state, row._results_claim) == ("failed", None)
    assert row.extended_properties == {"kept": 1}
    assert job.cached_status == "Error"
    # Not retried by itself: a refresh, a repeated report or another process change nothing.
    other = TethysJob.objects.get_subclass(pk=job.pk)
    assert other.process_results() is False
    assert other.update_status("Complete") is False
    assert TethysJob.objects.get(pk=job.pk)._results_state == "failed"
    # Once the function is fixed, an explicit retry processes the results.
    job.process_results_function = "tests.testapp.results.summarize"
    job.save()
    assert job.retry_results() is True
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM" and row.extended_properties == {"kept": 1, "summary": "ok"}


def test_a_report_whose_processing_leaves_a_non_json_value_answers_normally(client, user):
    job = running_job(user, "leave_a_datetime")
    response = client.post(f"/report-job-status/{job.pk}/", {"status": "Complete"},
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {job.status_report_token}")
    assert response.status_code == 200
    assert response.json() == {"success": True, "nodes_applied": 0, "post_processing": True,
                               "status": "Error"}
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "ERR" and "extended_properties" in row.status_message
