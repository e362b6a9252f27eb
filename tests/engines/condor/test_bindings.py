"""The htcondor2 engine, tested at its boundary: the Schedd is the stand-in's
(``tests.htcondor_standin.bindings.StandinSchedd``, same signatures as ``htcondor2.Schedd``,
answers real ClassAds) while htcondor2.Submit and Submit.from_dag are HTCondor's own."""

import time

import condorpy
import htcondor2
import pytest

from tests.htcondor_standin import bindings as standin_bindings
from tests.htcondor_standin.bindings import StandinSchedd
from tethys_compute.engines.condor import HOLD, RELEASE, REMOVE, NotInQueue, engine_for
from tethys_compute.engines.condor.bindings import BindingsEngine
from tethys_compute.engines.condor.condorpy_objects import TransportJob, TransportWorkflow
from tethys_compute.engines.condor.errors import CondorError
from tethys_compute.exceptions import EngineUnavailable

SCRIPT = "#!/bin/sh\necho \"$1\" from $(pwd)\nsleep ${2:-0.1}\n"


@pytest.fixture
def engine(standin, monkeypatch):
    monkeypatch.setenv("HTCONDOR_STANDIN_STATE", str(standin.state))
    standin_bindings.CALLS.clear()
    return BindingsEngine(StandinSchedd)


def make_job(directory, name="job", arguments="x"):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.sh").write_text(SCRIPT)
    (directory / "run.sh").chmod(0o755)
    return TransportJob(name, condorpy.Templates.vanilla_base, executable="run.sh", arguments=arguments)


def wait_done(engine, cluster, dags=(), timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        snapshot = engine.query(clusters=[cluster], dags=dags)
        procs = snapshot.cluster(cluster)
        if procs and all(p.status in (3, 4) for p in procs):
            return snapshot
        time.sleep(0.05)
    raise AssertionError(f"cluster {cluster} did not finish")


def test_settings_select_the_bindings_and_the_schedd_factory(settings, standin, monkeypatch):
    monkeypatch.setenv("HTCONDOR_STANDIN_STATE", str(standin.state))
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "CONDOR_LOCAL_TRANSPORT": "htcondor2",
                               "CONDOR_SCHEDD_FACTORY": "tests.htcondor_standin.bindings.StandinSchedd"}
    engine = engine_for(None)
    assert isinstance(engine, BindingsEngine) and not engine.remote
    assert isinstance(engine.schedd(), StandinSchedd)


def test_submit_builds_an_absolute_description_and_the_job_runs(engine, tmp_path):
    job = engine.bind(make_job(tmp_path / "ws", arguments="bound"), str(tmp_path / "ws"), None)
    cluster = engine.submit_job(job, queue=2, options=["-append", '+TethysJobId = "4"',
                                                       "-batch-name", "demo"])
    submitted = [c for c in standin_bindings.CALLS if c[0] == "submit"][0][1]
    assert submitted["count"] == 2
    description = htcondor2.Submit(submitted["description"])
    assert description["initialdir"] == str(tmp_path / "ws" / "job")
    assert description["executable"] == str(tmp_path / "ws" / "run.sh")
    assert description["MY.TethysJobId"] == '"4"' and description["batch_name"] == "demo"
    snapshot = wait_done(engine, cluster)
    assert [p.exit_code for p in snapshot.cluster(cluster)] == [0, 0]
    out = (tmp_path / "ws" / "job" / "logs" / f"job.{cluster}.1.out").read_text()
    assert out == f"bound from {tmp_path / 'ws' / 'job'}\n"
    assert (tmp_path / "ws" / "job" / "job.job").exists()  # the description is kept


def test_one_query_and_one_history_per_refresh(engine, tmp_path):
    clusters = [engine.submit_job(engine.bind(make_job(tmp_path / f"w{n}"), str(tmp_path / f"w{n}"), None),
                                  queue=1, options=[]) for n in range(4)]
    for cluster in clusters:
        wait_done(engine, cluster)
    standin_bindings.CALLS.clear()
    snapshot = engine.query(clusters=clusters)
    assert [name for name, _ in standin_bindings.CALLS] == ["query", "history"]
    assert standin_bindings.CALLS[0][1]["projection"][:3] == ["ClusterId", "ProcId", "JobStatus"]
    assert all(snapshot.cluster(c)[0].succeeded for c in clusters)


def test_hold_release_remove_and_not_in_queue(engine, tmp_path):
    job = engine.bind(make_job(tmp_path / "ws", arguments="x 30"), str(tmp_path / "ws"), None)
    cluster = engine.submit_job(job, queue=1, options=[])
    engine.act(HOLD, [cluster])
    proc = engine.query(clusters=[cluster]).cluster(cluster)[0]
    assert (proc.status, proc.hold_reason_code) == (5, 1)
    engine.act(RELEASE, [cluster])
    assert engine.query(clusters=[cluster]).cluster(cluster)[0].status in (1, 2)
    engine.act(REMOVE, [cluster])
    assert wait_done(engine, cluster).cluster(cluster)[0].status == 3
    with pytest.raises(NotInQueue):
        engine.act(REMOVE, [cluster])


def test_dag_through_from_dag(engine, standin, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", standin.path_env())  # from_dag looks for condor_dagman
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "run.sh").write_text(SCRIPT)
    (tmp_path / "wf" / "run.sh").chmod(0o755)
    a = condorpy.Node(TransportJob("A", condorpy.Templates.vanilla_base, executable="run.sh", arguments="A"))
    b = condorpy.Node(TransportJob("B", condorpy.Templates.vanilla_base, executable="run.sh", arguments="B"))
    b.add_parent(a)
    workflow = TransportWorkflow("flow", config=None, max_jobs={})
    workflow.add_node(a)
    workflow.add_node(b)
    engine.bind(workflow, str(tmp_path / "wf"), None)
    cluster = engine.submit_workflow(workflow, options=["-force", "-maxjobs", "1", "-append",
                                                        '+TethysJobId = "8"'])
    snapshot = wait_done(engine, cluster, dags=[cluster])
    assert snapshot.cluster(cluster)[0].succeeded
    assert set(snapshot.dag_nodes(cluster)) == {"A", "B"}
    sub = (tmp_path / "wf" / "flow.dag.condor.sub").read_text()
    assert "-MaxJobs 1" in sub and "-force" in sub
    assert engine.read_text(str(tmp_path / "wf"), None, "flow.dag.dagman.out").count("All jobs Completed!") == 1


def test_unsupported_options_and_unreachable_schedd(engine, tmp_path):
    job = engine.bind(make_job(tmp_path / "ws"), str(tmp_path / "ws"), None)
    with pytest.raises(CondorError, match="not supported with the htcondor2 bindings"):
        engine.submit_job(job, queue=1, options=["-spool"])

    def broken():
        raise htcondor2.HTCondorException("Unable to locate local daemon")

    down = BindingsEngine(broken)
    with pytest.raises(EngineUnavailable, match="Unable to locate local daemon"):
        down.query(clusters=[1])
    with pytest.raises(EngineUnavailable):
        down.test_connection()


def test_submit_refused_by_the_schedd_is_a_condor_error(engine, tmp_path):
    job = TransportJob("bad", {"executable": "missing.sh"})
    engine.bind(job, str(tmp_path), None)
    with pytest.raises(CondorError, match="Executable file .*missing.sh does not exist"):
        engine.submit_job(job, queue=1, options=[])


def test_test_connection(engine):
    assert engine.test_connection().startswith("Connected to the local schedd (htcondor2): 0 jobs")
