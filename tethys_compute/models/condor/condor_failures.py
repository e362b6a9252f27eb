"""Failed HTCondor runs on the status path: classify, retry, escalate (issue 15).

After each refresh of a ``CondorJob`` or ``CondorWorkflow`` (``CondorBase._update_status``):

* a run that completed with an error (a non-zero exit, a signal; a DAG whose nodes
  failed) is classified (``exit``) and handed to ``job.run_failed``: the retry policy
  retries it when the job asks for it (``retry_on`` with ``exit``), else it ends in Error
  as before, now with its kind and reason stored;
* a held run (the job's cluster, the DAGMan job, or a node of the DAG) whose kind the
  job's policy retries, with attempts left, is removed from the queue (``condor_rm``) and
  handed to ``job.run_failed``, which schedules the next attempt. A ``memory`` failure
  first raises the next attempt's ``request_memory`` (:mod:`tethys_compute.escalation`).
  Any other hold stays Held, as before, its message saying what HTCondor's code means;
* an evicted job (HTCondor puts it back to Idle and runs it again by itself) says so in
  its status message.

The classification is :mod:`tethys_compute.engines.condor.holds` (HTCondor's codes).
"""

from __future__ import annotations

import logging

from ... import failure_kinds as fk
from . import condor_status as cs

logger = logging.getLogger("tethys_compute.condor")


def _will_retry(job, failure) -> bool:
    return failure.kind in job.retryable_kinds and job.run_number < job.attempts_allowed


def _held_failures(procs, label=""):
    from ...engines.condor.holds import proc_failure

    found = []
    for proc in procs:
        if cs.proc_kind(proc) != "held":
            continue
        failure = proc_failure(proc)
        if failure is not None:
            found.append((failure, proc, label))
    return found


def _named(failure, label):
    if not label:
        return failure
    return fk.Failure(failure.kind, f"{label} {failure.message}",
                      {**failure.details, "node": label.removeprefix("node ")})


def find_failure(job, snapshot, status):
    """``(failure, proc, node name or None)`` of the refreshed run, or ``None``."""
    from ...engines.condor.holds import exit_failure, proc_failure

    workflow = hasattr(job, "node_set")
    if status == cs.HELD_STATUS:  # the job's own procs, or the DAGMan job, are held
        procs = snapshot.cluster(job.cluster_id)
        held = _held_failures(procs)
        return held[0] if held else None
    if workflow and status == "VAR":
        for name, procs in sorted(snapshot.dag_nodes(job.cluster_id).items()):
            held = _held_failures(procs, f"node {name}")
            if held:
                return held[0]
        return None
    if status != "ERR":
        return None
    if workflow:
        dag = snapshot.cluster(job.cluster_id)
        failed = sorted(name for name, procs in snapshot.dag_nodes(job.cluster_id).items()
                        if any(cs.proc_kind(p) == "failed" for p in procs))
        details = {}
        if dag:
            base = exit_failure(dag[0].exit_code, dag[0].exit_by_signal, dag[0].exit_signal)
            details = dict(base.details) if base else {}
        if failed:
            details["failed_nodes"] = failed
        return fk.Failure(fk.EXIT, "", details), (dag[0] if dag else None), None
    procs = [p for p in snapshot.cluster(job.cluster_id) if cs.proc_kind(p) == "failed"]
    if not procs:
        return None
    return proc_failure(procs[0]), procs[0], None


def settle(job, engine, snapshot, status, message):
    """Apply the failure rules to a refreshed run.

    :returns: ``None`` when ``job.run_failed`` recorded the failure (it wrote the status),
        else the ``(status, message)`` to report.
    """
    from ...engines.condor.holds import eviction

    found = find_failure(job, snapshot, status)
    if found is None:
        if status in ("SUB", "RUN"):
            procs = snapshot.cluster(job.cluster_id)
            evicted = eviction(procs[0].ad) if procs and not hasattr(job, "node_set") else None
            if evicted is not None and status == "SUB":
                return status, f"Waiting to run again: {evicted.message}."
            if evicted is not None:
                return status, f"Running again: {evicted.message}."
        return status, message
    failure, proc, label = found
    failure = _named(failure, label)
    if status == "ERR":
        failure = fk.Failure(failure.kind, message or failure.message, failure.details)
        if engine.remote and job.remote_id:
            failure = fk.Failure(failure.kind, job._sync_after_failure(engine, failure.message),
                                 failure.details)
        if job.run_failed(failure):
            return None
        return status, message
    if _will_retry(job, failure):
        if failure.kind == fk.MEMORY:
            failure = escalate(job, failure, label)
        _remove(job, engine)
        if job.run_failed(failure):
            return None
        return status, message
    if status == cs.HELD_STATUS and proc is not None:
        return status, f"Held by HTCondor: {proc.cluster}.{proc.proc} {failure.message}: " \
                       f"{proc.hold_reason or 'no reason given'}"
    return status, message


def _remove(job, engine):
    """Take the held run out of the queue (``condor_rm``): its retry is a new run."""
    from ...engines.condor import REMOVE, NotInQueue

    try:
        engine.act(REMOVE, [job.cluster_id])
    except NotInQueue:
        pass


def escalate(job, failure, label=""):
    """Raise ``request_memory`` of the job (or of the held node) for its next attempt and
    say so in the failure's message (which goes into the status history)."""
    from ...escalation import next_memory_mb

    details = failure.details
    target = job
    if label:
        target = job.node_set.filter(name=label.removeprefix("node ")).select_subclasses().first()
        if target is None:
            return failure
    requested = details.get("memory_requested_mb")
    if requested is None:
        requested = _number(target.attributes.get("request_memory"))
    scheduler = getattr(job, "scheduler", None)
    limit = getattr(scheduler, "max_request_memory", None)
    new = next_memory_mb(requested, details.get("memory_used_mb"), limits=(limit,))
    if new is None:
        return failure
    attributes = dict(target.attributes)
    attributes["request_memory"] = str(new)
    target.attributes = attributes
    target.save(update_fields=["_attributes"])
    logger.info("Job %s: next attempt asks for %s MB (was %s MB)", job.pk, new, requested)
    return fk.Failure(failure.kind,
                      f"{failure.message}; the next attempt asks for {new} MB",
                      {**details, "next_request_memory_mb": new})


def _number(value):
    try:
        return float(str(value).split()[0])
    except (TypeError, ValueError, IndexError):
        return None
