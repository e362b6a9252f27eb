"""Per-node states of a job, as the jobs table shows them: the counts behind the
Various / Various-Complete progress bar and the workflow graph (nodes by dependency
level, coloured by status). Read from the database only (``cached_node_status`` of each
node of a ``CondorWorkflow``); nothing here contacts HTCondor.
"""

from __future__ import annotations

from django.db.models import Prefetch

# HTCondor node/proc states (and a few of our own words) -> bar segment / colour class.
STATE_GROUP = {
    "completed": "complete", "complete": "complete", "done": "complete",
    "running": "running", "various": "running", "transferring_output": "running",
    "postrun": "running", "prerun": "running",
    "idle": "pending", "unexpanded": "pending", "submitted": "pending",
    "pending": "pending", "ready": "pending", "not_ready": "pending",
    "held": "held", "suspended": "held", "paused": "held",
    "error": "error", "failed": "error", "submission_err": "error", "futile": "error",
    "removed": "aborted", "aborted": "aborted",
}

# Order and labels of the bar's segments.
GROUPS = (
    ("complete", "Complete", "bg-success"),
    ("running", "Running", "bg-info progress-bar-striped progress-bar-animated"),
    ("held", "Held", "bg-warning"),
    ("error", "Error", "bg-danger"),
    ("aborted", "Aborted", "bg-dark"),
    ("pending", "Waiting", "bg-secondary"),
)


def state_group(state) -> str:
    return STATE_GROUP.get(str(state or "Unexpanded").strip().lower(), "pending")


def is_workflow(job) -> bool:
    from ..models import CondorWorkflow

    return isinstance(job, CondorWorkflow)


def prefetch_nodes(jobs, parents: bool = True) -> None:
    """Load the nodes of every workflow in ``jobs`` in one query, and their parents in a
    second when ``parents`` (only :func:`workflow_graph` reads them: a table without
    ``show_detailed_status`` needs the nodes' statuses alone). Nothing is loaded when
    ``jobs`` holds no workflow."""
    from django.db.models import prefetch_related_objects

    from ..models import CondorWorkflowNode

    workflows = [job for job in jobs if is_workflow(job)]
    if workflows:
        nodes = CondorWorkflowNode.objects.order_by("pk")
        if parents:
            nodes = nodes.prefetch_related(
                Prefetch("parent_nodes", queryset=CondorWorkflowNode.objects.only("pk")))
        prefetch_related_objects(workflows, Prefetch("node_set", queryset=nodes))


def _nodes(job):
    return list(job.node_set.all()) if is_workflow(job) and job.pk else []


def status_counts(job) -> dict[str, int] | None:
    """``{state: count}`` of a job's parts: a workflow's nodes, or the ``cached_statuses``
    dict an engine keeps for a multi-proc job; for a Gizmo Showcase demo job without
    either, Tethys's demo percentages (:mod:`.showcase`); ``None`` when there is none."""
    from . import showcase

    if is_workflow(job):
        counts: dict[str, int] = {}
        for node in _nodes(job):
            state = node.cached_node_status or "Unexpanded"
            counts[state] = counts.get(state, 0) + 1
        return counts or showcase.demo_counts(job)
    stored = getattr(job, "cached_statuses", None)
    if isinstance(stored, dict):
        stored = {str(k): int(v) for k, v in stored.items() if isinstance(v, int) and v > 0}
    else:
        stored = None
    return stored or showcase.demo_counts(job)


def segments(counts: dict[str, int] | None) -> list[dict]:
    """The stacked progress bar of ``counts``: one segment per non-empty group with
    ``label``, ``count``, ``percent`` (a string with a dot), ``width`` (whole percent,
    at least 1, the widths summing to 100: the ``tc-w-<width>`` class of the stylesheet,
    as a strict Content Security Policy allows no inline ``style=``) and ``css``."""
    if not counts:
        return []
    grouped: dict[str, int] = {}
    for state, count in counts.items():
        group = state_group(state)
        grouped[group] = grouped.get(group, 0) + count
    total = sum(grouped.values())
    if not total:
        return []
    shown = [(key, label, css) for key, label, css in GROUPS if grouped.get(key)]
    widths = whole_percents([grouped[key] for key, _label, _css in shown])
    return [
        {
            "key": key,
            "label": label,
            "count": grouped[key],
            "percent": f"{100 * grouped[key] / total:.2f}",
            "width": width,
            "css": css,
        }
        for (key, label, css), width in zip(shown, widths, strict=True)
    ]


def whole_percents(counts: list[int]) -> list[int]:
    """Whole percentages of positive ``counts`` that sum to 100, each at least 1 (largest
    remainders get the points rounding down left over)."""
    total = sum(counts)
    exact = [100 * count / total for count in counts]
    widths = [max(1, int(value)) for value in exact]
    while sum(widths) < 100:
        i = max(range(len(widths)), key=lambda j: exact[j] - widths[j])
        widths[i] += 1
    while sum(widths) > 100:
        i = max((j for j in range(len(widths)) if widths[j] > 1),
                key=lambda j: widths[j] - exact[j])
        widths[i] -= 1
    return widths


def workflow_graph(job) -> dict | None:
    """The DAG of a workflow for drawing: ``{"nodes": [{"id", "name", "status",
    "group", "level", "parents"}], "levels": n}``, where ``level`` is the length of the
    longest chain of parents above the node (roots are level 0). ``None`` for other
    jobs or a workflow without nodes (Tethys's demo graph for a Gizmo Showcase demo
    workflow without nodes, :mod:`.showcase`)."""
    nodes = _nodes(job)
    if not nodes:
        from . import showcase

        return showcase.demo_graph(job)
    known = {node.pk for node in nodes}
    parents = {
        node.pk: [p.pk for p in node.parent_nodes.all() if p.pk in known] for node in nodes
    }
    levels = _levels(parents)
    drawn = []
    for node in nodes:
        state = node.cached_node_status or "Unexpanded"
        drawn.append({
            "id": node.pk,
            "name": node.name,
            "status": state,
            "group": state_group(state),
            "level": levels[node.pk],
            "parents": parents[node.pk],
        })
    return {"nodes": drawn, "levels": max(levels.values()) + 1}


def _levels(parents: dict[int, list[int]]) -> dict[int, int]:
    """Longest-path level of each node (Kahn's order, no recursion). Nodes on a cycle
    (which the engine refuses at save) are placed after the last level."""
    children: dict[int, list[int]] = {pk: [] for pk in parents}
    waiting = {pk: len(ps) for pk, ps in parents.items()}
    for pk, ps in parents.items():
        for parent in ps:
            children[parent].append(pk)
    levels = {pk: 0 for pk, count in waiting.items() if count == 0}
    ready = list(levels)
    while ready:
        pk = ready.pop()
        for child in children[pk]:
            levels[child] = max(levels.get(child, 0), levels[pk] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    last = max(levels.values(), default=-1) + 1
    for pk in parents:
        levels.setdefault(pk, last)
    return levels
