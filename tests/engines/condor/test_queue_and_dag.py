"""Queue snapshots (parsing condor_q/condor_history output) and the DAG file writer."""

import json

import condorpy
import pytest

from tests.htcondor_standin.dag_file import parse_dag
from tethys_compute.engines.condor.condorpy_objects import TransportJob, TransportWorkflow
from tethys_compute.engines.condor.dag import dag_text
from tethys_compute.engines.condor.queue import constraint, merge, parse_json


def ads(*values):
    """condor_q -json output (as HTCondor prints it: a JSON array of ads)."""
    return json.dumps(list(values), indent=2) + "\n"


def test_parse_json_reads_every_attribute_and_free_text_whole():
    text = ads(
        {"ClusterId": 5, "ProcId": 0, "JobStatus": 4, "ExitCode": 3, "ExitBySignal": False},
        {"ClusterId": 5, "ProcId": 1, "JobStatus": 5, "HoldReasonCode": 13,
         "HoldReason": 'Transfer input files failure\twith a tab\nand "a second line"'},
        {"ClusterId": 6, "ProcId": 0, "JobStatus": 4, "ExitBySignal": True, "ExitSignal": 9,
         "SomeNewAttribute": "ignored", "DAGNodeName": None},
        {"ClusterId": 7, "JobStatus": 1},  # no ProcId: not a job ad
    )
    states = parse_json(text, in_queue=False)
    assert [(s.cluster, s.proc, s.status) for s in states] == [(5, 0, 4), (5, 1, 5), (6, 0, 4)]
    assert states[0].failed and states[0].describe_exit() == "exited with code 3"
    assert states[1].hold_reason == 'Transfer input files failure\twith a tab\nand "a second line"'
    assert states[1].hold_reason_code == 13
    assert states[2].exit_by_signal and states[2].describe_exit() == "was killed by signal 9"
    assert states[2].node_name is None and not states[2].in_queue


def test_parse_json_empty_output_expressions_and_garbage():
    assert parse_json("", in_queue=True) == []  # HTCondor prints nothing when nothing matched
    (state,) = parse_json(ads({"ClusterId": 1, "ProcId": 0, "JobStatus": 5,
                               "HoldReason": "/Expr(strcat(\"a\", \"b\"))/",
                               "ExitCode": "/Expr(1 + 1)/"}), in_queue=True)
    assert state.hold_reason is None and state.exit_code is None
    for bad in ("1 2 3 4", '{"ClusterId": 1}', "[1, 2]"):
        with pytest.raises(ValueError):
            parse_json(bad, in_queue=True)


def test_history_wins_and_dag_nodes_use_their_latest_job():
    queued = parse_json(ads(
        {"ClusterId": 10, "ProcId": 0, "JobStatus": 2},
        {"ClusterId": 12, "ProcId": 0, "JobStatus": 2, "DAGManJobId": 10, "DAGNodeName": "B"},
    ), True)
    history = parse_json(ads(
        {"ClusterId": 11, "ProcId": 0, "JobStatus": 4, "ExitCode": 1, "DAGManJobId": 10,
         "DAGNodeName": "B"},
        {"ClusterId": 13, "ProcId": 0, "JobStatus": 4, "ExitCode": 0, "DAGManJobId": 10,
         "DAGNodeName": "A"},
        {"ClusterId": 12, "ProcId": 0, "JobStatus": 4, "ExitCode": 0, "DAGManJobId": 10,
         "DAGNodeName": "B"},
    ), False)
    snapshot = merge(queued, history)
    assert snapshot.cluster(12)[0].status == 4  # left the queue between the two calls
    nodes = snapshot.dag_nodes(10)
    assert {name: procs[0].cluster for name, procs in nodes.items()} == {"A": 13, "B": 12}
    assert snapshot.cluster(99) == []


def test_constraint_selects_clusters_and_dag_nodes():
    assert constraint([3, 1, 3], [7]) == "member(ClusterId, {1, 3}) || member(DAGManJobId, {7})"
    assert constraint() == "false"


def _selected(expression, queue):
    """ClusterIds of ``queue`` the constraint selects, evaluated by the stand-in's ClassAd
    evaluator (checked against HTCondor's classad2 in tests/htcondor_standin)."""
    from tests.htcondor_standin.classads import compile_constraint

    matches = compile_constraint(expression)
    return {cluster for cluster in queue if matches({"ClusterId": cluster, "ProcId": 0})}


def test_constraint_of_a_large_batch_uses_ranges_and_stays_short():
    """The monitor's condor_q for 3,333 jobs (issue 17): runs of ClusterIds become
    ranges, so the constraint a schedd evaluates against every queued ad (and the
    command line) does not grow with the batch when the ids are mostly consecutive."""
    ids = [i for i in range(1000, 4400) if i % 50]  # finished jobs leave gaps
    exact = constraint(ids)
    assert len(exact) < len(", ".join(map(str, ids))) / 5, len(exact)  # a list: 16,660
    assert exact.count("ClusterId >=") == 68
    assert _selected(exact, range(900, 4500)) == set(ids)
    bridged = constraint(ids, slack=0.1)
    assert bridged == "(ClusterId >= 1001 && ClusterId <= 4399)"
    assert set(ids) <= _selected(bridged, range(900, 4500))


@pytest.mark.parametrize("seed", range(5))
def test_constraint_selects_the_ids_and_at_most_slack_more(seed):
    import random

    rng = random.Random(seed)
    ids = sorted(rng.sample(range(1, 3000), rng.randint(1, 600)))
    queue = range(0, 3100)
    assert _selected(constraint(ids), queue) == set(ids)
    chosen = _selected(constraint(ids, slack=0.1), queue)
    assert set(ids) <= chosen and len(chosen - set(ids)) <= 0.1 * len(ids)


def _node(name, **options):
    job = TransportJob(name, attributes={"executable": "run.sh", "initialdir": name})
    return condorpy.Node(job, **options)


def test_dag_file_has_every_node_option_in_dagman_syntax():
    a = _node("A", pre_script="pre.sh", pre_script_args="$JOB 1", pre_skip=3, priority=5,
              category="fast", variables={"msg": 'say "hi" \\ bye', "n": 2})
    b = _node("B", retry=3, retry_unless_exit_value=7, abort_dag_on=9,
              abort_dag_on_return_value=2, post_script="post.sh", dir="sub", noop=True)
    c = _node("C", done=True, retry=1)
    b.add_parent(a)
    c.add_parent(a)
    workflow = TransportWorkflow("flow", config="dagman.config", max_jobs={"fast": 2})
    for node in (a, b, c):
        workflow.add_node(node)
    text = dag_text(workflow)
    assert text.splitlines() == [
        "CONFIG dagman.config",
        "JOB A A/A.job",
        "JOB B B/B.job DIR sub NOOP",
        "JOB C C/C.job DONE",
        'VARS A msg="say \\"hi\\" \\\\ bye" n="2"',
        "SCRIPT PRE A pre.sh $JOB 1",
        "PRE_SKIP A 3",
        "CATEGORY A fast",
        "PRIORITY A 5",
        "SCRIPT POST B post.sh",
        "RETRY B 3 UNLESS-EXIT 7",
        "ABORT-DAG-ON B 9 RETURN 2",
        "RETRY C 1",
        "PARENT A CHILD B C",
        "MAXJOBS fast 2",
    ]


def test_dag_file_is_read_back_by_dagman(tmp_path):
    """The stand-in's DAGMan parser (HTCondor's syntax) reads what the writer wrote."""
    a = _node("A", variables={"msg": 'say "hi"'}, retry=2, retry_unless_exit_value=4)
    b = _node("B", abort_dag_on=1, abort_dag_on_return_value=3, dir="d", pre_skip=2,
              pre_script="p.sh")
    b.add_parent(a)
    workflow = TransportWorkflow("flow", config=None, max_jobs={})
    workflow.add_node(a)
    workflow.add_node(b)
    (tmp_path / "flow.dag").write_text(dag_text(workflow))
    dag = parse_dag(tmp_path / "flow.dag")
    assert dag.nodes["A"].vars == {"msg": 'say "hi"'}
    assert (dag.nodes["A"].retry, dag.nodes["A"].retry_unless_exit) == (2, 4)
    assert (dag.nodes["B"].abort_on, dag.nodes["B"].abort_return) == (1, 3)
    assert dag.nodes["B"].dir == "d" and dag.nodes["B"].pre_skip == 2
    assert dag.nodes["B"].parents == {"A"}
