"""The stand-in honours condorpy's own calls (unmodified condorpy 0.7: its Job, Workflow
and RemoteClient), locally and over the real sshd: the parsing contract of
docs test_infrastructure.md section 1."""

import os
import time

import condorpy
import pytest

from tests.htcondor_standin import StandIn

pytestmark = pytest.mark.filterwarnings("ignore:The .warn. method is deprecated:DeprecationWarning")

SCRIPT = "#!/bin/sh\necho run $1\nsleep ${2:-0.3}\n"


@pytest.fixture
def slow_pool(tmp_path, monkeypatch):
    """A pool whose jobs wait 1.5 s before starting, so Idle can be seen."""
    pool = StandIn(tmp_path / "pool", start_delay=1.5).install()
    monkeypatch.setenv("PATH", pool.path_env())
    yield pool
    pool.shutdown()


@pytest.fixture
def one_slot_pool(tmp_path, monkeypatch):
    """A pool of one slot: a job queued behind another stays Idle until that one ends."""
    pool = StandIn(tmp_path / "pool", slots=1).install()
    monkeypatch.setenv("PATH", pool.path_env())
    yield pool
    pool.shutdown()


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "run.sh").write_text(SCRIPT)
    (work / "run.sh").chmod(0o755)
    return work


def wait_for(read, wanted, timeout=120):
    """Read until ``read()`` returns ``wanted`` (a condition, however slowly the tools
    answer on a loaded machine); returns the distinct values seen."""
    deadline, seen = time.time() + timeout, []
    while time.time() < deadline:
        try:
            value = read()
        except KeyError as exc:
            # condorpy's Workflow.status runs condor_q, then condor_history: a DAG that
            # leaves the queue between the two is printed by both ("24"), and condorpy
            # looks up status 24. Real HTCondor has the same window; read again.
            seen.append(f"condorpy KeyError {exc}")
            continue
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == wanted:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"never reached {wanted!r}: {seen}")


def test_condorpy_job_submit_status_and_wait(one_slot_pool, work, monkeypatch):
    # Each job runs until the test opens its gate, and the pool's one slot is taken by
    # the first: condorpy's job is Idle until the test lets the first end, then Running
    # until the test lets it end, however slowly condor_q answers on a loaded machine.
    first_gate, gate = work / "first-gate", work / "gate"
    for script, its_gate in (("first.sh", first_gate), ("gated.sh", gate)):
        (work / script).write_text(
            f"#!/bin/sh\necho run $1\nwhile [ ! -e {its_gate} ]; do sleep 0.05; done\n")
        (work / script).chmod(0o755)
    (work / "first.sub").write_text("executable = first.sh\nqueue\n")
    assert one_slot_pool.run("condor_submit", "first.sub", cwd=work).returncode == 0
    wait_for(lambda: one_slot_pool.run("condor_q", "1", "-af", "JobStatus").stdout, "2\n")
    job = condorpy.Job("demo", condorpy.Templates.vanilla_base, executable="gated.sh",
                       arguments="1", working_directory=str(work))
    cluster = job.submit()
    assert cluster == 2
    assert wait_for(lambda: job.status, "Idle") == ["Idle"]
    first_gate.touch()
    assert wait_for(lambda: job.status, "Running") in (["Idle", "Running"], ["Running"])
    gate.touch()
    wait_for(lambda: job.status, "Completed")
    # condorpy makes the log path absolute against the process's directory before its
    # own chdir (a condorpy bug the engine's TransportJob.wait avoids): run it from there.
    monkeypatch.chdir(work)
    out, err = job.wait(options=["-wait", "120"])
    assert "All jobs done." in out and not err
    assert (work / "demo" / "logs" / "demo.2.0.out").read_text() == "run 1\n"


def test_condorpy_multi_proc_statuses_and_remove(slow_pool, work):
    job = condorpy.Job("multi", condorpy.Templates.vanilla_base, executable="run.sh",
                       arguments="x 30", num_jobs=3, working_directory=str(work))
    job.submit()
    wait_for(lambda: job.status, "Running")
    assert job.statuses["Running"] == 3
    job.remove(sub_job_num=2)
    wait_for(lambda: job.statuses["Removed"], 1)
    assert job.status == "Various"
    job.remove()
    wait_for(lambda: job.status, "Removed")


def test_condorpy_workflow_status_node_ids_and_node_statuses(standin, work):
    jobs = {}
    for name in ("A", "B"):
        jobs[name] = condorpy.Job(name, condorpy.Templates.vanilla_base, executable="run.sh",
                                  arguments=f"{name} 1", working_directory=str(work))
    workflow = condorpy.Workflow("flow", config=None, max_jobs={"cat": 2},
                                 working_directory=str(work))
    a, b = condorpy.Node(jobs["A"]), condorpy.Node(jobs["B"], category="cat")
    b.add_parent(a)
    workflow.add_node(a)
    workflow.add_node(b)
    cluster = workflow.submit()
    assert cluster == 1
    assert "PARENT A CHILD B" in (work / "flow.dag").read_text()
    wait_for(lambda: workflow.status, "Running")
    wait_for(lambda: workflow.node_statuses_by_cluster_id().get(2) in ("Running", "Completed"), True)
    workflow.update_node_ids()
    assert jobs["A"].cluster_id == 2
    wait_for(lambda: workflow.status, "Completed")
    statuses = workflow.statuses
    assert statuses["Completed"] == 2
    assert jobs["B"].cluster_id == 3


def test_condorpy_remote_client_over_sshd(ssh_server, tmp_path):
    """condorpy's own RemoteClient (RSA key, scp) against the sshd and its stand-in."""
    work = tmp_path / "remote-work"
    work.mkdir()
    (work / "run.sh").write_text(SCRIPT)
    (work / "run.sh").chmod(0o755)
    key, _ = ssh_server.keys["rsa"]
    job = condorpy.Job("remote", condorpy.Templates.vanilla_base, executable="run.sh",
                       arguments="over-ssh", working_directory=str(work),
                       remote_input_files=[str(work / "run.sh")])
    job.set_scheduler(ssh_server.host, username=ssh_server.user, private_key=str(key),
                      port=ssh_server.port)
    job.submit()
    wait_for(lambda: job.status, "Completed")
    job.sync_remote_output()
    assert (work / "remote" / "logs" / f"remote.{job.cluster_id}.0.out").read_text() == "run over-ssh\n"
    remote_dir = job._remote_id
    job.close_remote()
    listing = ssh_server.run_as_user("ls").stdout.split()
    assert remote_dir not in listing and os.getcwd() != str(work)
