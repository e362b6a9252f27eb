"""CondorJob and CondorWorkflow on a remote submit host: a real sshd on 127.0.0.1 whose
test user has the HTCondor stand-in on its PATH."""

import os
import secrets
import time

import pytest

from tests.htcondor_standin.scenarios import (
    condor_job,
    condor_workflow,
    gated_job_script,
    node_statuses,
    read_logs,
    remote,
    remote_scheduler,
    wait_status,
)
from tethys_compute.engines.condor import ssh
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _remote(settings, ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    yield
    ssh.close_all()


#: The stand-in's job script, except that the job ends once a file ``gate`` is in its directory.
GATED_JOB_SCRIPT = """#!/bin/sh
echo "out $1 $(pwd)"
echo "err $1" >&2
echo "result $1" > result_$1.txt
while [ ! -e gate ]; do sleep 0.05; done
"""


def remote_listing(server):
    return server.run_as_user("ls").stdout.split()


@pytest.mark.parametrize("login", ["password", "rsa", "ed25519_pass"])
def test_remote_job_runs_and_its_outputs_come_back(user, ssh_server, login):
    scheduler = remote_scheduler(ssh_server, login)
    # The job runs until the test opens a gate in its directory on the submit host, so its
    # logs are read while it runs however slowly (a 0.6 s job ended unseen under load).
    job = condor_job(user, "remote job", scheduler=scheduler, arguments="far",
                     script=GATED_JOB_SCRIPT)
    job.execute()
    assert job.cluster_id and len(job.remote_id) == 32
    assert job.remote_id in remote_listing(ssh_server)
    wait_status(job, "Running")
    deadline = time.time() + 60  # its first line may not be written yet
    while not read_logs(job)["output"] and time.time() < deadline:
        time.sleep(0.05)
    running = read_logs(job)  # read from the submit host while it runs
    assert running["output"].startswith("out far ") and job.remote_id in running["output"]
    ssh_server.run_as_user("touch", os.path.join(running["output"].split(" ", 2)[2].rstrip("\n"), "gate"))
    wait_status(job, "Complete")
    assert job.completion_time is not None
    result = os.path.join(job.initial_dir, "result_far.txt")
    assert open(result).read() == "result far\n"
    logs = read_logs(job)
    assert logs["error"] == "err far\n" and "Job terminated." in logs["log"]
    assert job.remote_id not in remote_listing(ssh_server)  # cleaned after the copy


def test_failed_copy_back_is_retried_never_dropped(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    script = "#!/bin/sh\necho secret > locked.txt\nchmod 000 locked.txt\necho done\n"
    job = condor_job(user, "locked", scheduler=scheduler, script=script)
    job.execute()
    wait_status(job, "Complete")
    job.refresh_from_db()
    assert job.completion_time is None and job.post_processing_incomplete
    assert job.status_message.startswith("Result processing will be retried: Copying the job's files")
    assert job.remote_id in remote_listing(ssh_server)  # nothing removed before the copy
    time.sleep(0.01)
    job.status  # noqa: B018 - still failing: retried, still waiting
    job.refresh_from_db()
    assert job.completion_time is None
    ssh_server.run_as_user("chmod", "644", f"{job.remote_id}/locked/locked.txt")
    time.sleep(0.01)
    job.status  # noqa: B018 - the next refresh retries the copy
    job.refresh_from_db()
    assert job.completion_time is not None and job.cached_status == "Complete"
    assert open(os.path.join(job.initial_dir, "locked.txt")).read() == "secret\n"


def gate_on_the_submit_host(server):
    """A path on the submit host, for :func:`gated_job_script` (unique: the host is shared
    by the session's tests)."""
    return server.home / f"gate-{secrets.token_hex(4)}"


def wait_until_in_history(server, cluster, timeout=120):
    """Wait until the job left the submit host's queue (asked there, not over SSH)."""
    deadline = time.time() + timeout
    while server.run_as_user("condor_history", str(cluster), "-af", "JobStatus",
                             check=False).stdout.strip() != "4":
        assert time.time() < deadline, f"cluster {cluster} never reached the history"
        time.sleep(0.05)


def test_ssh_drop_mid_run_is_transient_and_the_job_completes(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    # The job runs until the test opens its gate, so it is seen running and ends while the
    # host is unreachable however slowly statuses are read (it slept 1.5 s).
    gate = gate_on_the_submit_host(ssh_server)
    job = condor_job(user, "dropped", scheduler=scheduler, arguments="d",
                     script=gated_job_script(gate))
    job.execute()
    wait_status(job, "Running")
    ssh_server.drop()
    try:
        time.sleep(0.01)
        assert job.status == "Running"
        assert job.status_message.startswith("Status check failed, will retry:")
        assert not job.is_terminal
        gate.touch()  # the job ends while the host is unreachable
        wait_until_in_history(ssh_server, job.cluster_id)
        assert job.status == "Running"
    finally:
        ssh_server.start()
    wait_status(job, "Complete")
    assert job.status_message is None
    assert open(os.path.join(job.initial_dir, "result_d.txt")).read() == "result d\n"


def test_remote_pause_resume_stop_and_delete(user, ssh_server, django_capture_on_commit_callbacks):
    scheduler = remote_scheduler(ssh_server, "password")
    job = condor_job(user, "control", scheduler=scheduler, arguments="c 30")
    job.execute()
    wait_status(job, "Running")
    job.pause()
    assert job.cached_status == "Paused"
    job.resume()
    wait_status(job, "Running")
    job.stop()
    assert job.cached_status == "Aborted"
    other = condor_job(user, "deleted running", scheduler=scheduler, arguments="x 30")
    other.execute()
    wait_status(other, "Running")
    remote_dir, cluster = other.remote_id, other.cluster_id
    with django_capture_on_commit_callbacks(execute=True):
        TethysJob.objects.filter(pk=other.pk).delete()
    assert remote_dir not in remote_listing(ssh_server)
    status = ssh_server.run_as_user("condor_q", str(cluster), "-af", "JobStatus").stdout or \
        ssh_server.run_as_user("condor_history", str(cluster), "-af", "JobStatus").stdout
    assert status == "3\n"


def test_remote_workflow_runs_syncs_and_terminates(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    workflow = condor_workflow(user, "remote flow", {
        "A": {}, "B": {"parents": ["A"]}, "C": {"parents": ["A"], "retry": 1}}, scheduler=scheduler)
    workflow.execute()
    wait_status(workflow, "Complete")
    assert node_statuses(workflow) == dict.fromkeys("ABC", "Completed")
    ads = ssh_server.run_as_user("condor_history", str(workflow.cluster_id), "-af",
                                 "TethysJobId", "TethysJobToken").stdout.split()
    assert ads[0] == str(workflow.pk)  # the ClassAds survived the shell quoting over SSH
    assert TethysJob.id_from_status_report_token(ads[1]) == str(workflow.pk)
    assert os.path.exists(os.path.join(workflow.workspace, "B", "result_B.txt"))
    logs = read_logs(workflow)
    assert "All jobs Completed!" in logs["workflow"]["out"]
    assert logs["C"]["output"].startswith("out C ")
    stopping = condor_workflow(user, "remote stop", {"A": {"arguments": "A 30"}, "B": {"parents": ["A"]}},
                               scheduler=scheduler)
    stopping.execute()
    deadline = time.time() + 20
    while node_statuses(stopping)["A"] != "Running" and time.time() < deadline:
        stopping.status  # noqa: B018
        time.sleep(0.05)
    stopping.stop()
    assert stopping.cached_status == "Aborted"
    assert node_statuses(stopping) == {"A": "Removed", "B": "Unexpanded"}


def test_remote_workflow_survives_an_ssh_drop(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    # Node A runs until the test opens its gate, so the DAG is seen under way however
    # slowly statuses are read (it ran 1 s).
    gate = gate_on_the_submit_host(ssh_server)
    workflow = condor_workflow(user, "drop flow", {"A": {"executable": "gated.sh"},
                                                   "B": {"parents": ["A"]}},
                               scheduler=scheduler, scripts={"gated.sh": gated_job_script(gate)})
    workflow.execute()
    wait_status(workflow, "Various")
    ssh_server.drop()
    try:
        time.sleep(0.01)
        assert workflow.status == "Various"
        assert workflow.status_message.startswith("Status check failed, will retry:")
    finally:
        ssh_server.start()
        gate.touch()
    wait_status(workflow, "Complete")
    assert node_statuses(workflow) == {"A": "Completed", "B": "Completed"}


def test_remote_held_node_and_failed_node_with_retry(user, ssh_server):
    from tests.htcondor_standin.scenarios import FLAKY_SCRIPT

    scheduler = remote_scheduler(ssh_server)
    workflow = condor_workflow(user, "remote held", {
        "A": {"attributes": {"should_transfer_files": "YES", "transfer_input_files": "../input.txt"}},
        "B": {"parents": ["A"], "executable": "flaky.sh", "retry": 1},
    }, scheduler=scheduler, scripts={"flaky.sh": FLAKY_SCRIPT})
    workflow.execute()
    deadline = time.time() + 20
    while node_statuses(workflow).get("A") != "Held" and time.time() < deadline:
        workflow.status  # noqa: B018
        time.sleep(0.05)
    assert workflow.cached_status == "Various" and workflow.status_message == "Node(s) held: A"
    ssh_server.run_as_user("sh", "-c", f"echo data > {workflow.remote_id}/input.txt")
    held = ssh_server.run_as_user("condor_q", "-constraint",
                                  f"DAGManJobId == {workflow.cluster_id}", "-af", "ClusterId")
    ssh_server.run_as_user("condor_release", held.stdout.strip())
    wait_status(workflow, "Complete")
    assert node_statuses(workflow) == {"A": "Completed", "B": "Completed"}
    assert read_logs(workflow)["B"]["output"] == "second try B\n"
