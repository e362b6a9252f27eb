"""How a Dask job's status follows its task: the scheduler's answers (polling) and the
scheduler plugin's reports (push), applied through the job's normal status rules; and
the job's logs.

Functions of a :class:`~tethys_compute.models.dask.dask_job.DaskJob` (``job``); every
engine call goes through the job's helpers and :mod:`tethys_compute.engines.dask`.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext

from django.db import transaction

from ... import failure_kinds as fk
from ... import status as st
from ...exceptions import EngineUnavailable, JobUnknownToEngine
from ...failure_kinds import Failure
from ..job_status import _short
from . import dask_escalation, dask_output
from . import dask_status_map as smap
from .dask_job_exception import DaskJobException
from .dask_refresh import TaskAnswer

logger = logging.getLogger("tethys_compute.dask")

# --- polling ----------------------------------------------------------------------------
def status_from_answer(job, answer: TaskAnswer):
    """The status code for the scheduler's ``answer`` about ``job``'s task, or ``None``
    for no change (see :mod:`.dask_status_map`).

    :raises DaskSchedulerUnavailable: the scheduler did not answer (transient).
    :raises JobUnknownToEngine: the scheduler has no task with the job's key.
    """
    if answer.error is not None:
        raise answer.error
    if answer.state not in smap.TASK_STATE_STATUS:
        logger.warning("Job %s: unknown Dask task state %r", job.pk, answer.state)
        return None
    status = smap.TASK_STATE_STATUS[answer.state]
    if status == smap.MISSING:
        return unknown_task(job)
    if status == st.ERROR:
        return record_task_error(job, answer)
    if status == st.RESULTS_READY:
        dask_output.keep_output(job, answer)
    set_state_message(job, answer.state)
    return status


def unknown_task(job):
    """The scheduler does not know the job's task. ``execute()`` returns once the
    submission is sent (the scheduler's plugin holds the task when it arrives,
    :mod:`tethys_compute.engines.dask.hold_plugin`), so:

    * a task the scheduler refused, in the process that submitted it: Error, with the
      scheduler's reason in ``status_message``;
    * a task submitted less than the scheduler's call timeout ago that the scheduler's
      hold plugin has not seen forgotten (not arrived yet, or known by now): no change,
      and no warning (one more scheduler call, made only in this case);
    * else :func:`missing_task` (the status rules' lost-job grace).

    :raises DaskSchedulerUnavailable: the scheduler did not answer (transient).
    """
    from ...engines.dask import tasks

    refused = tasks.refusal(job.key)
    if refused:
        job._write_fields(status_message=refused[:2000])
        return st.ERROR
    if job.execute_time is not None and job.scheduler_id is not None:
        from django.utils import timezone

        scheduler = job.scheduler
        age = (timezone.now() - job.execute_time).total_seconds()
        if 0 <= age < scheduler.call_timeout:
            with scheduler.connection() as client:
                gone = tasks.forgotten(client, [job.key], scheduler.call_timeout)
            if gone is not None and job.key not in gone:
                return None
    return missing_task(job)


def missing_task(job):
    """The scheduler answered and has no task with the job's key: raise
    :class:`~tethys_compute.exceptions.JobUnknownToEngine`. The core keeps the job's
    status (with the reason in ``status_message``) until the key has been unknown for
    ``TETHYS_COMPUTE["LOST_JOB_GRACE"]`` seconds, then ends it in Error: a task is never
    declared lost on the reading right after its submission."""
    raise JobUnknownToEngine(
        f"the Dask scheduler at {job.scheduler.address} has no task {job.key}: the "
        "scheduler or the task's workers restarted, the task was cancelled elsewhere, or "
        "the scheduler could not accept it (see its log)"
    )


def set_state_message(job, state):
    """Say in ``status_message`` why a task waits (``no-worker``); clear it after."""
    message = smap.STATE_MESSAGES.get(state)
    if message and job.status_message != message:
        job._write_fields(status_message=message)
    elif not message and job.status_message in smap.STATE_MESSAGES.values():
        job._write_fields(status_message=None)


def record_task_error(job, answer: TaskAnswer):
    """The task erred: store its output, exception and traceback with the job
    (:mod:`.dask_output`), classify the failure (:func:`task_failure`) and hand it to the
    job's retry policy (``run_failed``: a retry, or Error with the reason); release the
    erred task. Returns ``None`` (``run_failed`` wrote the status).

    :raises DaskSchedulerUnavailable: the classification could not be read (transient:
        the next refresh tries again).
    """
    dask_output.keep_output(job, answer)
    failure = task_failure(job, answer)
    if job.run_failed(failure):
        job._schedule_release()
    return None


def task_failure(job, answer: TaskAnswer) -> Failure:
    """The :class:`~tethys_compute.failure_kinds.Failure` of ``job``'s erred task, from
    the scheduler's classification (``answer.failure``, else read now; see
    ``engines.dask.scheduler_side.failure_of``). A scheduler that refuses to run the
    query (``distributed.scheduler.pickle`` off) gives an ``exit`` failure with the
    exception text only.

    :raises DaskSchedulerUnavailable: the scheduler did not answer.
    """
    info, text = answer.failure, answer.exception
    if info is None:
        info, read = _read_failure(job)
        text = text if text is not None else read
    text = text or "an exception (no text available)"
    info = dict(info or {"kind": fk.EXIT})
    kind = info.pop("kind", fk.EXIT)
    details = {k: v for k, v in info.items() if v not in (None, [], "")}
    details["exception"] = _short(text, 1000)
    if kind == fk.EXIT:
        message = f"The Dask task raised: {text}"
    elif kind == fk.MEMORY:
        used = info.get("memory_used_mb")
        message = ("The Dask worker running the task was restarted for exceeding its "
                   "memory limit" + (f" (used {used} MB)" if used else "") + f": {text}")
        return dask_escalation.escalate(job, Failure(kind, _short(message, 1500), details))
    else:
        message = f"The Dask workers running the task died: {text}"
    return Failure(kind, _short(message, 1500), details)


def _read_failure(job):
    from ...engines.dask import tasks
    from ...engines.dask.errors import DaskSchedulerUnavailable

    scheduler = job._require_scheduler()
    try:
        with scheduler.connection() as client:
            details = tasks.task_details(client, [job.key], scheduler.call_timeout)
    except DaskSchedulerUnavailable:
        raise
    except DaskJobException as exc:
        return None, f"(the exception text could not be read: {exc})"
    found = details.get(job.key) or {}
    return found.get("failure"), found.get("exception")


# --- push -------------------------------------------------------------------------------
def apply_reported_transition(job, start, finish, exception=None, cancelled=False):
    """See :meth:`DaskJob.apply_reported_transition`."""
    if job.is_terminal:
        return False
    reason = f"reported by the Dask scheduler plugin ({start or '?'}-{finish})"
    if cancelled:
        return job.update_status(st.ABORTED, reason=reason + ": task cancelled")
    if finish in ("released", "forgotten"):
        return job.refresh_from_scheduler()
    status = smap.TASK_STATE_STATUS.get(finish)
    if status is None or status == smap.MISSING:
        return False
    if status == st.RESULTS_READY:
        return _apply_finished(job, reason)
    if status == st.ERROR:
        # Classified from the scheduler's records (one query), through the retry policy.
        job.__dict__["_dask_answer"] = TaskAnswer("erred", exception=exception)
        try:
            return job.refresh_from_scheduler()
        finally:
            job.__dict__.pop("_dask_answer", None)
    set_state_message(job, finish)
    return job.update_status(status, reason=reason)


def _apply_finished(job, reason):
    """Results-Ready, then Complete: the result is gathered first (no transaction waits
    on the network), then, with no ``process_results_function`` to run, every write
    shares one transaction."""
    answer = TaskAnswer("memory")
    dask_output.keep_output(job, answer)
    if not job.forget:
        try:
            answer.result = job._gather_result()
        except EngineUnavailable as exc:
            answer.error = exc  # result processing waits for a retry
        except DaskJobException:
            answer = None  # result processing meets it again and records it
    job.__dict__["_dask_answer"] = answer
    try:
        quick = answer is not None and answer.error is None and not job._process_results_function
        with transaction.atomic() if quick else nullcontext():
            return job.update_status(st.RESULTS_READY, reason=reason)
    finally:
        job.__dict__.pop("_dask_answer", None)


# --- logs -------------------------------------------------------------------------------
def task_logs(job):
    """``{"Task": text, "stdout": text, "stderr": text, "Scheduler": text, "Worker-0":
    text, ...}``: the task's state, exception and traceback and its own output (stored
    with the job once it ended, see :mod:`.dask_output`; read from its worker while it
    runs), then the scheduler's and each worker's log entries about this job's task
    (``LEVEL message``, only entries that name its key: a cluster is shared by every
    user, and another job's key and errors are not this user's to read), workers in
    address order, each text starting with the worker's address."""
    from ...engines.dask import tasks

    own = dask_output.output_logs(job) if job.key else None
    if job.scheduler_id is None:
        return {**(own or {}), "Task": (own or {}).get("Task")
                or "This job has no Dask scheduler."}
    scheduler = job.scheduler
    try:
        with scheduler.connection() as client:
            details = (
                tasks.task_details(client, [job.key], scheduler.call_timeout)
                if job.key and own is None else {}
            )
            scheduler_lines, worker_lines = tasks.logs(client, scheduler.call_timeout)
    except DaskJobException as exc:
        if own is not None:
            return {**own, "Scheduler": str(exc)}
        return {"Task": f"Task {job.key or '(not submitted)'}", "Scheduler": str(exc)}
    logs = own or {"Task": _task_text(job.key, details.get(job.key)),
                   **dask_output.output_streams(job)}
    logs["Scheduler"] = _lines_text(scheduler_lines, job.key)
    for number, (address, lines) in enumerate(sorted(worker_lines.items())):
        logs[f"Worker-{number}"] = f"{address}\n{_lines_text(lines, job.key)}"
    return logs


def _lines_text(lines, key):
    """The entries of ``lines`` that name task ``key`` (none without a key), after a
    line saying so."""
    about = [f"{level} {message}" for level, message in lines or ()
             if key and key in str(message)]
    head = f"Entries about task {key} only ({len(about)})." if key else "Not submitted yet."
    return "\n".join([head, *about])


def _task_text(key, details):
    if not key:
        return "Not submitted yet."
    if not details:
        return f"Task {key}"
    text = [f"Task {key}", f"State: {details.get('state') or 'unknown to the scheduler'}"]
    if details.get("workers"):
        text.append("Workers: " + ", ".join(details["workers"]))
    if details.get("exception"):
        text.append(f"Exception: {details['exception']}")
    if details.get("traceback"):
        text.append(f"Traceback:\n{details['traceback']}")
    return "\n".join(text)
