"""A Complete that a compute node reports for an HTCondor job is provisional until the
schedd says the job has left the queue (then its exit code decides), and results are
fetched only after that: locally and on a remote submit host (real sshd), with the
report sent over HTTP to a live server by the job's own script, as the report pattern
documents it (reporting Complete as the script's last step)."""

import os

import pytest

from tests.htcondor_standin.scenarios import (
    condor_job,
    condor_workflow,
    fast,
    read_logs,
    remote,
    remote_scheduler,
    wait_status,
    write_script,
)
from tethys_compute.engines.condor import ssh
from tethys_compute.models import JobStatusChange

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

#: Reports Complete for job TETHYS_ID, then keeps working: writes late.txt and exits EXIT.
REPORTING_SCRIPT = """#!/bin/sh
echo "early" > early.txt
curl -sS --max-time 60 -X POST --data-urlencode "status=Complete" \\
     --data-urlencode "token=TOKEN" "URL"
echo
sleep 1
echo "late" > late.txt
exit EXIT
"""


def reporting_script(live_server, job, exit_code=0):
    return (REPORTING_SCRIPT.replace("TOKEN", job.status_report_token)
            .replace("URL", f"{live_server.url}/report-job-status/{job.pk}/")
            .replace("EXIT", str(exit_code)))


def assert_provisional(answer):
    """The report's answer (the job's output): accepted, and the job still active. On a
    loaded machine the job's script can report before ``execute()`` has written
    Submitted (the schedd already runs the job), so Pending is active too."""
    assert '"success": true' in answer
    assert any(f'"status": "{status}"' in answer
               for status in ("Pending", "Submitted", "Running")), answer


def history(job):
    return list(JobStatusChange.objects.filter(job_id=job.pk).values_list("new_status", flat=True))


@pytest.fixture
def local(settings, standin):
    fast(settings)


@pytest.fixture
def on_ssh(settings, ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    yield
    ssh.close_all()


def test_local_job_reporting_complete_then_failing_ends_error(local, user, live_server):
    job = condor_job(user, "reports then fails")
    write_script(job.workspace, body=reporting_script(live_server, job, exit_code=3))
    job.execute()
    wait_status(job, ("Complete", "Error"))
    job.refresh_from_db()
    assert job.cached_status == "Error", job.status_message
    assert "exited with code 3" in job.status_message
    answer = read_logs(job)["output"]
    assert_provisional(answer)
    assert "COM" not in history(job)
    assert open(os.path.join(job.initial_dir, "late.txt")).read() == "late\n"


def test_local_job_reporting_complete_completes_once_it_left_the_queue(local, user,
                                                                        live_server):
    job = condor_job(user, "reports then succeeds")
    write_script(job.workspace, body=reporting_script(live_server, job))
    job.execute()
    wait_status(job, ("Complete", "Error"))
    job.refresh_from_db()
    assert job.cached_status == "Complete" and job.completion_time is not None
    assert history(job).count("COM") == 1
    assert open(os.path.join(job.initial_dir, "late.txt")).read() == "late\n"


def test_local_workflow_whose_node_reports_complete_then_fails_ends_error(local, user,
                                                                          live_server):
    workflow = condor_workflow(user, "flow reports", {"A": {"executable": "report.sh"}})
    write_script(workflow.workspace, "report.sh", reporting_script(live_server, workflow, 2))
    workflow.execute()
    wait_status(workflow, ("Complete", "Error"))
    workflow.refresh_from_db()
    assert workflow.cached_status == "Error", workflow.status_message
    assert "COM" not in history(workflow)


@pytest.mark.parametrize("template", ["vanilla_base", "vanilla_transfer_files"])
def test_remote_job_reporting_complete_keeps_the_output_written_after(on_ssh, user,
                                                                       ssh_server, live_server,
                                                                       template):
    """In place, or in a scratch directory whose outputs HTCondor transfers at exit."""
    scheduler = remote_scheduler(ssh_server)
    job = condor_job(user, "remote reports", scheduler=scheduler, template=template)
    write_script(job.workspace, body=reporting_script(live_server, job))
    job.execute()
    wait_status(job, ("Complete", "Error"))
    job.refresh_from_db()
    assert job.cached_status == "Complete", job.status_message
    assert job.completion_time is not None
    assert open(os.path.join(job.initial_dir, "early.txt")).read() == "early\n"
    assert open(os.path.join(job.initial_dir, "late.txt")).read() == "late\n"
    assert_provisional(read_logs(job)["output"])
    assert job.remote_id not in ssh_server.run_as_user("ls").stdout.split()  # cleaned after


def test_remote_workflow_reporting_complete_keeps_the_output_written_after(
        on_ssh, user, ssh_server, live_server):
    scheduler = remote_scheduler(ssh_server)
    workflow = condor_workflow(user, "remote flow reports", {"A": {"executable": "report.sh"}},
                               scheduler=scheduler)
    write_script(workflow.workspace, "report.sh", reporting_script(live_server, workflow))
    workflow.execute()
    wait_status(workflow, ("Complete", "Error"))
    workflow.refresh_from_db()
    assert workflow.cached_status == "Complete", workflow.status_message
    node_dir = os.path.join(workflow.workspace, "A")
    assert open(os.path.join(node_dir, "late.txt")).read() == "late\n"
