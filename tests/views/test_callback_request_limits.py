"""A callback request over Django's upload limits (``DATA_UPLOAD_MAX_MEMORY_SIZE``,
``DATA_UPLOAD_MAX_NUMBER_FIELDS``) is answered like every other bad callback: a JSON 400
naming the problem (Django's own answer is an HTML page, which a reporter's JSON parser
chokes on), and the job is left as it was."""

import json

import pytest
from django.test import Client

from tethys_compute.models import BasicJob, DaskJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(user):
    return BasicJob.objects.create(name="job", user=user, label="test_app", _status="RUN")


@pytest.fixture
def small_limits(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 20
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000


def many_fields(job, count=50):
    fields = {f"extra{i}": "x" for i in range(count)}
    fields.update(token=job.status_report_token, status="COM")
    return fields


def json_400(response, words):
    assert response.status_code == 400, response.content[:200]
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert body["success"] is False
    assert words in body["error"], body["error"]


def unchanged(job):
    assert BasicJob.objects.get(pk=job.pk)._status == "RUN"


def test_report_with_too_many_form_fields_is_a_json_400(job, small_limits):
    response = Client().post(f"/report-job-status/{job.pk}/", many_fields(job))
    json_400(response, "too many fields")
    unchanged(job)


def test_report_with_too_many_query_fields_is_a_json_400(job, small_limits):
    response = Client().get(f"/report-job-status/{job.pk}/", many_fields(job))
    json_400(response, "too many fields")
    unchanged(job)


def test_report_with_a_too_large_form_body_is_a_json_400(job, small_limits):
    response = Client().post(f"/report-job-status/{job.pk}/", {
        "token": job.status_report_token, "status": "COM", "progress_message": "x" * 5000})
    json_400(response, "too large")
    unchanged(job)


def test_report_with_a_too_large_json_body_is_a_json_400(job, small_limits):
    response = Client().post(f"/report-job-status/{job.pk}/", json.dumps({
        "token": job.status_report_token, "status": "COM", "progress_message": "x" * 5000}),
        content_type="application/json")
    json_400(response, "too large")
    unchanged(job)


def test_update_with_too_many_query_fields_is_a_json_400(job, small_limits):
    response = Client().get(f"/update-job-status/{job.pk}/", many_fields(job))
    json_400(response, "too many fields")


def test_dask_update_over_the_limits_is_a_json_400(user, small_limits):
    job = DaskJob.objects.create(name="d", user=user, label="test_app", key="k-1",
                                 _status="RUN")
    fields = {f"extra{i}": "x" for i in range(50)}
    response = Client().post("/update-dask-job-status/k-1/", {**fields, "status": "COM"})
    json_400(response, "too many fields")
    response = Client().get("/update-dask-job-status/k-1/", {**fields, "status": "COM"})
    json_400(response, "too many fields")
    response = Client().post("/update-dask-job-status/k-1/", {"status": "x" * 5000})
    json_400(response, "too large")
    assert DaskJob.objects.get(pk=job.pk)._status == "RUN"
