"""Memory escalation of Dask jobs (issue 15 item 3; docs/resilience.rst, "Memory
escalation"): after a ``memory`` failure, the retry of a job whose ``Delayed`` asked for
the workers' memory resource (``DASK_MEMORY_RESOURCE``, see
:mod:`tethys_compute.engines.dask.resources`) asks for more, by the rule HTCondor jobs
follow (:func:`tethys_compute.escalation.next_memory_mb`).

Two moments, both functions of a :class:`~.dask_job.DaskJob` (``job``):

* :func:`escalate`, when the failure is classified: the new request is said in the
  failure's message (so in ``status_message`` and the status history) and recorded in
  ``failure_reason`` (``memory_requested_mb``, ``next_request_memory_mb``,
  ``memory_resource``). Nothing is written to the job's directory then, so a failure
  recorded twice (two monitors) cannot raise the request twice.
* :func:`for_retry`, when the run is started again from the work kept in the job's
  directory (the monitor's retry, or ``resubmit()`` without arguments) while the job's
  last failure is that ``memory`` failure: the raised request is applied to the kept
  ``Delayed``; the submission stores it, so a further failure raises it again.
"""

from __future__ import annotations

import logging

from ... import failure_kinds as fk
from ...conf import get_config
from ..job_status import _short

logger = logging.getLogger("tethys_compute.dask")


def _escalated(work, used_mb):
    from ...engines.dask import resources

    return resources.escalated(work, get_config()["DASK_MEMORY_RESOURCE"], used_mb)


def escalate(job, failure: fk.Failure) -> fk.Failure:
    """``failure`` (a ``memory`` failure of ``job``'s run) saying what the next attempt
    asks for, or ``failure`` itself when the job's kept work asks for no memory resource,
    cannot be read, or cannot ask for more (``MAX_REQUEST_MEMORY``)."""
    from ...engines.dask.computation import Computation
    from .dask_job_exception import DaskJobException

    if failure.kind != fk.MEMORY or not job.workspace:
        return failure
    try:
        work = Computation.load(job.workspace).work
    except DaskJobException as exc:
        logger.info("Job %s: no kept work to raise the memory request of: %s", job.pk, exc)
        return failure
    found = _escalated(work, failure.details.get("memory_used_mb"))
    if found is None:
        return failure
    requested_mb, next_mb, _ = found
    resource = get_config()["DASK_MEMORY_RESOURCE"]
    message = (f"{failure.message}; the next attempt asks for {next_mb} MB "
               f"({resource}={next_mb * 2**20})")
    details = {**failure.details, "memory_requested_mb": round(requested_mb, 2),
               "next_request_memory_mb": next_mb, "memory_resource": resource}
    return fk.Failure(failure.kind, _short(message, 1500), details)


def for_retry(job, computation):
    """``computation`` (the work kept in ``job``'s directory) with its memory request
    raised when the job's last run failed for memory and :func:`escalate` recorded a
    next request; otherwise ``computation`` itself."""
    from ...engines.dask.computation import Computation

    reason = job.failure_reason if isinstance(job.failure_reason, dict) else {}
    if job.failure_kind != fk.MEMORY or reason.get("next_request_memory_mb") is None:
        return computation
    found = _escalated(computation.work, reason.get("memory_used_mb"))
    if found is None:
        return computation
    requested_mb, next_mb, work = found
    logger.info("Job %s: the retry asks for %s MB of memory (was %.0f MB)", job.pk, next_mb,
                requested_mb)
    return Computation(work)
