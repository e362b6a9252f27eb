"""condor_hold, condor_release, condor_rm and condor_wait of the stand-in, and the events
they leave in the user log (parsed by HTCondor's own htcondor2.JobEventLog)."""

import os
import time

import htcondor2
import pytest


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "count.sh").write_text(
        "#!/bin/sh\necho started >> starts.txt\nsleep ${1:-30}\necho done >> starts.txt\n")
    (work / "count.sh").chmod(0o755)
    return work


def submit(standin, work, text):
    (work / "job.sub").write_text(text)
    result = standin.run("condor_submit", "job.sub", cwd=work)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.rsplit("cluster ", 1)[1].rstrip(".\n"))


def status(standin, job):
    q = standin.run("condor_q", job, "-format", "%d", "JobStatus").stdout
    return q or standin.run("condor_history", job, "-format", "%d", "JobStatus").stdout


def wait_status(standin, job, wanted, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = status(standin, job)
        if now == wanted:
            return
        time.sleep(0.05)
    raise AssertionError(f"{job}: status {now!r}, wanted {wanted!r}")


def events(path):
    return [(e.type, e.cluster, e.proc, dict(e.items())) for e in htcondor2.JobEventLog(str(path)).events(0)]


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _script_pids(path):
    """Pids of the processes running the script ``path`` (not the shell's forks)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    cmdline = handle.read()
            except OSError:
                continue
            if str(path).encode() in cmdline and _pid_alive(int(entry)):
                pids.append(int(entry))
    return [pid for pid in pids if _parent(pid) not in pids]


def test_hold_stops_the_process_and_release_runs_it_again(standin, work):
    # The job runs until a gate file appears, so it cannot finish on its own, however slow
    # the machine; holding it must kill it.
    (work / "gated.sh").write_text(
        "#!/bin/sh\necho started >> starts.txt\n"
        "while [ ! -e gate ]; do sleep 0.05; done\necho done >> starts.txt\n")
    (work / "gated.sh").chmod(0o755)
    cluster = submit(standin, work, "executable = gated.sh\nlog = job.log\nqueue\n")
    wait_status(standin, str(cluster), "2")
    deadline = time.time() + 10
    while not (work / "starts.txt").exists() and time.time() < deadline:
        time.sleep(0.05)  # Running as soon as started; the script's first line comes after
    hold = standin.run("condor_hold", str(cluster))
    assert hold.stdout == f"All jobs in cluster {cluster} have been held\n"
    assert status(standin, str(cluster)) == "5"  # at once, as the schedd answers
    reason = standin.run("condor_q", str(cluster), "-af", "HoldReasonCode", "HoldReason").stdout
    assert reason.startswith("1 via condor_hold (by user ")
    deadline = time.time() + 10
    while _script_pids(work / "gated.sh") and time.time() < deadline:
        time.sleep(0.05)
    assert _script_pids(work / "gated.sh") == []  # the held job's process was killed
    (work / "gate").touch()
    time.sleep(0.3)
    assert (work / "starts.txt").read_text() == "started\n"  # and never finished
    assert standin.run("condor_release", str(cluster)).stdout == (
        f"All jobs in cluster {cluster} have been released\n")
    wait_status(standin, str(cluster), "4")
    assert (work / "starts.txt").read_text() == "started\nstarted\ndone\n"
    kinds = [e[0] for e in events(work / "job.log")]
    assert kinds == [htcondor2.JobEventType.SUBMIT, htcondor2.JobEventType.EXECUTE,
                     htcondor2.JobEventType.JOB_HELD, htcondor2.JobEventType.JOB_RELEASED,
                     htcondor2.JobEventType.EXECUTE, htcondor2.JobEventType.JOB_TERMINATED]
    held = events(work / "job.log")[2][3]
    assert held["HoldReasonCode"] == 1 and held["HoldReason"].startswith("via condor_hold")
    ended = events(work / "job.log")[-1][3]
    assert ended["TerminatedNormally"] is True and ended["ReturnValue"] == 0


def test_rm_kills_the_job_which_leaves_as_removed(standin, work):
    cluster = submit(standin, work, "executable = count.sh\nlog = job.log\nqueue 2\n")
    wait_status(standin, str(cluster), "22")
    pids = _script_pids(work / "count.sh")
    assert len(pids) == 2
    out = standin.run("condor_rm", f"{cluster}.1")
    assert out.stdout == f"Job {cluster}.1 marked for removal\n"
    standin.run("condor_rm", str(cluster))
    wait_status(standin, str(cluster), "33")
    deadline = time.time() + 5
    while any(_pid_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_pid_alive(p) for p in pids)
    assert standin.wait_until_empty(5)  # the Aborted events are written as they leave
    aborted = [e for e in events(work / "job.log") if e[0] == htcondor2.JobEventType.JOB_ABORTED]
    assert sorted(e[2] for e in aborted) == [0, 1]
    assert aborted[0][3]["Reason"].startswith("via condor_rm (by user ")


def test_actions_on_unknown_jobs_fail_like_htcondor(standin, work):
    for tool, verb in (("condor_rm", "remove"), ("condor_hold", "hold"), ("condor_release", "release")):
        result = standin.run(tool, "77")
        assert result.returncode == 1
        assert result.stderr == f"Couldn't find/{verb} all jobs in cluster 77.\n"
    assert standin.run("condor_rm").returncode == 1


def test_terminated_event_reports_exit_code_and_signal(standin, work):
    (work / "exit3.sh").write_text("#!/bin/sh\nexit 3\n")
    (work / "killed.sh").write_text("#!/bin/sh\nkill -9 $$\n")
    for name in ("exit3.sh", "killed.sh"):
        (work / name).chmod(0o755)
    a = submit(standin, work, "executable = exit3.sh\nlog = a.log\nqueue\n")
    b = submit(standin, work, "executable = killed.sh\nlog = b.log\nqueue\n")
    assert standin.wait_until_empty()
    assert standin.run("condor_history", str(a), "-af", "ExitCode", "ExitBySignal").stdout == "3 false\n"
    assert standin.run("condor_history", str(b), "-af", "ExitSignal", "ExitBySignal").stdout == "9 true\n"
    assert events(work / "a.log")[-1][3]["ReturnValue"] == 3
    killed = events(work / "b.log")[-1][3]
    assert killed["TerminatedNormally"] is False and killed["TerminatedBySignal"] == 9


def test_condor_wait_returns_when_jobs_end_or_times_out(standin, work):
    # The jobs run until a gate file appears: they cannot end before the first
    # condor_wait times out, however slowly it starts on a loaded machine.
    (work / "gated.sh").write_text(
        "#!/bin/sh\nwhile [ ! -e gate ]; do sleep 0.05; done\n")
    (work / "gated.sh").chmod(0o755)
    cluster = submit(standin, work, "executable = gated.sh\nlog = w.log\nqueue 2\n")
    expired = standin.run("condor_wait", "-wait", "0.1", str(work / "w.log"))
    assert (expired.returncode, expired.stdout) == (1, "Time expired.\n")
    (work / "gate").touch()
    done = standin.run("condor_wait", str(work / "w.log"), f"{cluster}.1")
    assert (done.returncode, done.stdout) == (0, "All jobs done.\n")
    assert standin.run("condor_wait", str(work / "w.log")).stdout == "All jobs done.\n"
