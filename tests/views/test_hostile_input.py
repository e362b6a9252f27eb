"""Bad input never costs a 500: each endpoint answers 400/404 (or accepts the input
cleaned) with a JSON reason, on SQLite and PostgreSQL (run the module with
``.ci/with-postgres``). The generated-input version of these checks is
``tests/test_fuzz.py``; these are the cases that were seen."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from tests.htcondor_standin.scenarios import job_manager
from tethys_compute.gizmos import JobsTable
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db

BIG = str(2**63)


@pytest.fixture
def job(user):
    return BasicJob.objects.create(name="job", user=user, label="test_app", _status="RUN")


@pytest.fixture
def token(job):
    return JobsTable(jobs=[job], column_fields=["id", "name"], enable_data_table=True,
                     data_table_options={"searching": True, "paging": True}
                     ).table_config().dumps()


def _json_error(response, status):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["success"] is False and body["error"]
    return body


def test_poll_with_a_row_id_of_2_63_or_more_is_a_400(client, user, job, token):
    client.force_login(user)
    for rows in ({BIG: "x"}, {str(2**64 + 5): "x", str(job.pk): "x"}, {"-" + BIG: "x"}):
        response = client.post(reverse("jobs_table_poll"), json.dumps({"config": token, "rows": rows}),
                               content_type="application/json")
        _json_error(response, 400)


def test_action_and_logs_with_a_huge_job_id_are_404(client, user, token):
    client.force_login(user)
    response = client.post(reverse("jobs_table_action"),
                           {"config": token, "job_id": BIG, "action": "delete"})
    _json_error(response, 404)
    response = client.get(reverse("jobs_table_logs"), {"config": token, "job_id": BIG})
    assert response.status_code in (400, 404) and response.json()["success"] is False


def test_table_search_with_a_nul_byte_answers(client, user, job, token):
    from tethys_compute.jobs_table.tokens import dump_ids

    client.force_login(user)
    response = client.post(reverse("jobs_table_rows"), {
        "config": token, "rows": dump_ids([job.pk]), "q": "jo\x00b", "page": "1"})
    assert response.status_code == 200 and response.json()["success"] is True
    response = client.post(reverse("jobs_table_rows"), {
        "config": token, "rows": dump_ids([job.pk]), "page": BIG, "sort": BIG})
    assert response.status_code in (200, 400) and "success" in response.json()


def test_dask_callback_key_with_a_nul_byte_is_404():
    response = Client().get(reverse("update_dask_job_status", kwargs={"key": "add-\x00-1"}))
    _json_error(response, 404)
    response = Client().get(reverse("update_dask_job_status", kwargs={"key": "k" * 5000}))
    _json_error(response, 404)


def test_complete_report_with_a_nul_in_its_progress_message_is_accepted(job):
    response = Client().post(f"/report-job-status/{job.pk}/", json.dumps({
        "token": job.status_report_token, "status": "COM", "progress": 100,
        "progress_message": "done\x00 at last"}), content_type="application/json")
    assert response.status_code == 200, response.content
    job = TethysJob.objects.get(pk=job.pk)
    assert job.cached_status == "Complete" and job.progress == 100
    assert "\x00" not in job.progress_message and job.progress_message.startswith("done")


def test_create_job_refuses_a_name_longer_than_its_field(user):
    with pytest.raises(ValidationError, match="name") as raised:
        job_manager().create_job("n" * 5000, user, job_type="BASIC")
    assert isinstance(raised.value, ValueError)  # callers catching ValueError see it too
    assert "name" in raised.value.message_dict
    job = job_manager().create_job("fine", user, job_type="BASIC")
    job.description = "d\x00"
    with pytest.raises(ValidationError, match="description"):
        job.save()
    assert not TethysJob.objects.filter(name="fine").exists()


DEEP = "[" * 100_000  # json.loads raises RecursionError, not ValueError, on this


def test_deeply_nested_json_is_a_400_not_a_500(client, user, job, token):
    """Seen by a new user's trial: a body nested 100,000 deep cost a RecursionError (500)
    before the token was even checked."""
    response = Client().post(f"/report-job-status/{job.pk}/", DEEP,
                             content_type="application/json")
    _json_error(response, 400)
    response = Client().post(f"/report-job-status/{job.pk}/", {
        "token": job.status_report_token, "status": "RUN", "node_statuses": DEEP})
    assert response.status_code in (200, 400), response.content[:300]
    assert response.json()["success"] is (response.status_code == 200)
    client.force_login(user)
    response = client.post(reverse("jobs_table_poll"), DEEP, content_type="application/json")
    _json_error(response, 400)
    for name in ("jobs_table_log_content", "jobs_table_log_download"):
        response = client.get(reverse(name), {"config": token, "job_id": job.pk, "path": DEEP})
        assert response.status_code in (400, 404) and response.json()["success"] is False


def test_a_progress_too_large_for_a_float_is_a_400(job):
    response = Client().post(f"/report-job-status/{job.pk}/", json.dumps({
        "token": job.status_report_token, "status": "RUN", "progress": 10**400}),
        content_type="application/json")
    _json_error(response, 400)
