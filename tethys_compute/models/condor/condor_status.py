"""How HTCondor's answers map to job, node and workflow statuses (no engine calls here).

Differences from Tethys 4.6 (see "Differences from Tethys" in the docs):

* Held is its own visible state, ``"Held"`` (an active custom status), refreshed until
  released; a hold asked for by a user (``pause()``, ``condor_hold``: HoldReasonCode 1)
  is ``Paused``.
* A job that completed with a non-zero exit code or was killed by a signal is ``Error``
  (HTCondor's DAGMan counts such a node as failed), with the exit in ``status_message``.
* Removed is ``Aborted``. Procs of one cluster in different states are ``Various`` while
  any is active and ``Various-Complete`` once all have finished.
* A DAG whose DAGMan job ended with a non-zero exit code (failed nodes) is ``Error``, not
  Complete; while DAGMan runs the workflow stays active, a held node included.
* When a DAG has ended, no node is left Idle, Running or Held: the nodes of a completed DAG
  are Completed, the active nodes of a removed or failed DAG are Removed.
"""

from __future__ import annotations

from ...engines.condor.queue import (
    COMPLETED,
    HELD,
    IDLE,
    REMOVED,
    RUNNING,
    SUSPENDED,
    TRANSFERRING_OUTPUT,
    USER_HOLD,
)

#: Display name of the custom status of held jobs.
HELD_STATUS = "Held"
#: Node status of a node whose job failed (DAGMan's STATUS_ERROR).
NODE_ERROR = "Error"
#: HTCondor's job statuses by condorpy's names (``condorpy.static.CONDOR_JOB_STATUSES``).
CONDORPY_NODE_STATUSES = ("Unexpanded", "Idle", "Running", "Removed", "Completed", "Held",
                          "Submission_err")
#: Statuses a node may have: condorpy's names, plus Various and Error.
NODE_STATUSES = (*CONDORPY_NODE_STATUSES, "Various", NODE_ERROR)
ACTIVE_NODE_STATUSES = ("Idle", "Running", "Held", "Various")

_ACTIVE = ("idle", "running", "paused", "held")


def proc_kind(proc) -> str:
    """``idle``, ``running``, ``paused`` (user hold), ``held``, ``removed``, ``ok`` or
    ``failed``."""
    status = proc.status
    if status in (RUNNING, TRANSFERRING_OUTPUT, SUSPENDED):
        return "running"
    if status == HELD:
        return "paused" if proc.hold_reason_code == USER_HOLD else "held"
    if status == REMOVED:
        return "removed"
    if status == COMPLETED:
        return "ok" if proc.succeeded else "failed"
    return "idle" if status in (IDLE, 0) else "running"


def _job_id(proc):
    return f"{proc.cluster}.{proc.proc}"


def _listed(items, limit=5):
    items = list(items)
    text = "; ".join(items[:limit])
    return text + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def job_outcome(procs) -> tuple[str, str | None]:
    """Status (code or ``"Held"``) and message of a cluster from its procs."""
    kinds = [proc_kind(p) for p in procs]
    unique = set(kinds)
    held = [p for p, k in zip(procs, kinds, strict=True) if k in ("held", "paused")]
    held_text = _listed(f"{_job_id(p)}: {p.hold_reason or 'no reason given'}" for p in held)
    if len(unique) == 1:
        kind = kinds[0]
        if kind == "idle":
            return "SUB", None
        if kind == "running":
            return "RUN", None
        if kind == "paused":
            return "PAS", f"Held by request: {held_text}"
        if kind == "held":
            return HELD_STATUS, f"Held by HTCondor: {held_text}"
        if kind == "removed":
            return "ABT", "Removed from the HTCondor queue."
        if kind == "ok":
            return "COM", None
        failures = _listed(f"{_job_id(p)} {p.describe_exit()}" for p in procs)
        return "ERR", f"HTCondor job {failures}."
    if unique & set(_ACTIVE):
        return "VAR", (f"Held: {held_text}" if held else None)
    ok = kinds.count("ok")
    others = _listed(f"{_job_id(p)} {p.describe_exit() if k == 'failed' else 'was removed'}"
                     for p, k in zip(procs, kinds, strict=True) if k != "ok")
    return "VCP", f"{ok} of {len(procs)} procs succeeded; {others}."


def node_status(procs) -> str:
    """A node's status (condorpy's names, or ``"Error"``) from its latest job's procs."""
    kinds = {proc_kind(p) for p in procs}
    if len(kinds) > 1:
        return "Various"
    kind = kinds.pop()
    return {"idle": "Idle", "running": "Running", "paused": "Held", "held": "Held",
            "removed": "Removed", "ok": "Completed", "failed": NODE_ERROR}[kind]


def workflow_outcome(dag, nodes: dict) -> tuple[str, str | None, dict]:
    """Status, message and settled node statuses of a workflow.

    :param dag: the DAGMan job's :class:`~tethys_compute.engines.condor.queue.ProcState`.
    :param nodes: node name -> current status (``"Unexpanded"`` when never seen).
    """
    kind = proc_kind(dag)
    settled = dict(nodes)
    held = sorted(name for name, status in nodes.items() if status == "Held")
    if kind == "idle":
        return "SUB", None, settled
    if kind == "running":
        if all(status == "Unexpanded" for status in nodes.values()):
            return "SUB", None, settled
        return "VAR", (f"Node(s) held: {', '.join(held)}" if held else None), settled
    if kind in ("paused", "held"):
        status = "PAS" if kind == "paused" else HELD_STATUS
        return status, f"DAGMan job held: {dag.hold_reason or 'no reason given'}", settled
    if kind == "ok":
        return "COM", None, {name: "Completed" for name in nodes}
    for name, status in nodes.items():
        if status in ACTIVE_NODE_STATUSES:
            settled[name] = "Removed"
    if kind == "removed":
        return "ABT", "The DAG was removed from the HTCondor queue.", settled
    failed = sorted(name for name, status in nodes.items() if status == NODE_ERROR)
    reason = dag.describe_exit().replace("exited with code", "exit code")
    detail = f"; failed node(s): {', '.join(failed)}" if failed else ""
    return "ERR", f"DAGMan ended with {reason}{detail}.", settled
