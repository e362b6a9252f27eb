"""Failed HTCondor runs on a remote submit host (a real sshd on 127.0.0.1 whose user has
the stand-in on its PATH): a memory hold is removed and retried with more memory, a walltime hold
is classified and retried only when asked, a transfer hold is retried and succeeds, an exit
failure is stored and retried only with ``retry_on=["exit"]``, an eviction is reported while
HTCondor runs the job again, and a held node of a remote workflow retries the workflow
(issue 15 items 1-3)."""

import secrets

import pytest

from tests.htcondor_standin.scenarios import (
    FLAKY_SCRIPT,
    condor_job,
    condor_workflow,
    gated_job_script,
    remote,
    remote_scheduler,
    wait_status,
)
from tethys_compute.engines.condor import ssh

from .test_condor_retries import ALLOC_SCRIPT, history, retry_now, watch_eviction

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


def remote_ad(ssh_server, cluster, *attributes):
    """``attributes`` of a remote cluster as the submit host's tools report them: the
    queue's ad while it is queued, else its history ad."""
    for tool in ("condor_q", "condor_history"):
        out = ssh_server.run_as_user(tool, str(cluster), "-af", *attributes).stdout.split()
        if out:
            return out
    return []


def test_remote_walltime_hold_is_classified_and_retried_only_when_asked(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    kept = condor_job(user, "kept", scheduler=scheduler, arguments="x 30", max_attempts=3,
                      retry_delay=0, max_run_time=2)
    asked = condor_job(user, "asked", scheduler=scheduler, arguments="x 30", max_attempts=2,
                       retry_delay=0, max_run_time=2, retry_on=["walltime"])
    try:
        kept.execute()
        asked.execute()
        first = asked.cluster_id
        wait_status(kept, "Held")
        assert "held for running past its allowed run time of 2 s" in kept.status_message
        assert kept.attempt == 1 and kept.retry_due_at is None
        # Not asked: the hold stays on the remote queue, as HTCondor put it.
        assert remote_ad(ssh_server, kept.cluster_id, "JobStatus", "HoldReasonCode") == [
            "5", "47"]
        kind, reason, message = retry_now(asked)
        assert kind == "walltime" and reason["hold_reason_code"] == 47
        assert reason["run_time_limit"] == 2 and reason["run_seconds"] >= 2
        assert message == "Retry 2 of 2 in 0 s: held for running past its allowed run time of 2 s"
        # Asked: the held cluster was removed from the remote queue; the retry is a new one.
        assert ssh_server.run_as_user("condor_q", str(first), "-af", "JobStatus").stdout == ""
        assert remote_ad(ssh_server, first, "JobStatus") == ["3"]
        assert asked.cluster_id != first and asked.attempt == 2
        # In the queue: idle, running, or (on a loaded machine, 2 s later) held again for
        # its own walltime; never removed or done.
        status, code = remote_ad(ssh_server, asked.cluster_id, "JobStatus", "HoldReasonCode")
        assert status in {"1", "2"} or (status, code) == ("5", "47"), (status, code)
    finally:
        ssh_server.run_as_user("condor_rm", "-all", check=False)


def test_remote_transfer_hold_is_retried_and_the_retry_succeeds(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    job = condor_job(user, "transfer", scheduler=scheduler, template="vanilla_transfer_files",
                     max_attempts=2, retry_delay=0,
                     attributes={"transfer_input_files": "../data.txt",
                                 "transfer_executable": "TRUE"},
                     script="#!/bin/sh\ncat data.txt\n")
    job.execute()
    first = job.cluster_id
    iwd = None

    def provide_the_input():
        # The missing input appears on the submit host, where HTCondor looks for it.
        nonlocal iwd
        iwd = remote_ad(ssh_server, first, "Iwd")[0]
        ssh_server.run_as_user("sh", "-c", f"echo now here > {iwd}/../data.txt")

    kind, reason, _ = retry_now(job, before=provide_the_input)
    assert kind == "transfer"
    assert (reason["hold_reason_code"], reason["hold_reason_subcode"]) == (13, 2)
    assert remote_ad(ssh_server, first, "JobStatus", "HoldReasonCode") == ["3", "13"]
    wait_status(job, "Complete", timeout=180)
    assert job.attempt == 2 and job.cluster_id != first
    assert remote_ad(ssh_server, job.cluster_id, "JobStatus", "ExitCode") == ["4", "0"]
    assert [r[:3] for r in history(job)][-1] == ("COM", 2, "")


def test_remote_exit_failure_is_stored_and_retried_only_when_asked(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    plain = condor_job(user, "plain", scheduler=scheduler, arguments="x 0.1 3",
                       max_attempts=2, retry_delay=0)
    plain.execute()
    wait_status(plain, "Error")
    plain.refresh_from_db()
    assert plain.failure_kind == "exit" and plain.failure_reason["exit_code"] == 3
    assert plain.status_message == f"HTCondor job {plain.cluster_id}.0 exited with code 3."
    assert plain.attempt == 1 and plain.retry_due_at is None  # exit is not retried by default
    assert remote_ad(ssh_server, plain.cluster_id, "JobStatus", "ExitCode") == ["4", "3"]
    flaky = condor_job(user, "flaky", scheduler=scheduler, arguments="a", script=FLAKY_SCRIPT,
                       max_attempts=2, retry_delay=0, retry_on=["exit"])
    flaky.execute()
    first = flaky.cluster_id
    kind, reason, _ = retry_now(flaky)
    assert kind == "exit" and reason["exit_code"] == 1
    wait_status(flaky, "Complete", timeout=180)
    assert flaky.cluster_id != first
    assert remote_ad(ssh_server, first, "ExitCode") == ["1"]
    assert remote_ad(ssh_server, flaky.cluster_id, "JobStatus", "ExitCode") == ["4", "0"]
    rows = [r[:3] for r in history(flaky)]
    assert ("PEN", 1, "exit") in rows and rows[-1] == ("COM", 2, "")


def test_remote_eviction_is_reported_and_htcondor_runs_the_job_again(user, ssh_server):
    scheduler = remote_scheduler(ssh_server)
    gate = ssh_server.home / f"gate-{secrets.token_hex(4)}"  # on the submit host
    job = condor_job(user, "evicted", scheduler=scheduler, arguments="x",
                     script=gated_job_script(gate))
    job.execute()
    wait_status(job, "Running")
    cluster = job.cluster_id
    # The owner evicts it on the submit host (condor_vacate_job, as the SSH user).
    assert ssh_server.run_as_user("condor_vacate_job", str(cluster)).returncode == 0
    messages = watch_eviction(job, gate.touch)
    evicted = {m for m in messages if m[1] and "evicted from its machine once" in m[1]}
    assert evicted <= {
        ("Submitted", "Waiting to run again: evicted from its machine once (last by a "
                      "user's request)."),
        ("Running", "Running again: evicted from its machine once (last by a user's "
                    "request)."),
    } and evicted, messages
    assert job.cluster_id == cluster and job.attempt == 1  # HTCondor's own rerun
    assert remote_ad(ssh_server, cluster, "JobStatus", "NumJobStarts", "NumVacates") == [
        "4", "2", "1"]
