"""What a job used, measured by the stand-in as HTCondor reports it in the job ad
(HTCondor manual, "Job ClassAd Attributes"): ``MemoryUsage`` (MB, peak),
``ResidentSetSize`` (KiB, peak), ``RemoteWallClockTime`` (s, cumulative),
``RemoteUserCpu``/``RemoteSysCpu`` (s), ``DiskUsage`` (KiB of the execute directory).

The jobs allocate memory, spend CPU and write files for real, in a child of the job's
shell (so the measurement must cover the job's descendants, as HTCondor's does)."""

import json
import sys
import time

import htcondor2
import pytest

from .bindings import StandinSchedd

#: ``alloc.sh MB SECONDS_HELD CPU_SECONDS DISK_MB``: a child Python touches MB of memory,
#: spins for CPU_SECONDS of CPU, writes DISK_MB into the working directory, then holds the
#: memory for SECONDS_HELD.
ALLOC = """#!/bin/sh
"{python}" - "$@" <<'EOF'
import sys, time
mb, hold, spin, disk = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
block = bytearray(mb * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
end = time.process_time() + spin
while time.process_time() < end:
    pass
with open("written.bin", "wb") as out:
    out.write(b"x" * disk * 1024 * 1024)
print("allocated", mb, flush=True)
time.sleep(hold)
EOF
"""

USAGE = ["MemoryUsage", "ResidentSetSize", "RemoteWallClockTime", "RemoteUserCpu",
         "RemoteSysCpu", "DiskUsage"]


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "alloc.sh").write_text(ALLOC.replace("{python}", sys.executable))
    (work / "alloc.sh").chmod(0o755)
    return work


def submit(standin, work, arguments, extra=""):
    (work / "job.sub").write_text(
        f"executable = alloc.sh\narguments = {arguments}\nshould_transfer_files = YES\n"
        f"request_memory = 2048\noutput = out.txt\nlog = job.log\n{extra}queue\n")
    result = standin.run("condor_submit", "job.sub", cwd=work)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.rsplit("cluster ", 1)[1].rstrip(".\n"))


def history(standin, cluster):
    out = standin.run("condor_history", str(cluster), "-json").stdout
    return json.loads(out)[0] if out.strip() else None


def test_history_reports_measured_usage_of_the_jobs_descendants(standin, work):
    small = submit(standin, work, "20 0.2 0.1 1")
    big = submit(standin, work, "180 1.5 0.6 3")
    assert standin.wait_until_empty(timeout=60)
    s, b = history(standin, small), history(standin, big)
    for ad in (s, b):
        assert all(name in ad for name in USAGE), ad
        assert ad["MemoryUsage"] == -(-ad["ResidentSetSize"] // 1024)  # MB, rounded up
    # Measured, not invented: the 180 MB job's peak is at least 160 MB above the 20 MB one's.
    assert b["MemoryUsage"] >= 180
    assert b["MemoryUsage"] - s["MemoryUsage"] >= 150
    assert b["MemoryUsage"] < 2048
    assert b["RemoteWallClockTime"] >= 1.5
    assert b["RemoteUserCpu"] + b["RemoteSysCpu"] >= 0.55
    assert b["RemoteUserCpu"] > s["RemoteUserCpu"]
    assert b["DiskUsage"] >= 3 * 1024  # the 3 MB file written in its execute directory
    assert b["DiskUsage"] > s["DiskUsage"]
    # condor_history -af and the bindings see the same numbers.
    af = standin.run("condor_history", str(big), "-af", "MemoryUsage", "DiskUsage").stdout.split()
    assert af == [str(b["MemoryUsage"]), str(b["DiskUsage"])]
    # ... and so does the Terminated event of the job's user log.
    ended = {e.cluster: e for e in htcondor2.JobEventLog(str(work / "job.log")).events(0)
             if e.type == htcondor2.JobEventType.JOB_TERMINATED}
    assert ended[big]["MemoryUsage"] == b["MemoryUsage"]
    assert ended[big]["RequestMemory"] == 2048 and ended[big]["DiskUsage"] == b["DiskUsage"]


def test_queue_shows_usage_while_the_job_runs(standin, work, monkeypatch):
    cluster = submit(standin, work, "150 60 0 1")
    deadline = time.time() + 60
    ad = {}
    while time.time() < deadline:
        out = standin.run("condor_q", str(cluster), "-json", "-attributes",
                          ",".join(["JobStatus", *USAGE])).stdout
        ad = json.loads(out)[0] if out.strip() else {}
        if (ad.get("JobStatus") == 2 and (ad.get("MemoryUsage") or 0) >= 150
                and (ad.get("DiskUsage") or 0) >= 1024):
            break
        time.sleep(0.1)
    assert ad.get("JobStatus") == 2 and ad["MemoryUsage"] >= 150 and ad["DiskUsage"] >= 1024, ad
    assert ad["ResidentSetSize"] >= 150 * 1024
    monkeypatch.setenv("HTCONDOR_STANDIN_STATE", str(standin.state))
    [bound] = StandinSchedd().query(f"ClusterId == {cluster}", ["MemoryUsage", "DiskUsage"])
    assert bound["MemoryUsage"] >= 150 and bound["DiskUsage"] >= 1024
    standin.run("condor_rm", str(cluster))
    assert standin.wait_until_empty(timeout=30)
