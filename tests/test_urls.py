"""URLs (tethys_compute/urls.py): Tethys's route names, reversible without a namespace,
at the root or under the prefix a project mounts them at; and the JobManager helpers
that build the absolute callback URLs for compute nodes."""

import pytest
from django.test import RequestFactory
from django.urls import clear_script_prefix, resolve, reverse, set_script_prefix

from tethys_compute.job_manager import JobManager
from tethys_compute.models import BasicJob
from tethys_compute.views import dask_status, update_status


class App:
    package = "test_app"


def test_routes_have_tethys_names_without_a_namespace():
    assert reverse("update_job_status", kwargs={"job_id": 27}) == "/update-job-status/27/"
    assert reverse("report_job_status", kwargs={"job_id": 27}) == "/report-job-status/27/"
    assert reverse("update_dask_job_status", kwargs={"key": "inc-8c50f521"}) == (
        "/update-dask-job-status/inc-8c50f521/")
    assert resolve("/update-job-status/27/").func is update_status.update_job_status
    assert resolve("/report-job-status/27/").func is update_status.report_job_status
    assert resolve("/update-dask-job-status/k/").func is dask_status.update_dask_job_status


@pytest.mark.urls("tests.testapp.urls_prefixed")
def test_prefix_of_the_include_is_honoured(client, db):
    assert reverse("update_job_status", kwargs={"job_id": 5}) == "/portal/update-job-status/5/"
    assert reverse("report_job_status", kwargs={"job_id": 5}) == "/portal/report-job-status/5/"
    # Reached under the prefix: the view's JSON answer (200, as Tethys, for an unknown job).
    assert client.get("/portal/update-job-status/5/").status_code == 200
    assert client.get("/portal/update-job-status/5/").json() == {"success": False,
                                                                 "error": "no such job"}
    assert client.get("/update-job-status/5/").status_code == 404  # not at the root
    request = RequestFactory().get("/")
    manager = JobManager(App())
    assert manager.get_job_status_report_url(request, 5) == (
        "http://testserver/portal/report-job-status/5/")


def test_script_prefix_of_a_sub_path_deployment_is_honoured(settings):
    settings.ALLOWED_HOSTS = ["compute.example.org"]
    request = RequestFactory().get("/", HTTP_HOST="compute.example.org", secure=True)
    set_script_prefix("/tethys/")
    try:
        manager = JobManager(App())
        assert manager.get_job_status_callback_url(request, 9) == (
            "https://compute.example.org/tethys/update-job-status/9/")
        assert manager.get_job_status_report_url(request, 9) == (
            "https://compute.example.org/tethys/report-job-status/9/")
    finally:
        clear_script_prefix()


@pytest.mark.django_db
def test_report_url_and_token_work_together(client, user):
    job = BasicJob.objects.create(name="j", user=user, label="test_app", _status="SUB")
    url = JobManager(App()).get_job_status_report_url(RequestFactory().get("/"), job.pk)
    path = url.removeprefix("http://testserver")
    response = client.post(path, {"status": "RUN"},
                           HTTP_AUTHORIZATION=f"Bearer {job.status_report_token}")
    assert response.status_code == 200
