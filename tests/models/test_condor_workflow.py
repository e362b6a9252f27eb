"""CondorWorkflow on this machine's (stand-in) HTCondor: validation, DAG options, DAG
status as HTCondor implies it, cached node statuses, logs, terminate, deletion."""

import os
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from tests.htcondor_standin.scenarios import (
    FLAKY_SCRIPT,
    condor_workflow,
    fast,
    node_statuses,
    read_logs,
    wait_status,
)
from tethys_compute.models import (
    CondorPyWorkflow,
    CondorWorkflow,
    CondorWorkflowJobNode,
    CondorWorkflowNode,
    TethysJob,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings, standin):
    fast(settings)


def chain(n=3, **first):
    names = [chr(ord("A") + i) for i in range(n)]
    nodes = {}
    for i, name in enumerate(names):
        nodes[name] = {"parents": [names[i - 1]] if i else []}
    nodes[names[0]].update(first)
    return nodes


# --- validation -----------------------------------------------------------------------------------
def test_node_names_are_unique_within_a_workflow(user):
    workflow = condor_workflow(user, "wf", {"a node": {}})
    with pytest.raises(ValidationError, match='already has a node named "a node"'):
        CondorWorkflowJobNode(name="a_node", workflow=workflow, attributes={}).save()
    with pytest.raises(ValidationError, match="cannot name a DAG node"):
        CondorWorkflowJobNode(name="PARENT", workflow=workflow, attributes={}).save()
    with pytest.raises(ValidationError, match="needs a name"):
        CondorWorkflowJobNode(name=" ", workflow=workflow, attributes={}).save()
    other = condor_workflow(user, "other", {"a node": {}})  # same name, other workflow: fine
    assert other.node_set.count() == 1


def test_parents_must_be_in_the_same_workflow_and_acyclic(user):
    workflow = condor_workflow(user, "wf", chain(3))
    a, b, c = (workflow.get_job(n) for n in "ABC")
    with pytest.raises(ValidationError, match="cycle in the workflow: .*A -> B -> C -> A"):
        a.add_parent(c)
    with pytest.raises(ValidationError, match="cycle"), transaction.atomic():
        c.children_nodes.add(a)  # the reverse side of the relation is checked too
    with pytest.raises(ValidationError, match="cycle"), transaction.atomic():
        a.parent_nodes.add(c)  # and direct adds
    with pytest.raises(ValidationError, match="its own parent"):
        a.add_parent(a)
    other = condor_workflow(user, "other", {"X": {}})
    with pytest.raises(ValidationError, match="belongs to another workflow"):
        a.add_parent(other.get_job("X"))
    assert list(a.parents) == [] and [n.name for n in c.parents] == ["B"]


def test_a_workflow_without_nodes_ends_in_error(user):
    workflow = condor_workflow(user, "empty", {})
    workflow.execute()
    assert workflow.cached_status == "Error" and "has no nodes" in workflow.status_message


# --- running -----------------------------------------------------------------------------------------
def test_every_node_option_reaches_the_dag_file(user, standin):
    nodes = {
        "A": {"priority": 5, "category": "cat", "variables": {"msg": "hello there"},
              "pre_script": "pre.sh", "pre_script_args": "$JOB", "arguments": "$(msg)"},
        "B": {"parents": ["A"], "retry": 2, "retry_unless_exit_value": 7, "post_script": "post.sh",
              "post_script_args": "$JOB $RETURN", "abort_dag_on": 9, "abort_dag_on_return_value": 4},
        "C": {"parents": ["A"], "pre_skip": 3, "noop": True},
        "D": {"parents": ["A"], "done": True},
    }
    scripts = {"pre.sh": "#!/bin/sh\necho pre $1 >> scripts.txt\n",
               "post.sh": "#!/bin/sh\necho post $1 $2 >> scripts.txt\nexit $2\n"}
    workflow = condor_workflow(user, "options", nodes, max_jobs={"cat": 1}, scripts=scripts)
    workflow.execute()
    dag = open(os.path.join(workflow.workspace, "options.dag")).read().splitlines()
    for line in ("JOB C C/C.job NOOP", "JOB D D/D.job DONE", 'VARS A msg="hello there"',
                 "SCRIPT PRE A pre.sh $JOB", "SCRIPT POST B post.sh $JOB $RETURN", "PRE_SKIP C 3",
                 "RETRY B 2 UNLESS-EXIT 7", "ABORT-DAG-ON B 9 RETURN 4", "CATEGORY A cat",
                 "PRIORITY A 5", "PARENT A CHILD B C D", "MAXJOBS cat 1"):
        assert line in dag, line
    wait_status(workflow, "Complete")
    assert read_logs(workflow)["A"]["output"].startswith("out hello ")  # $(msg) from VARS
    with open(os.path.join(workflow.workspace, "scripts.txt")) as handle:
        assert handle.read() == "pre A\npost B 0\n"


def test_dag_runs_to_complete_with_node_statuses_cached(user, standin, tmp_path):
    # Node A runs until the test opens its gate, so the DAG is seen under way however
    # slowly the statuses are read (a 0.3 s node ended unseen on a loaded machine).
    gate = tmp_path / "gate"
    workflow = condor_workflow(
        user, "diamond", {
            "A": {"executable": "gated.sh"}, "B": {"parents": ["A"]}, "C": {"parents": ["A"]},
            "D": {"parents": ["B", "C"]}},
        scripts={"gated.sh": f"#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.05; done\n"})
    workflow.execute()
    assert workflow.cached_status == "Submitted" and workflow.cluster_id
    ads = standin.run("condor_q", str(workflow.cluster_id), "-af", "TethysJobId", "TethysJobToken").stdout.split()
    assert ads[0] == str(workflow.pk)
    assert TethysJob.id_from_status_report_token(ads[1]) == str(workflow.pk)
    seen = wait_status(workflow, "Various")
    assert node_statuses(workflow)["A"] in ("Idle", "Running")
    gate.touch()
    seen += wait_status(workflow, "Complete")
    assert "Various-Complete" not in seen
    assert node_statuses(workflow) == dict.fromkeys("ABCD", "Completed")
    assert {k: v for k, v in workflow.cached_node_statuses.items() if v} == {"Completed": 4}
    assert workflow.node_statuses_are_current and workflow.num_jobs == 4
    logs = read_logs(workflow)
    assert "All jobs Completed!" in logs["workflow"]["out"]
    assert logs["D"]["output"].startswith("out D ") and logs["B"]["error"] == "err B\n"
    assert "Job terminated." in logs["A"]["log"]


def test_failed_node_with_retry_that_succeeds_is_complete(user):
    workflow = condor_workflow(
        user, "retry", {"A": {"executable": "flaky.sh", "retry": 2}, "B": {"parents": ["A"]}},
        scripts={"flaky.sh": FLAKY_SCRIPT})
    workflow.execute()
    wait_status(workflow, "Complete")
    assert node_statuses(workflow) == {"A": "Completed", "B": "Completed"}
    output = read_logs(workflow)["A"]["output"]  # the newest attempt's output
    assert output == "second try A\n"


def test_failed_node_ends_the_dag_in_error_not_complete(user):
    workflow = condor_workflow(user, "fails", {
        "A": {}, "B": {"parents": ["A"], "arguments": "B 0.1 7", "retry": 3,
                       "retry_unless_exit_value": 7},
        "C": {"parents": ["B"]}, "D": {"parents": ["A"], "arguments": "D 0.5"}})
    workflow.execute()
    wait_status(workflow, "Error")
    assert workflow.status_message == "DAGMan ended with exit code 1; failed node(s): B."
    assert node_statuses(workflow) == {"A": "Completed", "B": "Error", "C": "Unexpanded",
                                       "D": "Completed"}
    out = read_logs(workflow)["workflow"]["out"]
    assert "UNLESS-EXIT value 7" in out  # not retried


def test_held_node_keeps_the_workflow_active_until_released(user, standin):
    workflow = condor_workflow(user, "held", {
        "A": {"attributes": {"should_transfer_files": "YES", "transfer_input_files": "../input.txt"}},
        "B": {"parents": ["A"]}})
    workflow.execute()
    deadline = time.time() + 20
    while node_statuses(workflow).get("A") != "Held" and time.time() < deadline:
        workflow.status  # noqa: B018
        time.sleep(0.05)
    assert workflow.cached_status == "Various"
    assert workflow.status_message == "Node(s) held: A"
    assert workflow.completion_time is None and not workflow.is_terminal
    time.sleep(0.3)
    assert workflow.status == "Various"  # DAGMan waits; HTCondor implies: still running
    with open(os.path.join(workflow.workspace, "input.txt"), "w") as handle:
        handle.write("x")
    held = standin.run("condor_q", "-constraint", f"DAGManJobId == {workflow.cluster_id}",
                       "-af", "ClusterId").stdout.strip()
    standin.run("condor_release", held)
    wait_status(workflow, "Complete")
    assert node_statuses(workflow) == {"A": "Completed", "B": "Completed"}


def test_terminate_mid_run_settles_every_node(user, standin):
    workflow = condor_workflow(user, "stopme", {
        "A": {"arguments": "A 30"}, "B": {"arguments": "B 30"}, "C": {"parents": ["A"]}})
    workflow.execute()
    deadline = time.time() + 20
    while time.time() < deadline and [node_statuses(workflow)[n] for n in "AB"] != ["Running"] * 2:
        workflow.status  # noqa: B018
        time.sleep(0.05)
    workflow.stop()
    assert workflow.cached_status == "Aborted"
    assert node_statuses(workflow) == {"A": "Removed", "B": "Removed", "C": "Unexpanded"}
    assert standin.wait_until_empty(60)
    states = standin.run("condor_history", "-constraint", f"DAGManJobId == {workflow.cluster_id}",
                         "-af", "JobStatus").stdout.split()
    assert states == ["3", "3"]


def test_stale_node_snapshot_after_the_dag_ended_is_settled(user):
    workflow = condor_workflow(user, "stale", chain(2))
    workflow.execute()
    wait_status(workflow, "Complete")
    CondorWorkflowNode.objects.filter(workflow=workflow).update(cached_node_status="Running")
    assert workflow.apply_node_statuses({"A": "Running"}) == {}  # finished: late reports ignored
    assert set(node_statuses(workflow).values()) == {"Running"}
    workflow._refresh_now()  # terminal: nothing to ask
    workflow._outcome(workflow._engine().query(*workflow._query_ids()))
    assert node_statuses(workflow) == {"A": "Completed", "B": "Completed"}


def test_apply_node_statuses_as_tethys(user):
    workflow = condor_workflow(user, "reports", {"node one": {}, "B": {}})
    applied = workflow.apply_node_statuses({"node_one": "Running", "B": "Bogus", "Z": "Idle"})
    assert applied == {"node one": "Running"}
    assert node_statuses(workflow) == {"node one": "Running", "B": None}
    assert workflow.node_statuses_are_current
    assert {k: v for k, v in workflow.cached_node_statuses.items() if v} == {
        "Running": 1, "Unexpanded": 1}
    assert workflow.apply_node_statuses("not a dict") == {}


def test_pause_and_resume_hold_and_release_dagman(user, tmp_path):
    # Node A runs until the test opens its gate, so DAGMan is still in the queue when it
    # is paused however slowly the statuses are read (a 1 s node was missed under load).
    gate = tmp_path / "gate"
    workflow = condor_workflow(
        user, "pausable", {"A": {"executable": "gated.sh"}, "B": {"parents": ["A"]}},
        scripts={"gated.sh": f"#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.05; done\n"})
    workflow.execute()
    wait_status(workflow, "Various")
    workflow.pause()
    assert workflow.cached_status == "Paused"
    gate.touch()  # A may end now; DAGMan is held, so it submits no new node
    time.sleep(1.5)
    assert node_statuses(workflow)["B"] == "Unexpanded"  # DAGMan is held: no new node
    workflow.resume()
    wait_status(workflow, "Complete")


def test_resubmit_runs_the_whole_dag_again(user):
    workflow = condor_workflow(user, "again", chain(2))
    workflow.execute()
    wait_status(workflow, "Complete")
    first = workflow.cluster_id
    workflow.resubmit()
    assert workflow.cluster_id > first and workflow.cached_status == "Submitted"
    assert set(node_statuses(workflow).values()) == {None}
    wait_status(workflow, "Complete")


def test_delete_stops_the_dag_and_removes_only_its_own_directory(user, standin, django_capture_on_commit_callbacks):
    keep = condor_workflow(user, "keep", {"A": {}})
    workflow = condor_workflow(user, "doomed", {"A": {"arguments": "A 30"}})
    workflow.execute()
    wait_status(workflow, "Various")
    directory, pyworkflow = workflow.workspace, workflow.condorpyworkflow_ptr_id
    cluster = workflow.cluster_id
    with django_capture_on_commit_callbacks(execute=True):
        TethysJob.objects.filter(pk=workflow.pk).delete()
    assert not os.path.exists(directory) and os.path.exists(keep.workspace)
    assert not CondorPyWorkflow.objects.filter(pk=pyworkflow).exists()
    assert not CondorWorkflowNode.objects.filter(workflow_id=pyworkflow).exists()
    assert standin.wait_until_empty(60)
    assert standin.run("condor_history", str(cluster), "-af", "JobStatus").stdout == "3\n"
    assert CondorWorkflow.objects.filter(pk=keep.pk).exists()
