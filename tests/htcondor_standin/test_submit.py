"""condor_submit of the stand-in: submit descriptions, macros, queue N, -append, errors."""

import json
import os
import time

import pytest

from . import StandIn


def _script(path, body="#!/bin/sh\necho out $@\n"):
    path.write_text(body)
    path.chmod(0o755)
    return path


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    _script(work / "run.sh")
    return work


def _ads(standin, *args):
    result = standin.run("condor_q", *args, "-json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else []


def _history(standin, *args):
    result = standin.run("condor_history", *args, "-json")
    return json.loads(result.stdout) if result.stdout.strip() else []


def test_submit_prints_cluster_and_queues_n_procs_with_macros(standin, work):
    (work / "out").mkdir()
    # The jobs wait for the test to open their gate, so they are still in the queue when
    # it is read, however loaded the machine.
    gate = work / "gate"
    _script(work / "gated.sh", f"#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.05; done\necho out $@\n")
    (work / "job.sub").write_text(
        "# a comment\n"
        "executable = gated.sh\n"
        "arguments = \"alpha 'two words'\"\n"
        "initialdir = out\n"
        "name = demo\n"
        "log = $(name).$(Cluster).log\n"
        "output = $(name).$(ClusterId).$(Process).out\n"
        "error = $(NAME).$(cluster).$(ProcId).err\n"
        "priority = 3\n"
        "+Project = \"tethys\"\n"
        "MY.Answer = 42\n"
        "hold = false\n"
        "queue 3\n"
    )
    result = standin.run("condor_submit", "job.sub", cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Submitting job(s)...\n3 job(s) submitted to cluster 1.\n"
    ads = _ads(standin, "1")
    assert [ad["ProcId"] for ad in ads] == [0, 1, 2]
    first = ads[0]
    assert first["Cmd"] == str(work / "gated.sh")
    assert first["Iwd"] == str(work / "out")
    assert first["UserLog"] == str(work / "out" / "demo.1.log")
    assert [ad["Out"] for ad in ads] == ["demo.1.0.out", "demo.1.1.out", "demo.1.2.out"]
    assert first["Err"] == "demo.1.0.err"
    assert first["Arguments"] == "alpha 'two words'"
    assert first["Project"] == "tethys" and first["Answer"] == 42
    assert first["JobPrio"] == 3 and first["JobStatus"] in (1, 2)
    gate.touch()
    assert standin.wait_until_empty()
    done = _history(standin, "1")
    assert sorted(ad["ProcId"] for ad in done) == [0, 1, 2]
    assert (work / "out" / "demo.1.1.out").read_text() == "out alpha two words\n"


def test_cluster_ids_increase_and_terse_output(standin, work):
    (work / "a.sub").write_text("executable = run.sh\nqueue\n")
    assert "submitted to cluster 1." in standin.run("condor_submit", "a.sub", cwd=work).stdout
    terse = standin.run("condor_submit", "-terse", "a.sub", cwd=work)
    assert terse.stdout == "2.0 - 2.0\n"


def test_append_precedes_queue_and_sets_attributes(standin, work):
    (work / "a.sub").write_text("executable = run.sh\narguments = 1\nqueue 2\n")
    result = standin.run("condor_submit", "-append", '+TethysJobId = "17"',
                         "-a", "arguments = from-append", "a.sub", cwd=work)
    assert result.returncode == 0, result.stderr
    ads = _ads(standin, "1") or _history(standin, "1")
    assert {ad["TethysJobId"] for ad in ads} == {"17"}
    assert {ad["Arguments"] for ad in ads} == {"from-append"}


def test_submit_reads_the_description_from_stdin(standin, work):
    import subprocess

    result = subprocess.run([str(standin.bin / "condor_submit")], input="executable = run.sh\nqueue\n",
                            cwd=work, capture_output=True, text=True)
    assert "1 job(s) submitted to cluster 1." in result.stdout


@pytest.mark.parametrize(
    "description, message",
    [
        ("executable = missing.sh\nqueue\n", "ERROR: Executable file {work}/missing.sh does not exist"),
        ("arguments = 1\nqueue\n", "ERROR: No 'executable' parameter was provided"),
        ("executable = run.sh\ninitialdir = nowhere\nqueue\n", "ERROR: No such directory: {work}/nowhere"),
        ("executable = run.sh\nlog = no/dir/x.log\nqueue\n",
         'ERROR: Invalid log file: "{work}/no/dir/x.log" (No such file or directory)'),
        ("executable = run.sh\nqueue 2 item in (a b)\n", "ERROR: Unsupported queue statement"),
        ("executable = run.sh\nthis line is not a command\nqueue\n", "ERROR: Parse error in submit file"),
        ("executable = run.sh\narguments = \"a 'b\"\nqueue\n", "ERROR: Found unbalanced single quote"),
    ],
)
def test_submit_errors_are_htcondors(standin, work, description, message):
    (work / "bad.sub").write_text(description)
    result = standin.run("condor_submit", "bad.sub", cwd=work)
    assert result.returncode == 1
    assert message.format(work=work) in result.stderr
    assert standin.run("condor_q", "-allusers", "-af", "ClusterId").stdout == ""


def test_submitted_on_hold(standin, work):
    (work / "a.sub").write_text("executable = run.sh\nhold = True\nqueue\n")
    standin.run("condor_submit", "a.sub", cwd=work)
    ad = _ads(standin, "1")[0]
    assert ad["JobStatus"] == 5 and ad["HoldReasonCode"] == 15


def _schedds_of(pool):
    """Pids of the stand-in schedd processes serving ``pool``."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if b"tests.htcondor_standin.schedd" in argv and str(pool.state).encode() in argv:
            pids.append(int(entry))
    return pids


def test_a_pool_shut_down_right_after_a_submit_leaves_no_schedd(tmp_path, work):
    # condor_submit starts the schedd in the background; shutting the pool down before the
    # schedd has even written its pid file must still stop it (a held job would keep it up).
    for attempt in range(5):
        pool = StandIn(tmp_path / f"pool{attempt}").install()
        (work / "a.sub").write_text("executable = run.sh\nhold = True\nqueue\n")
        assert pool.run("condor_submit", "a.sub", cwd=work).returncode == 0
        pool.shutdown()
        deadline = time.time() + 10
        while _schedds_of(pool) and time.time() < deadline:
            time.sleep(0.05)
        assert _schedds_of(pool) == []
