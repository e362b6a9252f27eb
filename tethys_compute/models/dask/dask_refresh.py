"""Batch status refresh of Dask jobs: one task-state query per scheduler.

:func:`bulk_refresh` asks each scheduler once for the states of all its jobs' keys
(``get_task_status``), reads the exception texts of erred tasks in one more call when
there are any, gathers the results of finished tasks in calls of up to
:data:`GATHER_BATCH` keys, and then gives each job its answer and runs its normal
``update_status()``: the status rules are those of a single refresh.

Writes are grouped to save commits (each one an fsync on most databases): jobs whose
answer changes nothing (a running task still running) are refreshed outside any
transaction, as their only write, the stamp, is batched; jobs whose
refresh is database work only share transactions of :data:`COMMIT_BATCH` jobs; a job
that runs a ``process_results_function`` or still has to fetch its result is written
outside any transaction, so no transaction waits on user code or the network.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from ... import status as st
from ...conf import get_config
from . import dask_finish
from .dask_job_exception import DaskJobException

logger = logging.getLogger("tethys_compute.dask")

#: Most results fetched in one gather call.
GATHER_BATCH = 64

#: Jobs whose refresh needs no network and no user code are written in transactions of
#: at most this many jobs (one commit each, each job in its own savepoint).
COMMIT_BATCH = 50

_NO_RESULT = object()


@dataclass
class TaskAnswer:
    """What the scheduler said about one job's task."""

    state: str | None
    exception: str | None = None
    result: Any = field(default=_NO_RESULT)
    error: Exception | None = None
    #: An erred task's classification (``scheduler_side.failure_of``), when read.
    failure: dict | None = None
    #: The scheduler's traceback text of an erred task (when read).
    traceback: str | None = None
    #: The task's captured output from the workers (``{}``: asked, none held; ``None``:
    #: not asked yet), see :mod:`.dask_output`.
    output: dict | None = None

    @property
    def has_result(self) -> bool:
        return self.result is not _NO_RESULT


def _wants_query(job) -> bool:
    if not job.key or job._status == st.PENDING or job.scheduler_id is None:
        return False
    if job.is_terminal:
        return job.post_processing_incomplete and job._results_retry_due()
    return job.is_time_to_update()


def bulk_refresh(jobs) -> int:
    """Refresh ``jobs`` (Dask jobs, any schedulers); see the module docs.

    :returns: the number of jobs whose status changed.
    """
    from .dask_scheduler import DaskScheduler

    jobs = list(jobs)
    groups = defaultdict(list)
    for job in jobs:
        if _wants_query(job):
            groups[job.scheduler_id].append(job)
    schedulers = DaskScheduler.objects.in_bulk(list(groups)) if groups else {}
    releases: defaultdict[int, list[str]] = defaultdict(list)
    for scheduler_id, group in groups.items():
        scheduler = schedulers.get(scheduler_id)
        if scheduler is None:
            continue  # deleted meanwhile: each job reports it on its own refresh
        answers = _ask(scheduler, group)
        for job in group:
            job.scheduler = scheduler
            job.__dict__["_dask_answer"] = answers[job.key]
            job.__dict__["_dask_release_batch"] = releases[scheduler_id]
    steady = [job for job in jobs if _steady(job)]
    finishing = [job for job in jobs if not _steady(job) and dask_finish.finishing(job)]
    changed, rest = dask_finish.finish(finishing)  # a bounded number of statements
    chosen = {id(job) for job in steady + finishing} - {id(job) for job in rest}
    quick = [job for job in jobs if id(job) not in chosen and _db_only(job)]
    other = [job for job in jobs if id(job) not in chosen and not _db_only(job)]
    changed += sum(_apply(job) for job in steady)  # nothing to write but a batched stamp
    for start in range(0, len(quick), COMMIT_BATCH):
        with transaction.atomic():
            changed += sum(_apply(job, savepoint=True) for job in quick[start:start + COMMIT_BATCH])
    changed += sum(_apply(job) for job in other)
    _release(schedulers, releases)
    return changed


def _apply(job, savepoint=False) -> bool:
    try:
        with transaction.atomic() if savepoint else nullcontext():
            return bool(job.update_status())
    except Exception:  # noqa: BLE001 - one job's failure must not stop the batch
        logger.exception("Dask job %s: refresh failed", job.pk)
        return False
    finally:
        job.__dict__.pop("_dask_answer", None)
        job.__dict__.pop("_dask_release_batch", None)


def _release(schedulers, releases):
    """Release the tasks whose outcome the batch stored: one message per scheduler, and
    let the workers forget their captured output (stored by the jobs)."""
    from ...engines.dask import output, tasks

    for scheduler_id, keys in releases.items():
        if not keys:
            continue
        try:
            with schedulers[scheduler_id].connection() as client:
                tasks.release(client, keys, schedulers[scheduler_id].call_timeout)
                _discard(output, client, keys, schedulers[scheduler_id].call_timeout)
        except DaskJobException as exc:
            logger.warning("Releasing %d finished tasks failed: %s", len(keys), exc)


def _discard(output, client, keys, timeout):
    """Let the workers forget the captured output of ``keys`` (stored by their jobs); a
    failure only leaves it to the workers' own bound."""
    try:
        output.discard(client, keys, timeout)
    except DaskJobException as exc:
        logger.info("Discarding the output of %d finished tasks failed: %s", len(keys), exc)


def _steady(job) -> bool:
    """True when ``job``'s answer leaves it as it is: a Running job whose task still
    waits or runs, with no message to set or clear. Its refresh then writes only the
    "engine answered" stamp, which the batch writes for all such jobs at once
    (:mod:`tethys_compute.models.status_stamps`), so it needs no transaction or savepoint
    of its own (most of a large batch: a savepoint pair per job cost more than the rest
    of its refresh)."""
    from .dask_status_map import STATE_MESSAGES, TASK_STATE_STATUS

    answer = job.__dict__.get("_dask_answer")
    if answer is None or answer.error is not None or job._status != st.RUNNING:
        return False
    if TASK_STATE_STATUS.get(answer.state) != st.RUNNING:
        return False
    return (STATE_MESSAGES.get(answer.state) or None) == (job.status_message or None)


def _db_only(job) -> bool:
    """True when refreshing ``job`` with its answer needs no network and runs no user code
    (its result, if any, was gathered already and it has no results function): its
    writes can then share a transaction with other such jobs' (:data:`COMMIT_BATCH`)."""
    answer = job.__dict__.get("_dask_answer")
    if answer is None or answer.error is not None or job._process_results_function:
        return False
    if answer.state == "memory" and not job.forget:
        return answer.has_result
    return answer.state != "erred" or answer.failure is not None


def _ask(scheduler, group):
    from ...engines.dask import tasks

    keys = [job.key for job in group]
    try:
        with scheduler.connection() as client:
            states = tasks.task_states(client, keys, scheduler.call_timeout)
            answers = {key: TaskAnswer(states.get(key)) for key in keys}
            _add_exceptions(client, scheduler, answers)
            _add_results(client, group, answers)
            _add_outputs(client, scheduler, group, answers)
    except DaskJobException as exc:
        return {key: TaskAnswer(None, error=exc) for key in keys}
    return answers


def _add_exceptions(client, scheduler, answers):
    from ...engines.dask import tasks

    erred = [key for key, answer in answers.items() if answer.state == "erred"]
    if not erred:
        return
    try:
        details = tasks.task_details(client, erred, scheduler.call_timeout)
    except DaskJobException as exc:
        logger.warning("Reading the exceptions of %d erred tasks failed: %s", len(erred), exc)
        for key in erred:  # not asked again job by job
            answers[key].exception = f"an exception (its text could not be read: {exc})"
        return
    for key in erred:
        answers[key].exception = (details.get(key) or {}).get("exception") or (
            "an exception (no text available)"
        )
        answers[key].failure = (details.get(key) or {}).get("failure")
        answers[key].traceback = (details.get(key) or {}).get("traceback")


def _add_outputs(client, scheduler, group, answers):
    """The captured output of the tasks that ended, from the workers in one call (each
    job then stores its own, see :mod:`.dask_output`)."""
    from ...engines.dask import output
    from . import dask_output

    ended = [job.key for job in group if answers[job.key].state in ("memory", "erred")
             and dask_output.is_captured(job) and dask_output.stored(job) is None]
    if not ended:
        return
    try:
        found = output.collect(client, ended, scheduler.call_timeout)
    except DaskJobException as exc:
        logger.warning("Reading the output of %d finished tasks failed: %s", len(ended), exc)
        return  # each job asks on its own
    for key in ended:
        answers[key].output = found.get(key) or {}


def _add_results(client, group, answers):
    from ...engines.dask import tasks

    ready = [job.key for job in group if not job.forget and answers[job.key].state == "memory"]
    timeout = get_config()["DASK_RESULT_TIMEOUT"]
    for start in range(0, len(ready), GATHER_BATCH):
        chunk = ready[start : start + GATHER_BATCH]
        try:
            values = tasks.gather(client, chunk, timeout)
        except DaskJobException as exc:
            # Each job gathers its own result then (and learns which one is missing).
            logger.info("Gathering %d results at once failed: %s", len(chunk), exc)
            continue
        for key, value in values.items():
            answers[key].result = value
