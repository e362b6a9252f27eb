"""condor_submit_dag and the stand-in DAGMan: ordering, VARS, PRIORITY, CATEGORY/MAXJOBS,
scripts, RETRY/UNLESS-EXIT, ABORT-DAG-ON, NOOP/DONE/DIR, removal, hold and recovery."""

import os
import time

import htcondor2
import pytest

NODE = """#!/bin/sh
echo "$(date +%s.%N) start $1" >> ../trace.txt
sleep ${2:-0.1}
echo "$(date +%s.%N) end $1" >> ../trace.txt
exit ${3:-0}
"""


def make_dag(root, nodes, lines, name="wf"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "node.sh").write_text(NODE)
    (root / "node.sh").chmod(0o755)
    for node in nodes:
        (root / node).mkdir(exist_ok=True)
        (root / node / f"{node}.job").write_text(
            f"executable = node.sh\narguments = {node} $(sleep:0.1) $(code:0)\ninitialdir = {node}\n"
            f"log = {node}.$(cluster).log\noutput = {node}.out\nqueue\n")
    text = "".join(f"JOB {n} {n}/{n}.job\n" for n in nodes) + "".join(f"{line}\n" for line in lines)
    (root / f"{name}.dag").write_text(text)
    return root / f"{name}.dag"


def submit_dag(standin, dag, *options):
    result = standin.run("condor_submit_dag", *options, dag.name, cwd=dag.parent)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.rsplit("cluster ", 1)[1].split(".")[0])


def dag_result(standin, cluster, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = standin.run("condor_history", str(cluster), "-af", "JobStatus", "ExitCode").stdout
        if out:
            return out.split()
        time.sleep(0.1)
    raise AssertionError(f"DAG {cluster} did not end")


def trace(root):
    lines = (root / "trace.txt").read_text().split() if (root / "trace.txt").exists() else []
    return [(float(lines[i]), lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


def node_jobs(standin, dag_id):
    out = standin.run("condor_history", "-constraint", f"DAGManJobId == {dag_id}", "-af",
                      "DAGNodeName", "ClusterId", "ExitCode").stdout
    return [line.split() for line in out.splitlines()]


def test_dag_runs_in_order_with_vars_priority_and_throttles(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B", "C", "D", "E"], [
        "PARENT A CHILD B C D E",
        'VARS B sleep="0.4"',
        'VARS C sleep="0.4"',
        "PRIORITY E 10",
        "CATEGORY B slow", "CATEGORY C slow", "MAXJOBS slow 1",
        "SCRIPT PRE A pre.sh $JOB", "SCRIPT POST E post.sh $JOB $RETURN",
    ])
    (root / "pre.sh").write_text("#!/bin/sh\necho pre $1 >> scripts.txt\n")
    (root / "post.sh").write_text("#!/bin/sh\necho post $1 $2 >> scripts.txt\nexit $2\n")
    for script in ("pre.sh", "post.sh"):
        (root / script).chmod(0o755)
    cluster = submit_dag(standin, dag, "-append", '+TethysJobId = "9"')
    assert dag_result(standin, cluster) == ["4", "0"]
    events = trace(root)
    starts = {name: t for t, kind, name in events if kind == "start"}
    ends = {name: t for t, kind, name in events if kind == "end"}
    assert all(starts[n] >= ends["A"] for n in "BCDE")
    # B and C share a category limited to one job at a time.
    first, second = sorted("BC", key=lambda n: starts[n])
    assert starts[second] >= ends[first]
    assert (root / "scripts.txt").read_text() == "pre A\npost E 0\n"
    assert (root / "B" / "B.out").exists()
    jobs = node_jobs(standin, cluster)
    assert sorted(name for name, _, _ in jobs) == list("ABCDE")
    assert standin.run("condor_history", str(cluster), "-af", "TethysJobId").stdout == "9\n"
    out = (root / "wf.dag.dagman.out").read_text()
    assert "All jobs Completed!" in out and "EXITING WITH STATUS 0" in out
    node_events = list(htcondor2.JobEventLog(str(root / "wf.dag.nodes.log")).events(0))
    terminated = [e for e in node_events if e.type == htcondor2.JobEventType.JOB_TERMINATED]
    assert len(terminated) == 5
    own = [e.type for e in htcondor2.JobEventLog(str(root / "wf.dag.dagman.log")).events(0)]
    assert own == [htcondor2.JobEventType.SUBMIT, htcondor2.JobEventType.EXECUTE,
                   htcondor2.JobEventType.JOB_TERMINATED]


def test_retry_then_success_and_unless_exit_failure_with_rescue_dag(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B", "C", "D"], [
        "PARENT A CHILD B C", "PARENT C CHILD D",
        "RETRY B 2",
        'VARS C code="7"', "RETRY C 3 UNLESS-EXIT 7",
    ])
    (root / "B" / "B.job").write_text(
        "executable = flaky.sh\ninitialdir = B\nlog = B.log\nqueue\n")
    (root / "flaky.sh").write_text(
        "#!/bin/sh\nif [ -e tried ]; then exit 0; fi\ntouch tried\nexit 1\n")
    (root / "flaky.sh").chmod(0o755)
    cluster = submit_dag(standin, dag)
    assert dag_result(standin, cluster) == ["4", "1"]
    jobs = node_jobs(standin, cluster)
    assert [exit for name, _, exit in jobs if name == "B"] == ["0", "1"]  # newest first
    assert [exit for name, _, exit in jobs if name == "C"] == ["7"]  # not retried
    assert "D" not in {name for name, _, _ in jobs}  # child of a failed node never runs
    rescue = (root / "wf.dag.rescue001").read_text()
    assert "DONE A" in rescue and "DONE B" in rescue and "DONE C" not in rescue
    out = (root / "wf.dag.dagman.out").read_text()
    assert "Retrying node B (retry #1 of 2)" in out
    assert "UNLESS-EXIT value 7" in out and "EXITING WITH STATUS 1" in out


def test_abort_dag_on_removes_running_nodes_and_returns_value(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B"], ['VARS A code="3"', 'VARS B sleep="600"',
                                      "ABORT-DAG-ON A 3 RETURN 2"])
    # A fails only once B runs (its output file exists), however slow the machine is.
    (root / "wait_b.sh").write_text(
        "#!/bin/sh\nfor i in $(seq 1200); do [ -e ../B/B.out ] && exit 3; sleep 0.1; done\nexit 3\n")
    (root / "wait_b.sh").chmod(0o755)
    (root / "A" / "A.job").write_text(
        "executable = wait_b.sh\ninitialdir = A\nqueue\n")
    cluster = submit_dag(standin, dag)
    assert dag_result(standin, cluster) == ["4", "2"]
    # As in HTCondor, DAGMan may exit before its removed node job has left the queue.
    assert standin.wait_until_empty(60)
    b = [line for line in standin.run("condor_history", "-constraint", f"DAGManJobId == {cluster}",
                                      "-af", "DAGNodeName", "JobStatus").stdout.splitlines()
         if line.startswith("B")]
    assert b == ["B 3"]


def test_noop_done_dir_and_pre_skip(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B", "C"], [
        "PARENT A CHILD B", "PARENT B CHILD C",
        "SCRIPT PRE C skip.sh", "PRE_SKIP C 5",
    ])
    text = (root / "wf.dag").read_text().replace("JOB A A/A.job", "JOB A A/A.job DONE")
    text = text.replace("JOB B B/B.job", "JOB B B/B.job NOOP")
    (root / "wf.dag").write_text(text + "JOB S s.job DIR sub\n")
    (root / "sub").mkdir()
    (root / "sub" / "s.sh").write_text("#!/bin/sh\npwd > where.txt\n")
    (root / "sub" / "s.sh").chmod(0o755)
    (root / "sub" / "s.job").write_text("executable = s.sh\nqueue\n")
    (root / "skip.sh").write_text("#!/bin/sh\nexit 5\n")
    (root / "skip.sh").chmod(0o755)
    cluster = submit_dag(standin, dag)
    assert dag_result(standin, cluster) == ["4", "0"]
    assert [name for name, _, _ in node_jobs(standin, cluster)] == ["S"]
    assert (root / "sub" / "where.txt").read_text().strip() == str(root / "sub")


def test_removing_the_dag_removes_its_node_jobs(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B"], ['VARS A sleep="600"', 'VARS B sleep="600"'])
    cluster = submit_dag(standin, dag)
    deadline = time.time() + 120
    while time.time() < deadline and len(trace(root)) < 2:
        time.sleep(0.05)
    assert len(trace(root)) >= 2, trace(root)  # both nodes started
    assert standin.run("condor_rm", str(cluster)).returncode == 0
    assert standin.run("condor_q", str(cluster), "-af", "JobStatus").stdout in ("3\n", "")
    assert dag_result(standin, cluster)[0] == "3"
    assert standin.wait_until_empty(60)
    statuses = standin.run("condor_history", "-constraint", f"DAGManJobId == {cluster}",
                           "-af", "JobStatus").stdout.split()
    assert statuses == ["3", "3"]
    assert not any(kind == "end" for _, kind, _ in trace(root))
    assert (root / "wf.dag.rescue001").exists()


def test_held_dagman_leaves_nodes_running_and_recovers_on_release(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B"], ["PARENT A CHILD B", 'VARS A sleep="1"'])
    cluster = submit_dag(standin, dag)
    deadline = time.time() + 120
    while time.time() < deadline and not trace(root):
        time.sleep(0.05)
    assert trace(root), "node A never started"
    standin.run("condor_hold", str(cluster))
    deadline = time.time() + 120
    while ("end", "A") not in [(kind, name) for _, kind, name in trace(root)]:
        assert time.time() < deadline, "node A did not finish while DAGMan was held"
        time.sleep(0.05)
    time.sleep(0.5)  # DAGMan would have submitted B by now, were it running
    names = [(kind, name) for _, kind, name in trace(root)]
    assert ("end", "A") in names and ("start", "B") not in names  # A finished; B waits
    standin.run("condor_release", str(cluster))
    assert dag_result(standin, cluster) == ["4", "0"]
    assert ("end", "B") in [(kind, name) for _, kind, name in trace(root)]
    assert "Running in recovery mode" in (root / "wf.dag.dagman.out").read_text()


def test_held_node_stalls_the_dag_until_released(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B"], ["PARENT A CHILD B"])
    (root / "A" / "A.job").write_text(
        "executable = node.sh\narguments = A 0.1\ninitialdir = A\nshould_transfer_files = YES\n"
        "transfer_input_files = input.txt\nlog = A.log\nqueue\n")
    cluster = submit_dag(standin, dag)
    deadline = time.time() + 120
    held = ""
    while time.time() < deadline and not held:
        held = standin.run("condor_q", "-constraint", f"DAGManJobId == {cluster} && JobStatus == 5",
                           "-af", "ClusterId").stdout.strip()
        time.sleep(0.05)
    assert held
    time.sleep(0.5)
    assert standin.run("condor_q", str(cluster), "-af", "JobStatus").stdout == "2\n"
    (root / "A" / "input.txt").write_text("x")
    standin.run("condor_release", held)
    assert dag_result(standin, cluster) == ["4", "0"]


def test_submit_dag_refuses_to_overwrite_without_force_and_bad_dags(standin, tmp_path):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A"], [])
    cluster = submit_dag(standin, dag)
    dag_result(standin, cluster)
    again = standin.run("condor_submit_dag", dag.name, cwd=root)
    assert again.returncode == 1 and '"wf.dag.condor.sub" already exists.' in again.stderr
    assert submit_dag(standin, dag, "-force") > cluster
    (root / "cycle.dag").write_text("JOB A A/A.job\nJOB B A/A.job\nPARENT A CHILD B\nPARENT B CHILD A\n")
    bad = standin.run("condor_submit_dag", "cycle.dag", cwd=root)
    assert bad.returncode == 1 and "cycle" in bad.stderr
    (root / "typo.dag").write_text("JOB A A/A.job\nPARENT A CHILD Z\n")
    assert "Unknown Job Z" in standin.run("condor_submit_dag", "typo.dag", cwd=root).stderr


def test_htcondor2_from_dag_output_runs_on_the_standin(standin, tmp_path, monkeypatch):
    """The bindings write the DAGMan submit description; the stand-in runs it."""
    root = tmp_path / "dag"
    dag = make_dag(root, ["A", "B"], ["PARENT A CHILD B"])
    monkeypatch.setenv("PATH", standin.path_env())
    submit = htcondor2.Submit.from_dag(str(dag), {"force": True, "maxjobs": 1})
    assert submit["executable"] == str(standin.bin / "condor_dagman")
    (root / "from_dag.sub").write_text(str(submit))
    result = standin.run("condor_submit", "from_dag.sub", cwd=root)
    cluster = int(result.stdout.rsplit("cluster ", 1)[1].split(".")[0])
    assert dag_result(standin, cluster) == ["4", "0"]
    assert os.path.exists(root / "wf.dag.dagman.out")


@pytest.mark.parametrize("missing", ["condor_dagman"])
def test_submit_dag_needs_condor_dagman(standin, tmp_path, missing):
    root = tmp_path / "dag"
    dag = make_dag(root, ["A"], [])
    (standin.bin / missing).rename(standin.bin / f"{missing}.off")
    result = standin.run("condor_submit_dag", dag.name, cwd=root)
    assert result.returncode == 1
    assert "Failed to locate condor_dagman executable in PATH" in result.stderr
