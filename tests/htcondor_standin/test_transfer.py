"""File transfer of the stand-in (should_transfer_files = YES): inputs copied into a
scratch directory, outputs copied back, a missing input holds the job (code 13)."""

import time

import htcondor2


def _submit(standin, work, text):
    (work / "job.sub").write_text(text)
    result = standin.run("condor_submit", "job.sub", cwd=work)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.rsplit("cluster ", 1)[1].rstrip(".\n"))


def test_inputs_in_scratch_outputs_back(standin, tmp_path):
    work = tmp_path / "w"
    (work / "job" / "logs").mkdir(parents=True)
    (work / "input_1").write_text("42\n")
    (work / "job.sh").write_text(
        '#!/bin/sh\ncat input_1\npwd > where.txt\necho "$_CONDOR_SCRATCH_DIR" >> where.txt\n'
        "echo result > result.txt\n")
    (work / "job.sh").chmod(0o755)
    _submit(standin, work,
            "executable = job.sh\ninitialdir = job\nshould_transfer_files = YES\n"
            "when_to_transfer_output = ON_EXIT\ntransfer_input_files = ../input_1\n"
            "output = logs/out.txt\nerror = logs/err.txt\nlog = logs/job.log\nqueue\n")
    assert standin.wait_until_empty()
    job = work / "job"
    assert (job / "logs" / "out.txt").read_text() == "42\n"
    assert (job / "result.txt").read_text() == "result\n"
    where = (job / "where.txt").read_text().split()
    assert where[0] == where[1] and "/execute/" in where[0]
    assert not (job / "input_1").exists()  # inputs are not copied back


def test_missing_input_holds_the_job_and_release_retries(standin, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "job.sh").write_text("#!/bin/sh\ncat data.txt\n")
    (work / "job.sh").chmod(0o755)
    cluster = _submit(standin, work,
                      "executable = job.sh\nshould_transfer_files = YES\n"
                      "transfer_input_files = data.txt\noutput = out.txt\nlog = job.log\nqueue\n")
    deadline = time.time() + 10
    while time.time() < deadline:
        out = standin.run("condor_q", str(cluster), "-af:t", "JobStatus", "HoldReasonCode",
                          "HoldReason").stdout
        if out.startswith("5"):
            break
        time.sleep(0.05)
    status, code, reason = out.rstrip("\n").split("\t")
    assert (status, code) == ("5", "13")
    assert "Transfer input files failure" in reason and "data.txt" in reason
    held = [e for e in htcondor2.JobEventLog(str(work / "job.log")).events(0)
            if e.type == htcondor2.JobEventType.JOB_HELD]
    assert held and held[0]["HoldReasonCode"] == 13
    (work / "data.txt").write_text("now here\n")
    standin.run("condor_release", str(cluster))
    assert standin.wait_until_empty()
    assert (work / "out.txt").read_text() == "now here\n"
