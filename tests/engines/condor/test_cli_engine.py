"""The command-line engine on this machine's (stand-in) HTCondor tools, and the condorpy
objects it drives: no os.chdir anywhere, jobs in different directories in parallel."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import condorpy
import pytest

from tethys_compute.engines.condor import HOLD, RELEASE, REMOVE, NotInQueue, engine_for
from tethys_compute.engines.condor.condorpy_objects import TransportJob, TransportWorkflow
from tethys_compute.engines.condor.engine import CliEngine
from tethys_compute.engines.condor.errors import CondorError
from tethys_compute.engines.condor.transport import LocalTransport
from tethys_compute.exceptions import EngineUnavailable, TethysComputeError

SCRIPT = "#!/bin/sh\necho \"$1\" from $(pwd)\nsleep ${2:-0.2}\n"


@pytest.fixture
def no_chdir(monkeypatch):
    """Fail loudly if anything changes the process's working directory."""

    def refuse(path):
        raise AssertionError(f"os.chdir({path!r}) called: process-wide state in a request path")

    monkeypatch.setattr(os, "chdir", refuse)


def make_job(directory, name="job", arguments="x", num_jobs=1):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.sh").write_text(SCRIPT)
    (directory / "run.sh").chmod(0o755)
    return TransportJob(name, condorpy.Templates.vanilla_base, executable="run.sh",
                        arguments=arguments, num_jobs=num_jobs)


def wait_done(engine, cluster, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        procs = engine.query(clusters=[cluster]).cluster(cluster)
        if procs and all(p.status in (3, 4) for p in procs):
            return procs
        time.sleep(0.05)
    raise AssertionError(f"cluster {cluster} did not finish")


def test_engine_for_no_scheduler_is_the_local_cli(settings):
    engine = engine_for(None)
    assert isinstance(engine, CliEngine) and not engine.remote
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "CONDOR_LOCAL_TRANSPORT": "condor"}
    with pytest.raises(CondorError, match="CONDOR_LOCAL_TRANSPORT"):
        engine_for(None)


def test_submit_query_and_act_without_chdir(standin, tmp_path, no_chdir):
    engine = CliEngine(LocalTransport())
    workspace = str(tmp_path / "ws")
    job = engine.bind(make_job(tmp_path / "ws", arguments="hello", num_jobs=2), workspace, None)
    cluster = engine.submit_job(job, queue=2, options=["-append", '+TethysJobId = "3"'])
    assert cluster == 1
    procs = wait_done(engine, cluster)
    assert [(p.proc, p.status, p.exit_code) for p in procs] == [(0, 4, 0), (1, 4, 0)]
    output = (tmp_path / "ws" / "job" / "logs" / "job.1.1.out").read_text()
    assert output == f"hello from {tmp_path / 'ws' / 'job'}\n"
    assert engine.read_text(workspace, None, "job/logs/job.1.0.out").startswith("hello")
    assert engine.glob(workspace, None, "job/logs/job.*.out") == [
        "job/logs/job.1.0.out", "job/logs/job.1.1.out"]
    with pytest.raises(NotInQueue, match="Couldn't find"):
        engine.act(REMOVE, [cluster])


def test_one_condor_q_and_at_most_one_condor_history_per_query(standin, tmp_path):
    engine = CliEngine(LocalTransport())
    clusters = []
    for n in range(5):
        job = engine.bind(make_job(tmp_path / f"w{n}"), str(tmp_path / f"w{n}"), None)
        clusters.append(engine.submit_job(job, queue=1, options=[]))
    for cluster in clusters:
        wait_done(engine, cluster)
    standin.reset_calls()
    snapshot = engine.query(clusters=clusters)
    assert standin.calls() == ["condor_q", "condor_history"]
    assert all(snapshot.cluster(c)[0].succeeded for c in clusters)
    # All still queued: the history is not asked at all.
    running = [
        engine.submit_job(engine.bind(make_job(tmp_path / f"r{n}", arguments="x 30"),
                                      str(tmp_path / f"r{n}"), None), queue=1, options=[])
        for n in range(3)
    ]
    standin.reset_calls()
    snapshot = engine.query(clusters=running)
    assert standin.calls() == ["condor_q"]
    assert all(snapshot.cluster(c) for c in running)
    engine.act(HOLD, [running[0]])
    assert engine.query(clusters=[running[0]]).cluster(running[0])[0].status == 5
    engine.act(RELEASE, [running[0]])
    engine.act(REMOVE, running)
    assert {engine.query(clusters=[c]).cluster(c)[0].status for c in running} == {3}


def test_free_text_attributes_reach_the_job_exactly(standin, tmp_path):
    # A hold reason is free text: tabs, newlines and quotes must survive the query (the
    # old tab-separated -af:t parse cut the reason at its first newline).
    engine = CliEngine(LocalTransport())
    job = engine.bind(make_job(tmp_path / "h", arguments="x 30"), str(tmp_path / "h"), None)
    cluster = engine.submit_job(job, queue=1, options=[])
    reason = 'disk "full"\tsee below\nsecond line\\ end'
    held = standin.run("condor_hold", "-reason", reason, str(cluster))
    assert held.returncode == 0, held.stderr
    state = engine.query(clusters=[cluster]).cluster(cluster)[0]
    assert (state.status, state.hold_reason, state.hold_reason_code) == (5, reason, 1)
    engine.act(REMOVE, [cluster])


def test_submit_errors_carry_htcondors_message(standin, tmp_path):
    engine = CliEngine(LocalTransport())
    job = TransportJob("bad", {"executable": "missing.sh"})
    engine.bind(job, str(tmp_path), None)
    with pytest.raises(CondorError, match=r"ERROR: Executable file .*missing.sh does not exist"):
        engine.submit_job(job, queue=1, options=[])
    nothing = TransportJob("none", {"arguments": "1"})
    engine.bind(nothing, str(tmp_path), None)
    with pytest.raises(CondorError, match="without an executable"):
        engine.submit_job(nothing, queue=1, options=[])


def test_missing_tools_are_transient_and_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    engine = CliEngine(LocalTransport())
    with pytest.raises(EngineUnavailable, match="condor_q was not found"):
        engine.query(clusters=[1])
    with pytest.raises(EngineUnavailable, match="condor_q was not found"):
        engine.test_connection()


def test_test_connection_reports_condor_q(standin):
    message = CliEngine(LocalTransport()).test_connection()
    assert message == ("Connected to this machine; condor_q answered: Total for query: 0 jobs; "
                       "0 completed, 0 removed, 0 idle, 0 running, 0 held, 0 suspended")


def test_jobs_in_different_directories_submit_side_by_side_in_threads(standin, tmp_path, no_chdir):
    engine = CliEngine(LocalTransport())
    started = threading.Barrier(8)

    def submit(n):
        directory = tmp_path / f"job{n}"
        job = engine.bind(make_job(directory, name=f"j{n}", arguments=str(n)), str(directory), None)
        started.wait()
        return directory, engine.submit_job(job, queue=1, options=[])

    with ThreadPoolExecutor(8) as pool:
        submitted = list(pool.map(submit, range(8)))
    assert len({cluster for _, cluster in submitted}) == 8
    for directory, cluster in submitted:
        wait_done(engine, cluster)
        n = directory.name[3:]
        out = (directory / f"j{n}" / "logs" / f"j{n}.{cluster}.0.out").read_text()
        assert out == f"{n} from {directory / f'j{n}'}\n"


def test_condorpy_api_on_bound_objects(standin, tmp_path, no_chdir):
    engine = CliEngine(LocalTransport())
    job = engine.bind(make_job(tmp_path / "w", arguments="via-condorpy"), str(tmp_path / "w"), None)
    job.submit()
    assert job.status in ("Idle", "Running", "Completed")
    out, err = job.wait(options=["-wait", "20"])
    assert "All jobs done." in out and not err
    assert job.status == "Completed"
    with pytest.raises(TethysComputeError, match="set the job's scheduler"):
        job.set_scheduler("host")
    unbound = TransportJob("u", {"executable": "x"})
    with pytest.raises(TethysComputeError, match="not connected"):
        unbound.submit()


def test_workflow_object_writes_dag_and_node_files_and_runs(standin, tmp_path, no_chdir):
    engine = CliEngine(LocalTransport())
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "run.sh").write_text(SCRIPT)
    (tmp_path / "wf" / "run.sh").chmod(0o755)
    a = condorpy.Node(TransportJob("A", condorpy.Templates.vanilla_base, executable="run.sh", arguments="A"))
    b = condorpy.Node(TransportJob("B", condorpy.Templates.vanilla_base, executable="run.sh", arguments="B"),
                      retry=2, retry_unless_exit_value=3)
    b.add_parent(a)
    workflow = TransportWorkflow("flow", config=None, max_jobs={})
    workflow.add_node(a)
    workflow.add_node(b)
    engine.bind(workflow, str(tmp_path / "wf"), None)
    cluster = engine.submit_workflow(workflow, options=["-force"])
    assert "RETRY B 2 UNLESS-EXIT 3" in (tmp_path / "wf" / "flow.dag").read_text()
    assert (tmp_path / "wf" / "A" / "A.job").exists()
    deadline = time.time() + 20
    while time.time() < deadline:
        snapshot = engine.query(clusters=[cluster], dags=[cluster])
        if snapshot.cluster(cluster)[0].status == 4:
            break
        time.sleep(0.1)
    assert snapshot.cluster(cluster)[0].succeeded
    assert set(snapshot.dag_nodes(cluster)) == {"A", "B"}
    assert workflow.status == "Completed"
