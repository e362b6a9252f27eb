"""Workflow graphs and per-node progress bars, from cached node statuses."""

import pytest

from tethys_compute.jobs_table import graph
from tethys_compute.jobs_table.graph import _levels

pytestmark = pytest.mark.django_db


def test_levels_by_longest_chain_of_parents():
    parents = {1: [], 2: [1], 3: [1], 4: [2, 3], 5: [1, 4], 6: []}
    assert _levels(parents) == {1: 0, 2: 1, 3: 1, 4: 2, 5: 3, 6: 0}


def test_levels_of_a_long_chain_need_no_recursion():
    parents = {i: ([i - 1] if i else []) for i in range(5000)}
    assert _levels(parents)[4999] == 4999


def test_cycles_do_not_hang():
    levels = _levels({1: [], 2: [1, 3], 3: [2]})
    assert levels[1] == 0 and levels[2] >= 1 and levels[3] >= 1


def test_workflow_graph_from_cached_node_statuses(workflow, django_assert_num_queries):
    with django_assert_num_queries(2):
        graph.prefetch_nodes([workflow])
    with django_assert_num_queries(0):
        drawn = graph.workflow_graph(workflow)
        counts = graph.status_counts(workflow)
    by_name = {node["name"]: node for node in drawn["nodes"]}
    assert drawn["levels"] == 3
    assert {name: (n["level"], n["group"]) for name, n in by_name.items()} == {
        "prep": (0, "complete"), "a": (1, "running"), "b<script>": (1, "held"),
        "join": (2, "pending")}
    assert by_name["join"]["status"] == "Unexpanded"
    assert sorted(by_name["join"]["parents"]) == sorted(
        [by_name["a"]["id"], by_name["b<script>"]["id"]])
    assert counts == {"Completed": 1, "Running": 1, "Held": 1, "Unexpanded": 1}


def test_segments_name_every_condor_state():
    bar = graph.segments({"Completed": 2, "Running": 1, "Held": 1, "Removed": 1,
                          "Submission_err": 1, "Idle": 2})
    assert [(s["key"], s["count"], s["percent"]) for s in bar] == [
        ("complete", 2, "25.00"), ("running", 1, "12.50"), ("held", 1, "12.50"),
        ("error", 1, "12.50"), ("aborted", 1, "12.50"), ("pending", 2, "25.00")]
    assert graph.segments({}) == [] and graph.segments(None) == []


def test_multi_proc_counts_from_the_engines_cache(make_job):
    job = make_job(status="VAR")
    assert graph.status_counts(job) is None
    job.cached_statuses = {"Running": 2, "Completed": 1, "Idle": 0}
    assert graph.status_counts(job) == {"Running": 2, "Completed": 1}
    assert graph.workflow_graph(job) is None


def test_segment_widths_are_whole_percents_summing_to_100():
    """The widths the stylesheet's tc-w-N classes draw (no inline style under a strict CSP)."""
    bar = graph.segments({"Completed": 2, "Running": 1, "Idle": 1})
    assert [s["width"] for s in bar] == [50, 25, 25]
    thirds = graph.segments({"Completed": 1, "Running": 1, "Idle": 1})
    assert sorted(s["width"] for s in thirds) == [33, 33, 34]
    tiny = graph.segments({"Completed": 997, "Running": 1, "Held": 1, "Idle": 1})
    assert [s["width"] for s in tiny] == [97, 1, 1, 1]
    for counts in ({"Completed": 3, "Running": 7}, {"Idle": 1}, {"Completed": 1, "Held": 2,
                   "Running": 5, "Idle": 11, "Removed": 13, "Submission_err": 17}):
        widths = [s["width"] for s in graph.segments(counts)]
        assert sum(widths) == 100 and min(widths) >= 1
