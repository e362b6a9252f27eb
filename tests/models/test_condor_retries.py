"""Failed HTCondor runs, end to end on the stand-in (issue 15 items 1-3): each failure
kind is classified from HTCondor's codes, a retryable one is removed from the queue and
retried by the policy (a new cluster), a memory failure's next attempt asks for more
memory, and what is not retried stays as before (Held, or Error with its kind)."""

import sys
import time

import pytest

from tests.htcondor_standin.scenarios import (
    FLAKY_SCRIPT,
    condor_job,
    condor_workflow,
    fast,
    gated_job_script,
    wait_status,
    write_script,
)
from tethys_compute.models import JobStatusChange
from tethys_compute.models.retries import start_due_retries

pytestmark = pytest.mark.django_db

#: ``run.sh MB [SECONDS]``: a child Python touches MB of memory for SECONDS, then the job
#: writes result.txt (the pool's user may not reach this venv: then the system's python3).
ALLOC_SCRIPT = f"""#!/bin/sh
set -e
PY="{sys.executable}"
[ -x "$PY" ] || PY=python3
"$PY" -c "
import time
block = bytearray($1 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(${{2:-0.3}})
"
echo "done $1" > result.txt
"""


@pytest.fixture(autouse=True)
def _fast(settings, standin):
    fast(settings)


def history(job):
    return list(JobStatusChange.objects.filter(job=job).order_by("pk")
                .values_list("new_status", "attempt", "failure_kind", "reason"))


def retry_now(job, before=None):
    """Start the job's retry once it is scheduled (the monitor's step, called here);
    returns the failed run's ``(failure_kind, failure_reason, status_message)`` (a new
    run clears the fields; the history keeps them)."""
    wait_status(job, "Pending")
    job.refresh_from_db()
    assert job.retry_due_at is not None, job.status_message
    failed = (job.failure_kind, job.failure_reason, job.status_message)
    if before:
        before()
    assert start_due_retries(now=job.retry_due_at) == 1
    job.refresh_from_db()
    return failed


def request_memory_of(standin, cluster):
    out = standin.run("condor_history", str(cluster), "-af", "RequestMemory").stdout.strip()
    return int(out or standin.run("condor_q", str(cluster), "-af", "RequestMemory").stdout)


def test_memory_hold_is_removed_and_retried_with_more_memory(user, standin):
    # HTCondor stops the job at its limit, so a measured peak may be just over the request:
    # the job (150 MB and its interpreter) needs two or three attempts; the third asks at
    # least 4 x 64 = 256 MB, which is enough.
    job = condor_job(user, arguments="150 0.3", script=ALLOC_SCRIPT, max_attempts=3,
                     retry_delay=0, attributes={"request_memory": "64"})
    job.execute()
    asked, clusters, failures = 64, [], []
    while wait_status(job, ("Pending", "Complete"), timeout=180)[-1] == "Pending":
        clusters.append(job.cluster_id)
        kind, reason, message = retry_now(job)
        assert kind == "memory" and message.startswith(
            f"Retry {len(clusters) + 1} of 3 in 0 s: held for exceeding its memory request "
            f"(asked {asked} MB, used {reason['memory_used_mb']} MB); the next attempt asks "
            f"for {reason['next_request_memory_mb']} MB")
        assert reason["hold_reason_code"] == 34 and reason["memory_requested_mb"] == asked
        used = reason["memory_used_mb"]
        assert used > asked  # measured by the stand-in, over its limit when stopped
        assert reason["next_request_memory_mb"] == max(2 * asked, -(-used * 12 // 10))
        # The held run left the queue (condor_rm); the retry is a new cluster asking more.
        assert standin.run("condor_q", str(clusters[-1]), "-af", "JobStatus").stdout == ""
        asked = reason["next_request_memory_mb"]
        assert job.cluster_id not in clusters and job.attributes["request_memory"] == str(asked)
        failures.append(reason)
    assert 1 <= len(clusters) <= 2 and asked >= 150
    assert job.attempt == len(clusters) + 1
    assert request_memory_of(standin, job.cluster_id) == asked
    rows = history(job)
    failed = [r for r in rows if r[2] == "memory"]
    assert [r[:2] for r in failed] == [("PEN", n + 1) for n in range(len(clusters))]
    assert all(f"next attempt asks for {f['next_request_memory_mb']} MB" in r[3]
               for r, f in zip(failed, failures, strict=True))
    assert rows[-1][:2] == ("COM", job.attempt)


def test_escalation_is_capped_by_the_schedulers_limit(user, standin, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_REQUEST_MEMORY": 100}
    job = condor_job(user, arguments="150 0.3", script=ALLOC_SCRIPT, max_attempts=3,
                     retry_delay=0, attributes={"request_memory": "64"})
    job.execute()
    _, reason, _ = retry_now(job)
    assert reason["next_request_memory_mb"] == 100
    # Still over at the cap: held again; nothing left to raise, the retry asks the same.
    _, reason, _ = retry_now(job)
    assert job.attempt == 3 and "next_request_memory_mb" not in reason
    assert job.attributes["request_memory"] == "100"
    # The last attempt's hold stays Held.
    wait_status(job, "Held")
    assert "held for exceeding its memory request (asked 100 MB" in job.status_message
    assert not job.is_terminal


def test_memory_hold_without_retries_stays_held_saying_why(user, standin):
    job = condor_job(user, arguments="150 5", script=ALLOC_SCRIPT,
                     attributes={"request_memory": "64"})
    job.execute()
    wait_status(job, "Held")
    assert job.status_message.startswith(
        "Held by HTCondor: 1.0 held for exceeding its memory request (asked 64 MB, used ")
    assert "Job has gone over cgroup memory limit of 64 megabytes" in job.status_message
    assert not job.is_terminal and job.failure_kind is None


def test_walltime_hold_is_classified_and_retried_only_when_asked(user, standin):
    # max_run_time reaches HTCondor as allowed_execute_duration; HTCondor holds (code 47).
    kept = condor_job(user, name="kept", arguments="x 30", max_attempts=3, retry_delay=0,
                      max_run_time=2)
    asked = condor_job(user, name="asked", arguments="x 30", max_attempts=2, retry_delay=0,
                       max_run_time=2, retry_on=["walltime"])
    kept.execute()
    asked.execute()
    wait_status(kept, "Held")
    assert "held for running past its allowed run time of 2 s" in kept.status_message
    assert kept.attempt == 1 and kept.retry_due_at is None
    kind, reason, message = retry_now(asked)
    assert kind == "walltime" and reason["hold_reason_code"] == 47
    assert reason["run_time_limit"] == 2 and reason["run_seconds"] >= 2
    assert message == "Retry 2 of 2 in 0 s: held for running past its allowed run time of 2 s"
    standin.run("condor_rm", "-all")


def test_transfer_hold_is_retried_and_the_retry_succeeds(user, standin):
    job = condor_job(user, template="vanilla_transfer_files", max_attempts=2, retry_delay=0,
                     attributes={"transfer_input_files": "../data.txt",
                                 "transfer_executable": "TRUE"},
                     script="#!/bin/sh\ncat data.txt\n")
    job.execute()

    def provide_the_input():
        with open(f"{job.workspace}/data.txt", "w") as handle:
            handle.write("now here\n")

    kind, reason, _ = retry_now(job, before=provide_the_input)
    assert kind == "transfer"
    assert (reason["hold_reason_code"], reason["hold_reason_subcode"]) == (13, 2)
    wait_status(job, "Complete")
    assert job.attempt == 2


def test_exit_failure_is_stored_and_retried_only_when_asked(user, standin):
    plain = condor_job(user, name="plain", arguments="x 0.1 3")
    plain.execute()
    wait_status(plain, "Error")
    plain.refresh_from_db()
    assert plain.failure_kind == "exit" and plain.failure_reason["exit_code"] == 3
    assert plain.status_message == "HTCondor job 1.0 exited with code 3."
    flaky = condor_job(user, name="flaky", arguments="a", script=FLAKY_SCRIPT, max_attempts=2,
                       retry_delay=0, retry_on=["exit"])
    flaky.execute()
    kind, reason, _ = retry_now(flaky)
    assert kind == "exit" and reason["exit_code"] == 1
    wait_status(flaky, "Complete")
    rows = [r[:3] for r in history(flaky)]
    assert ("PEN", 1, "exit") in rows and rows[-1] == ("COM", 2, "")


def watch_eviction(job, open_gate):
    """The job's ``(status, message)`` pairs seen from its eviction to its completion: the
    gate is opened once the eviction was seen (the job runs until then, so a slow refresh
    cannot miss its second run)."""
    messages, deadline = set(), time.time() + 120
    evicted = False
    while job.status != "Complete" and time.time() < deadline:
        messages.add((job.cached_status, job.status_message))
        if not evicted and "evicted from its machine once" in (job.status_message or ""):
            evicted = True
            open_gate()
        time.sleep(0.05)
    return messages


def test_eviction_is_reported_and_htcondor_runs_the_job_again(user, standin, tmp_path):
    gate = tmp_path / "gate"
    job = condor_job(user, arguments="x", script=gated_job_script(gate))
    job.execute()
    wait_status(job, "Running")
    cluster = job.cluster_id
    assert standin.vacate(str(cluster)).returncode == 0
    messages = watch_eviction(job, gate.touch)
    evicted = {m for m in messages if m[1] and "evicted from its machine once" in m[1]}
    assert evicted <= {
        ("Submitted", "Waiting to run again: evicted from its machine once (last by a "
                      "user's request)."),
        ("Running", "Running again: evicted from its machine once (last by a user's "
                    "request)."),
    } and evicted, messages
    assert job.cluster_id == cluster and job.attempt == 1  # HTCondor's own rerun
    out = standin.run("condor_history", str(cluster), "-af", "NumJobStarts", "NumVacates")
    assert out.stdout.split() == ["2", "1"]


def test_held_workflow_node_retries_the_workflow_with_more_memory(user, standin):
    workflow = condor_workflow(user, "wf", {
        "A": {"executable": "alloc.sh", "arguments": "150 0.3",
              "attributes": {"request_memory": "100"}},  # 200 MB on the retry: enough
        "B": {"parents": ["A"]},
    }, scripts={"alloc.sh": ALLOC_SCRIPT})
    workflow.max_attempts, workflow.retry_delay = 2, 0
    workflow.save()
    workflow.execute()
    first = workflow.cluster_id
    kind, reason, _ = retry_now(workflow)
    assert kind == "memory" and reason["node"] == "A" and reason["hold_reason_code"] == 34
    node = workflow.get_job("A")
    assert node.attributes["request_memory"] == str(reason["next_request_memory_mb"])
    assert standin.run("condor_q", str(first), "-af", "JobStatus").stdout == ""
    wait_status(workflow, "Complete", timeout=180)
    assert workflow.attempt == 2
    write_script  # noqa: B018 - the helpers module is shared with the other Condor tests


def test_a_retried_jobs_first_run_output_is_kept_and_shown(user, standin):
    # Issue 15 item 2: the retry's new cluster writes the same file names; run 1's are kept.
    flaky = condor_job(user, name="flaky", arguments="a", script=FLAKY_SCRIPT, max_attempts=2,
                       retry_delay=0, retry_on=["exit"])
    flaky.execute()
    retry_now(flaky)
    wait_status(flaky, "Complete")
    logs = flaky.get_logs()
    assert "second try a" in logs["output"]()
    assert "first try a fails" not in logs["output"]()
    earlier = logs["Run 1"]
    assert "first try a fails" in earlier["output"]()
    assert set(earlier) >= {"log", "output", "error"}
    from tethys_compute.jobs_table import logs as table_logs

    shown = table_logs.content(logs, ["Run 1", "output"])["content"]
    assert "first try a fails" in shown


def test_a_resubmitted_job_waiting_for_a_free_slot_keeps_its_first_runs_output(
        user, standin, settings):
    # The resubmission over the user's limit waits (models/quotas.py): run 1's files are
    # kept now, before the run started later by the monitor writes the same names.
    from tethys_compute.models import BasicJob

    job = condor_job(user, name="flaky", arguments="a", script=FLAKY_SCRIPT)
    job.execute()
    wait_status(job, "Error")
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_ACTIVE_JOBS_PER_USER": 1}
    other = BasicJob(name="busy", user=user, label=job.label)
    other.save()
    other.execute()
    job.refresh_from_db()
    job.resubmit()
    job.refresh_from_db()
    assert job.cached_status == "Pending" and job.attempt == 2
    logs = job.get_logs()
    assert "first try a fails" in logs["Run 1"]["output"]()
