"""Double submission through a live server (issue 12 item 3): two concurrent Run presses
on the jobs table submit one HTCondor cluster (the stand-in), and a compute node
reporting ``Pending`` through the real endpoint cannot move a submitted job back to
Pending (which would offer Run again). The server runs on the test's database (SQLite or
PostgreSQL)."""

import threading

import pytest
from django.test import Client

from tests.htcondor_standin.scenarios import condor_job
from tests.testapp.shared_db import TestDatabaseProject
from tethys_compute.gizmos import JobsTable
from tethys_compute.models import BasicJob, TethysJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CSRF = "x" * 32


@pytest.fixture
def project(tmp_path):
    made = TestDatabaseProject(tmp_path, {"UPDATE_STATUS_INTERVAL": 0.001})
    yield made
    made.stop_all()


def press(server, cookie, data, answers):
    headers = {"Cookie": f"sessionid={cookie}; csrftoken={CSRF}", "X-CSRFToken": CSRF}
    answers.append(server.request("POST", "/jobs-table/action/", data=data, headers=headers))


@pytest.mark.parametrize("round_", range(2))
def test_two_run_presses_at_once_submit_one_cluster(project, user, standin, settings, round_):
    job = condor_job(user, "pressed twice", arguments="a 0.1")
    config = JobsTable(jobs=[job], column_fields=["id", "name"], actions=["run"]).table_config()
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    project.env["PATH"] = standin.path_env()
    server = project.start_server()
    standin.reset_calls()
    data = {"config": config.dumps(), "job_id": job.pk, "action": "run"}
    answers = []
    threads = [threading.Thread(target=press, args=(server, cookie, data, answers))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = sorted(code for code, _body in answers)
    assert codes == [200, 409], answers
    assert standin.calls().count("condor_submit") == 1
    row = TethysJob.objects.get_subclass(pk=job.pk)
    assert row.attempt == 1 and row.cluster_id == 1
    queue = standin.run("condor_q", "-allusers", "-af", "ClusterId").stdout.split()
    history = standin.run("condor_history", "-af", "ClusterId").stdout.split()
    assert set(queue + history) == {"1"}


def test_a_pending_report_cannot_reopen_a_submitted_job(project, user):
    job = BasicJob.objects.create(name="reported", user=user, label="test_app")
    job.execute()
    job.update_status("Running")
    server = project.start_server()
    bearer = {"Authorization": f"Bearer {job.status_report_token}"}
    status, body = server.request("POST", f"/report-job-status/{job.pk}/",
                                  json_body={"status": "Pending"}, headers=bearer)
    assert (status, body) == (409, {"success": False,
                                    "error": "a submitted job cannot return to Pending"})
    status, _body = server.request("GET", f"/report-job-status/{job.pk}/?status=PEN"
                                          f"&token={job.status_report_token}")
    assert status == 409
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "RUN"
    assert "PEN" not in row.status_history.values_list("new_status", flat=True)


def test_a_report_about_an_earlier_run_changes_nothing(project, user):
    job = BasicJob.objects.create(name="two runs", user=user, label="test_app")
    job.execute()
    job.update_status("Complete")
    job.resubmit()  # run 2 is Running
    token = job.status_report_token
    server = project.start_server()
    bearer = {"Authorization": f"Bearer {token}"}
    late = server.request("POST", f"/report-job-status/{job.pk}/",
                          json_body={"status": "Complete", "attempt": 1}, headers=bearer)
    assert late == (409, {"success": False, "error": "report for run 1; the job is on run 2"})
    row = TethysJob.objects.get(pk=job.pk)
    assert (row._status, row.attempt, row.completion_time) == ("RUN", 2, None)
    status, body = server.request("GET", f"/report-job-status/{job.pk}/?status=COM"
                                         f"&attempt=2&token={token}")
    assert (status, body["status"]) == (200, "Complete")
    assert server.request("POST", f"/report-job-status/{job.pk}/",
                          json_body={"progress": 5, "attempt": "two"},
                          headers=bearer)[0] == 400
