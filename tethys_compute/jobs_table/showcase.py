"""Tethys's Gizmo Showcase special case, kept so that app's demo page looks as in Tethys.

Tethys's jobs-table views hard-code what a job labelled ``gizmo_showcase`` shows: the
progress bar of its Various / Various-Complete rows (percentages by state) and, for a
workflow, a six-node demo graph. The showcase creates such jobs without any parts (a
``BasicJob`` or a node-less ``CondorWorkflow`` saved with ``_status="VAR"``), so without
this their rows would show no bar and no graph. Unlike Tethys, real data wins: a job of
that label that has nodes or per-part counts shows them.
"""

from __future__ import annotations

SHOWCASE_LABEL = "gizmo_showcase"

# Tethys's percentages; the remainder up to 100 is shown as waiting.
_WORKFLOW = {"Completed": 20, "Error": 20, "Running": 40, "Aborted": 0}
_VARIOUS = {"Completed": 40, "Error": 10, "Running": 30, "Aborted": 5}
_VARIOUS_COMPLETE = {"Completed": 80, "Error": 15, "Running": 0, "Aborted": 5}

# Tethys's demo DAG: (key, name, node state, parents).
_GRAPH = (
    ("a", "Job A", "Completed", ()),
    ("b", "Job B", "Error", ("a",)),
    ("c", "Job C", "Running", ("a",)),
    ("d", "Job D", "Submitted", ("a",)),
    ("e", "Job E", "Pending", ("c", "d")),
    ("f", "Job F", "Aborted", ("b",)),
)


def is_demo(job) -> bool:
    return getattr(job, "label", None) == SHOWCASE_LABEL


def demo_counts(job) -> dict[str, int] | None:
    """The demo bar's ``{state: percent}`` for a showcase job in Various or
    Various-Complete, else ``None``."""
    from .graph import is_workflow

    status = job.cached_status
    if not is_demo(job) or status not in ("Various", "Various-Complete"):
        return None
    if is_workflow(job):
        shares = _WORKFLOW
    else:
        shares = _VARIOUS_COMPLETE if status == "Various-Complete" else _VARIOUS
    counts = {state: share for state, share in shares.items() if share}
    rest = 100 - sum(counts.values())
    if rest > 0:
        counts["Unexpanded"] = rest
    return counts


def demo_graph(job) -> dict | None:
    """The demo graph (as :func:`.graph.workflow_graph` draws it) for a showcase
    workflow, else ``None``."""
    from .graph import is_workflow, state_group

    if not (is_demo(job) and is_workflow(job)):
        return None
    ids = {key: index for index, (key, *_rest) in enumerate(_GRAPH, start=1)}
    levels: dict[str, int] = {}
    nodes = []
    for key, name, state, parents in _GRAPH:
        levels[key] = max((levels[p] + 1 for p in parents), default=0)
        nodes.append({"id": ids[key], "name": name, "status": state,
                      "group": state_group(state), "level": levels[key],
                      "parents": [ids[p] for p in parents]})
    return {"nodes": nodes, "levels": max(levels.values()) + 1}
