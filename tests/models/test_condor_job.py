"""CondorJob on this machine's (stand-in) HTCondor: Tethys's API and our status rules."""

import os
import time

import pytest

from tests.htcondor_standin.scenarios import (
    condor_job,
    fast,
    gated_job_script,
    read_logs,
    wait_status,
    write_script,
)
from tethys_compute.exceptions import JobStateError
from tethys_compute.models import CondorJob, CondorPyJob, JobStatusChange, TethysJob

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, standin):
    fast(settings)


def test_execute_records_the_cluster_and_runs_to_complete(user, tmp_path):
    # The job runs until the test opens its gate: a 0.6 s job could end unseen between two
    # refreshes on a loaded machine (each runs condor_q in a new process).
    gate = tmp_path / "gate"
    job = condor_job(user, "my job", arguments="first", script=gated_job_script(gate))
    job.execute()
    assert job.cluster_id == 1 and job.cached_status == "Submitted" and job.execute_time
    seen = wait_status(job, "Running")
    assert job.start_time is not None
    logs = read_logs(job)  # while running: the output so far
    assert logs["output"] == f"out first {job.initial_dir}\n"
    assert job.cached_status == "Running"  # still: the logs above were read while it ran
    gate.touch()
    seen += wait_status(job, "Complete")
    assert "Various" not in seen and job.completion_time and job.status_message is None
    logs = read_logs(job)
    assert logs["error"] == "err first\n"
    assert "Job terminated." in logs["log"] and "(return value 0)" in logs["log"]
    assert sorted(logs) == ["error", "events", "log", "output"]
    events = logs["events"].splitlines()
    assert events[1].endswith("Submitted from host <127.0.0.1:9618?addrs=127.0.0.1-9618"
                              "&alias=standin>")
    assert "Executing on host" in events[2] and "Terminated: exited with code 0" in events[-1]
    assert os.path.exists(os.path.join(job.initial_dir, "result_first.txt"))
    assert job.statuses["Completed"] == 1
    changes = list(JobStatusChange.objects.filter(job=job).values_list("new_status", flat=True))
    assert changes == ["SUB", "RUN", "COM"]


def test_failed_submit_ends_in_error_with_htcondors_message(user):
    job = condor_job(user, attributes={"executable": "missing.sh"})
    job.execute()
    job.refresh_from_db()
    assert job.cached_status == "Error"
    assert "ERROR: Executable file" in job.status_message and "missing.sh does not exist" in job.status_message
    with pytest.raises(JobStateError):
        job.execute()


@pytest.mark.parametrize("arguments, message", [
    ("x 0.1 3", "exited with code 3"),
])
def test_non_zero_exit_is_error(user, arguments, message):
    job = condor_job(user, arguments=arguments)
    job.execute()
    wait_status(job, "Error")
    assert message in job.status_message and f"{job.cluster_id}.0" in job.status_message


def test_killed_by_a_signal_is_error(user):
    job = condor_job(user, script="#!/bin/sh\nkill -9 $$\n")
    job.execute()
    wait_status(job, "Error")
    assert "was killed by signal 9" in job.status_message


def test_multi_proc_clusters_are_various_then_various_complete(user, tmp_path):
    # Proc 1 runs until the test opens its gate (a 2 s proc ended unseen on a loaded machine).
    gate = tmp_path / "gate"
    script = (f"#!/bin/sh\nif [ \"$1\" = 1 ]; then while [ ! -e {gate} ]; do sleep 0.05; done;"
              " exit 2; fi\nsleep 0.1\n")
    job = condor_job(user, arguments="$(Process)", num_jobs=3, script=script)
    job.execute(queue=3)
    assert job.num_jobs == 3
    seen = wait_status(job, "Various")
    gate.touch()
    seen += wait_status(job, "Various-Complete")
    assert "Various" in seen
    assert job.status_message == f"2 of 3 procs succeeded; {job.cluster_id}.1 exited with code 2."
    assert job.completion_time is not None  # results processed: Various-Complete is terminal
    assert job.cached_statuses == {"Completed": 2, "Error": 1}  # for the jobs table's bar
    logs = read_logs(job)
    assert sorted(logs["output"]) == ["0", "1", "2"]


def test_all_procs_succeeding_is_complete(user):
    job = condor_job(user, arguments="$(Process)", num_jobs=2)
    job.execute()
    wait_status(job, "Complete")
    assert job.statuses == {"Unexpanded": 0, "Idle": 0, "Running": 0, "Removed": 0,
                            "Completed": 2, "Held": 0, "Submission_err": 0}


def test_held_by_htcondor_is_its_own_state_refreshed_until_released(user):
    job = condor_job(user, template="vanilla_transfer_files",
                     attributes={"transfer_input_files": "../data.txt",
                                 "transfer_executable": "TRUE"},
                     script="#!/bin/sh\ncat data.txt\n")
    job.execute()
    wait_status(job, "Held")
    assert job._status == "OTH" and not job.is_terminal
    assert TethysJob.objects.active().filter(pk=job.pk).exists()
    assert "Held" in CondorJob.ACTIVE_STATUSES and "Held" not in TethysJob.ACTIVE_STATUSES
    assert job.status_message.startswith("Held by HTCondor: ")
    assert "Transfer input files failure" in job.status_message
    with open(os.path.join(job.workspace, "data.txt"), "w") as handle:
        handle.write("the data\n")
    job.resume()  # condor_release
    assert job.cached_status in ("Submitted", "Running", "Complete")
    wait_status(job, "Complete")
    assert read_logs(job)["output"] == "the data\n"


def test_pause_really_holds_and_resume_releases(user, tmp_path):
    # The job runs until the test opens its gate, then leaves a mark: a 0.8 s job ended
    # before it was paused on a loaded machine.
    gate, passed = tmp_path / "gate", tmp_path / "passed"
    script = f"#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.05; done\ntouch {passed}\n"
    job = condor_job(user, arguments="p", script=script)
    job.execute()
    wait_status(job, "Running")
    job.pause()
    assert job.cached_status == "Paused" and job.status_message.startswith("Held by request")
    deadline = time.time() + 60  # the schedd stops the job, then logs the hold
    while "Job was held." not in read_logs(job)["log"] and time.time() < deadline:
        time.sleep(0.05)
    gate.touch()
    time.sleep(1.0)
    assert job.status == "Paused"
    assert not passed.exists()  # the gate was open while held: it really was stopped
    gate.unlink()  # closed again, so the released job cannot end before it is looked at
    job.resume()
    assert job.cached_status in ("Submitted", "Running")
    gate.touch()
    wait_status(job, "Complete")
    assert passed.exists()
    log = read_logs(job)["log"]
    assert log.count("Job executing") == 2 and "Job was held." in log and "Job was released." in log
    events = read_logs(job)["events"]
    assert "Held: " in events and "Released" in events
    with pytest.raises(JobStateError, match="no longer in HTCondor's queue"):
        job.pause()


def test_stop_removes_the_job_and_settles_to_aborted(user):
    job = condor_job(user, arguments="s 30")
    job.execute()
    wait_status(job, "Running")
    job.stop()
    assert job.cached_status == "Aborted" and job.completion_time
    assert "Removed" in job.status_message
    pending = condor_job(user, name="never run")
    pending.stop()
    assert pending.cached_status == "Aborted"


def test_resubmit_runs_a_new_cluster(user):
    job = condor_job(user, arguments="r")
    job.execute()
    wait_status(job, "Complete")
    first = job.cluster_id
    job.resubmit()
    assert job.cluster_id != first and job.cached_status == "Submitted"
    assert job.completion_time is None
    wait_status(job, "Complete")
    outputs = sorted(p for p in os.listdir(os.path.join(job.initial_dir, "logs")) if p.endswith(".out"))
    assert outputs == [f"job.{first}.0.out", f"job.{job.cluster_id}.0.out"]
    # Per-cluster names are not moved; run 1's is listed where it is (run_logs.py).
    earlier = job.get_logs()["Run 1"]["output"]
    assert earlier.name.endswith(f"logs/job.{first}.0.out")
    assert "does not exist" not in earlier() and "not available" not in earlier()


def test_transient_failure_to_query_is_never_terminal(user, monkeypatch, standin):
    job = condor_job(user, arguments="t 0.5")
    job.execute()
    monkeypatch.setenv("PATH", "/nonexistent")
    time.sleep(0.01)
    assert job.status == "Submitted"
    assert job.status_message.startswith("Status check failed, will retry:")
    assert "condor_q was not found" in job.status_message
    monkeypatch.setenv("PATH", standin.path_env())
    wait_status(job, "Complete")
    assert job.status_message is None


def test_a_cluster_htcondor_does_not_know_becomes_error_after_the_grace(user, settings):
    lost = condor_job(user, name="lost", arguments="x 30")
    lost.execute()
    CondorJob.objects.filter(pk=lost.pk).update(cluster_id=999)
    lost.refresh_from_db()
    time.sleep(0.01)
    assert lost.status == "Submitted"  # not terminal at once
    assert "no record of cluster 999" in lost.status_message
    fast(settings, LOST_JOB_GRACE=0.05)
    time.sleep(0.06)
    assert lost.status == "Error"
    assert "no longer knows this job: HTCondor has no record of cluster 999" in lost.status_message


def test_templates_attributes_and_condor_object(user):
    job = condor_job(user, "templ", arguments="a b")
    assert job.get_attribute("initialdir") == "templ"
    assert job.get_attribute("log") == "logs/templ.$(cluster).log".replace("$(cluster)", "0")
    job.set_attribute("transfer_input_files", ["a.txt", "b.txt"])
    assert job.attributes["transfer_input_files"] == "a.txt, b.txt"
    job.save()
    job = CondorJob.objects.get(pk=job.pk)
    assert job.attributes["universe"] == "vanilla"
    assert job.attributes["transfer_input_files"] == "a.txt, b.txt"
    assert job.initial_dir == os.path.join(job.workspace, "templ")
    obj = job.condor_object
    obj.set("request_memory", "1GB")  # changes on the condorpy object are saved (Tethys)
    job.save()
    assert CondorJob.objects.get(pk=job.pk).attributes["request_memory"] == "1GB"
    job.execute()
    assert job.condor_object.cluster_id == job.cluster_id
    with pytest.raises(ValueError):
        job.num_jobs = 0
    with pytest.raises(ValueError):
        job.attributes = ["not", "a", "dict"]


def test_options_are_passed_as_single_arguments(user, standin):
    job = condor_job(user)
    job.execute(options=["-append", '+Note = "two words; $(x) `y`"'])
    note = standin.run("condor_q", str(job.cluster_id), "-af", "Note").stdout or \
        standin.run("condor_history", str(job.cluster_id), "-af", "Note").stdout
    assert note == "two words;  `y`\n"  # $(x) is an undefined submit macro, as in HTCondor


def test_delete_stops_the_job_and_removes_only_its_own_directory(user, standin, django_capture_on_commit_callbacks):
    keep = condor_job(user, name="keep")
    job = condor_job(user, name="doomed", arguments="d 30")
    job.execute()
    wait_status(job, "Running")
    directory, cluster = job.workspace, job.cluster_id
    condorpy_id = job.condorpyjob_ptr_id
    with django_capture_on_commit_callbacks(execute=True):
        TethysJob.objects.filter(pk=job.pk).delete()
    assert not os.path.exists(directory) and os.path.exists(keep.workspace)
    assert not CondorPyJob.objects.filter(pk=condorpy_id).exists()
    status = standin.run("condor_q", str(cluster), "-af", "JobStatus").stdout or \
        standin.run("condor_history", str(cluster), "-af", "JobStatus").stdout
    assert status == "3\n"


def test_process_results_function_runs_once_on_completion(user):
    job = condor_job(user)
    job.process_results_function = "tests.models.test_condor_job.record_result"
    job.save()
    job.execute()
    wait_status(job, "Complete")
    job.status  # noqa: B018 - a second read does nothing more
    with open(os.path.join(job.workspace, "results.txt")) as handle:
        assert handle.read() == f"{job.pk}\n"


def record_result(job):
    with open(os.path.join(job.workspace, "results.txt"), "a") as handle:
        handle.write(f"{job.pk}\n")


def test_script_helper_is_executable(tmp_path):
    path = write_script(str(tmp_path))
    assert os.access(path, os.X_OK)
