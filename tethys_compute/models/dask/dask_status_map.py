"""How Dask task states become job statuses.

Every state has a defined status (Tethys leaves cancelled, error and lost unmapped and
sends ``waiting-processing`` to Results-Ready):

=================================  ==================  ======================================
Dask state                          job status           notes
=================================  ==================  ======================================
released, waiting, queued           Running              accepted by the cluster, not started
                                                         (``released`` while held: about to
                                                         be scheduled again)
no-worker                           Running              no worker can run it yet; said in
                                                         ``status_message``
processing                          Running
memory (Future: finished)           Results-Ready        results are gathered at once, then
                                                         Complete (or Error if that fails)
erred (Future: error)               Error                the exception text is the reason
cancelled (plugin report)           Aborted
lost (Future)                       Running              data lost with a worker; the held
                                                         task is computed again
forgotten / unknown key (``None``)  (missing)            unknown to the engine: the status is
                                                         kept, with the reason, until the key
                                                         has been unknown for
                                                         ``LOST_JOB_GRACE`` seconds; then Error
=================================  ==================  ======================================

A job is Running, not Submitted, as soon as ``execute()`` handed its task to the cluster
(Tethys's intent; Tethys 4.6 ends Submitted because its base class overwrites it).
"""

from __future__ import annotations

from ... import status as st

#: Marker for "the scheduler does not know the key".
MISSING = "missing"

#: Scheduler task state -> job status code (or MISSING).
TASK_STATE_STATUS = {
    "released": st.RUNNING,
    "waiting": st.RUNNING,
    "queued": st.RUNNING,
    "no-worker": st.RUNNING,
    "processing": st.RUNNING,
    "memory": st.RESULTS_READY,
    "erred": st.ERROR,
    "forgotten": MISSING,
    None: MISSING,
}

#: ``distributed.Future.status`` -> job status code (Tethys reads these).
FUTURE_STATUS = {
    "pending": st.RUNNING,
    "lost": st.RUNNING,
    "finished": st.RESULTS_READY,
    "error": st.ERROR,
    "cancelled": st.ABORTED,
    None: MISSING,
}

#: Known scheduler states, for parsing ``"<start>-<finish>"`` transition names.
KNOWN_STATES = ("no-worker", "released", "waiting", "queued", "processing", "memory",
                "erred", "forgotten")

#: ``status_message`` shown while a task waits in a given state.
STATE_MESSAGES = {
    "no-worker": "Waiting for a Dask worker that can run the task (no-worker).",
}

#: Tethys's ``DaskJob.DASK_TO_STATUS_TYPES`` (transition name -> status code), with the
#: statuses above: ``waiting-processing`` is Running, not Results-Ready.
DASK_TO_STATUS_TYPES = {
    f"{start}-{finish}": (TASK_STATE_STATUS[finish])
    for start, finish in (
        ("new", "released"), ("released", "waiting"), ("waiting", "no-worker"),
        ("no-worker", "waiting"), ("no-worker", "processing"), ("waiting", "processing"),
        ("queued", "processing"), ("waiting", "queued"), ("processing", "memory"),
        ("memory", "released"), ("processing", "erred"), ("erred", "forgotten"),
    )
}
DASK_TO_STATUS_TYPES["memory-released"] = st.RESULTS_READY
DASK_TO_STATUS_TYPES["erred-forgotten"] = st.ERROR


def parse_transition(status, start=None, finish=None):
    """Return ``(start, finish)`` from a ``"<start>-<finish>"`` name or explicit parts;
    ``(None, None)`` when the finish state is not a known Dask state."""
    if finish:
        return (start or None), (finish if finish in KNOWN_STATES else None)
    status = str(status or "")
    for state in KNOWN_STATES:
        if status == state:
            return None, state
        if status.endswith("-" + state):
            return status[: -len(state) - 1] or None, state
    return None, None
