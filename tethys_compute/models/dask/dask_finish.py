"""Finished Dask tasks of a batch refresh, stored together (:mod:`..results_batch`).

A batch refresh (:mod:`.dask_refresh`) that finds many jobs' tasks finished, with their
results gathered and nothing else to process, would write each job on its own: a
conditional UPDATE to Complete (through Results-Ready, with the processing done), its
result and its two history rows. :func:`finish` writes all of them with a bounded
number of statements in one transaction per :data:`FINISH_BATCH` jobs, under the same
conditions, so each result is still stored exactly once and only by the refresher
whose UPDATE moved the row.

Only jobs whose single refresh would do exactly that take this path
(:func:`finishing`); any other job, a job whose output, result or fields cannot be
prepared, and every job of a batch whose statements fail, go through the job's own
``update_status()`` (the caller's per-job path), so one job's failure never reaches
another job's row.
"""

from __future__ import annotations

import logging

from django.db import router, transaction
from django.utils import timezone

from ... import status as st
from .. import results_batch
from ..job_results import JobResults
from ..job_status import RESULTS_DONE, STATUS_FIELDS, JobStatusRules
from . import dask_output
from . import dask_status_map as smap

logger = logging.getLogger("tethys_compute.dask")

#: Most jobs finished in one transaction (its statements are chunked further by the
#: database's limit on bound parameters).
FINISH_BATCH = 500

#: What a job's single refresh runs: a class that overrides any of these refreshes (and
#: processes its results) job by job.
_SAME_AS_DASKJOB = ("_update_status", "_process_results", "_apply_results_function",
                    "_results_at_hand", "_results_stored", "_after_status_change")
_SAME_AS_CORE = {
    "update_status": JobStatusRules, "_refresh_from_engine": JobStatusRules,
    "_write_status": JobStatusRules, "_write_status_claiming_results": JobResults,
    "_write_results_at_hand": JobResults,
}


def finishing(job) -> bool:
    """True when ``job``'s refresh with its batch answer would move it from Running
    (or Submitted) to Complete with its gathered result (or ``forget``) and nothing
    else: no ``process_results_function``, no override of the steps above. No query,
    no change to the job."""
    from .dask_job import DaskJob

    answer = job.__dict__.get("_dask_answer")
    if answer is None or answer.error is not None or answer.state != "memory":
        return False
    if job._status not in (st.RUNNING, st.SUBMITTED) or job.completion_time is not None:
        return False
    if not job.key or job.scheduler_id is None or job._process_results_function:
        return False
    if not (job.forget or answer.has_result):
        return False
    kind = type(job)
    return (all(getattr(kind, name) is getattr(DaskJob, name) for name in _SAME_AS_DASKJOB)
            and all(getattr(kind, name) is getattr(base, name)
                    for name, base in _SAME_AS_CORE.items()))


def finish(jobs) -> tuple[int, list]:
    """Move ``jobs`` (each :func:`finishing`) to Complete with their results, in
    transactions of :data:`FINISH_BATCH` jobs. Returns ``(changed, others)``: the number
    of jobs completed here, and the jobs to refresh one by one instead. A job another
    process completed first is reloaded as it is now and counts as unchanged."""
    if not jobs:
        return 0, []
    using = router.db_for_write(type(jobs[0]))
    if not results_batch.supported(using):
        return 0, list(jobs)
    changed, others = 0, []
    for start in range(0, len(jobs), FINISH_BATCH):
        done, rest = _finish_chunk(jobs[start:start + FINISH_BATCH], using)
        changed += done
        others += rest
    return changed, others


def _finish_chunk(jobs, using):
    completions, others = [], []
    for job in jobs:
        completion = _prepare(job)
        if completion is None:
            others.append(job)
        else:
            completions.append(completion)
    if not completions:
        return 0, others
    try:
        with transaction.atomic(using=using):
            written, moved = results_batch.write(completions, using)
            for completion in written:
                completion.job._results_stored()  # the release, once committed
    except Exception:  # noqa: BLE001 - rolled back; each job then goes its own way
        logger.exception("Storing %d finished Dask jobs together failed; storing them "
                         "one by one", len(completions))
        for completion in completions:
            results_batch.put_back(completion)
        return 0, others + [completion.job for completion in completions]
    results_batch.written(written)
    results_batch.moved_on(moved, using)
    for completion in written + moved:
        _done_with(completion.job)
    return len(written), others


def _prepare(job):
    """The job's completion, or ``None`` (its own refresh handles it): keeps the task's
    output (as the single refresh does first), sets the result on the instance and
    computes the columns its write sets."""
    answer = job.__dict__["_dask_answer"]
    completion = results_batch.Completion(job, {}, ["result"])
    try:
        dask_output.keep_output(job, answer)
        if not job._results_at_hand():
            return None
        completion.plain = [name for name in (job._changed_fields() or [])
                            if name not in STATUS_FIELDS]
        if "extended_properties" in completion.plain or job._unstorable_change(
                completion.plain) is not None:
            results_batch.put_back(completion)
            return None
        now = timezone.now()
        extra = {"_last_status_update": now, **job._cleared_problem(),
                 "completion_time": now, "_results_state": RESULTS_DONE,
                 "_results_claimed_at": None, "_results_claim": None}
        if job.status_message in smap.STATE_MESSAGES.values():
            extra["status_message"] = None  # the task no longer waits
        completion.values = job._status_values(st.COMPLETE, now, extra=extra)
        return completion
    except Exception:  # noqa: BLE001 - its own refresh meets (and records) it again
        logger.exception("Job %s: preparing its completion failed", job.pk)
        results_batch.put_back(completion)
        return None


def _done_with(job):
    job.__dict__.pop("_dask_answer", None)
    job.__dict__.pop("_dask_release_batch", None)
