"""Failed HTCondor runs on a remote submit host (a real sshd on 127.0.0.1 whose user has
the stand-in on its PATH): a memory hold is removed and retried with more memory, and a
held node of a remote workflow retries the workflow (issue 15 items 1-3)."""

import pytest

from tests.htcondor_standin.scenarios import (
    condor_job,
    condor_workflow,
    remote,
    remote_scheduler,
    wait_status,
)
from tethys_compute.engines.condor import ssh

from .test_condor_retries import ALLOC_SCRIPT, history, retry_now

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _remote(settings, ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    yield
    ssh.close_all()


def test_remote_memory_hold_is_retried_with_more_memory(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    scheduler.max_request_memory = 4096
    scheduler.save()
    job = condor_job(user, "remote memory", scheduler=scheduler, arguments="150 0.3",
                     script=ALLOC_SCRIPT, max_attempts=2, retry_delay=0,
                     attributes={"request_memory": "100"})
    job.execute()
    first = job.cluster_id
    kind, reason, _ = retry_now(job)
    assert kind == "memory" and reason["hold_reason_code"] == 34
    assert reason["memory_used_mb"] > 100
    assert reason["next_request_memory_mb"] == max(200, -(-reason["memory_used_mb"] * 12 // 10))
    # The held cluster left the remote queue; the retry is a new cluster asking more.
    queue = ssh_server.run_as_user("condor_q", str(first), "-af", "JobStatus")
    assert queue.stdout == ""
    wait_status(job, "Complete", timeout=180)
    out = ssh_server.run_as_user("condor_history", str(job.cluster_id), "-af", "RequestMemory")
    assert out.stdout.strip() == str(reason["next_request_memory_mb"])
    assert [r[:3] for r in history(job)][-1] == ("COM", 2, "")


def test_remote_held_workflow_node_is_retried(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    workflow = condor_workflow(user, "remote wf", {
        "A": {"executable": "alloc.sh", "arguments": "150 0.3",
              "attributes": {"request_memory": "100"}},
    }, scheduler=scheduler, scripts={"alloc.sh": ALLOC_SCRIPT})
    workflow.max_attempts, workflow.retry_delay = 2, 0
    workflow.save()
    workflow.execute()
    kind, reason, _ = retry_now(workflow)
    assert kind == "memory" and reason["node"] == "A"
    wait_status(workflow, "Complete", timeout=180)
    assert workflow.attempt == 2
