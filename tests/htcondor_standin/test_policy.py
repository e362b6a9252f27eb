"""The stand-in enforces HTCondor's execute-side policy, as the manual documents it:
a job over its ``request_memory`` is held with HoldReasonCode 34 (JobOutOfResources), over
``allowed_execute_duration`` with 47 (JobExecuteExceeded), a failed output transfer with 12
(TransferOutputError); a vacated job is evicted back to Idle (VacateReasonCode 1004/1010,
``LastVacateTime``, ``NumVacates``, the Evicted event) and runs again."""

import json
import sys
import time

import htcondor2
import pytest

from .test_usage import ALLOC


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "alloc.sh").write_text(ALLOC.replace("{python}", sys.executable))
    (work / "alloc.sh").chmod(0o755)
    (work / "sleep.sh").write_text("#!/bin/sh\necho started\nsleep ${1:-60}\necho done > done.txt\n")
    (work / "sleep.sh").chmod(0o755)
    return work


def submit(standin, work, text):
    (work / "job.sub").write_text(text + "log = job.log\noutput = out.txt\nqueue\n")
    result = standin.run("condor_submit", "job.sub", cwd=work)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.rsplit("cluster ", 1)[1].rstrip(".\n"))


def wait_ad(standin, cluster, condition, timeout=60, history=False):
    """The job's ad (queue, else history) once ``condition(ad)`` holds."""
    deadline = time.time() + timeout
    ad = None
    while time.time() < deadline:
        for tool in ("condor_q", "condor_history"):
            out = standin.run(tool, str(cluster), "-json").stdout
            if out.strip():
                ad = json.loads(out)[0]
                break
        if ad is not None and condition(ad):
            return ad
        time.sleep(0.1)
    raise AssertionError(f"job {cluster} never got there: {ad}")


def events(work, kind):
    return [e for e in htcondor2.JobEventLog(str(work / "job.log")).events(0) if e.type == kind]


@pytest.mark.parametrize("held_for", [60, 0], ids=["while-running", "exits-at-once"])
def test_over_its_memory_request_the_job_is_held_with_code_34(standin, work, held_for):
    cluster = submit(standin, work, f"executable = alloc.sh\narguments = 200 {held_for} 0 0\n"
                                    "request_memory = 64\n")
    ad = wait_ad(standin, cluster, lambda a: a["JobStatus"] == 5)
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (34, 0)
    assert ad["MemoryUsage"] > 64 and "memory limit of 64 megabytes" in ad["HoldReason"]
    assert f"usage: {ad['MemoryUsage']} megabytes" in ad["HoldReason"]
    [held] = events(work, htcondor2.JobEventType.JOB_HELD)
    assert held["HoldReasonCode"] == 34
    assert not events(work, htcondor2.JobEventType.JOB_TERMINATED)
    standin.run("condor_rm", str(cluster))
    assert standin.wait_until_empty(timeout=30)


def test_within_its_memory_request_the_job_completes(standin, work):
    cluster = submit(standin, work, "executable = alloc.sh\narguments = 60 0 0 0\n"
                                    "request_memory = 512\n")
    ad = wait_ad(standin, cluster, lambda a: a["JobStatus"] == 4)
    assert 60 <= ad["MemoryUsage"] <= 512 and "HoldReasonCode" not in ad


def test_over_allowed_execute_duration_the_job_is_held_with_code_47(standin, work):
    cluster = submit(standin, work, "executable = sleep.sh\narguments = 60\n"
                                    "allowed_execute_duration = 2\n")
    started = time.time()
    ad = wait_ad(standin, cluster, lambda a: a["JobStatus"] == 5)
    assert time.time() - started >= 2
    assert (ad["HoldReasonCode"], ad["AllowedExecuteDuration"]) == (47, 2)
    assert "allowed execute duration of 0+00:00:02" in ad["HoldReason"]
    ad = wait_ad(standin, cluster, lambda a: a.get("LastRemoteWallClockTime") is not None)
    assert ad["RemoteWallClockTime"] >= 2
    assert not (work / "done.txt").exists()
    standin.run("condor_rm", str(cluster))


def test_failed_output_transfer_holds_with_code_12(standin, work):
    cluster = submit(standin, work, "executable = sleep.sh\narguments = 0\n"
                                    "should_transfer_files = YES\n"
                                    "transfer_output_files = missing.txt\n")
    ad = wait_ad(standin, cluster, lambda a: a["JobStatus"] == 5)
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (12, 2)
    assert "missing.txt" in ad["HoldReason"]
    standin.run("condor_rm", str(cluster))


@pytest.mark.parametrize("how", ["condor_vacate_job", "condor_vacate"])
def test_a_vacated_job_is_evicted_to_idle_and_runs_again(standin, work, how):
    # The first run lasts until it is vacated (however late the test sees it running),
    # the second 3 s.
    (work / "twice.sh").write_text(
        "#!/bin/sh\necho started\nif [ ! -e first-run ]; then touch first-run; exec sleep 3600; fi\n"
        "sleep 3\necho done > done.txt\n")
    (work / "twice.sh").chmod(0o755)
    cluster = submit(standin, work, "executable = twice.sh\n")
    wait_ad(standin, cluster, lambda a: a["JobStatus"] == 2)
    time.sleep(0.5)  # let the first run use some wall time (at least this much)
    result = standin.vacate(*([str(cluster)] if how == "condor_vacate_job" else []))
    assert result.returncode == 0, result.stderr
    ad = wait_ad(standin, cluster, lambda a: a.get("NumVacates") == 1)
    code = 1004 if how == "condor_vacate_job" else 1010
    assert ad["VacateReasonCode"] == code and ad["LastVacateTime"] >= ad["QDate"]
    assert ad["RemoteWallClockTime"] >= 0.5 and ad["LastRemoteHost"] == "slot1@standin"
    done = wait_ad(standin, cluster, lambda a: a["JobStatus"] == 4)
    assert done["NumJobStarts"] == 2 and done["NumVacates"] == 1
    assert done["RemoteWallClockTime"] >= 3.5  # both runs count
    assert done["CumulativeRemoteUserCpu"] >= done["RemoteUserCpu"]
    [evicted] = events(work, htcondor2.JobEventType.JOB_EVICTED)
    assert evicted.cluster == cluster
    assert len(events(work, htcondor2.JobEventType.EXECUTE)) == 2
    assert (work / "done.txt").exists()


def test_vacate_leaves_jobs_that_are_not_running_alone(standin, work):
    cluster = submit(standin, work, "executable = sleep.sh\nhold = true\n")
    result = standin.vacate(str(cluster))
    assert result.returncode == 1 and "Couldn't find/vacate" in result.stderr
    standin.run("condor_rm", str(cluster))
