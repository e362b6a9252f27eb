"""Status callback endpoints that compute nodes call (Tethys's routes and answers).

``update-job-status/<job_id>/`` asks for a refresh: anyone may ask, nothing is taken from
the caller, and the answer comes at once. ``report-job-status/<job_id>/`` takes a
reported status, progress and node statuses from a holder of the job's signed token.

Differences from Tethys 4.6 (see "Differences from Tethys" in the docs): a
refresh request runs at most once per ``update_status_interval`` per job, never makes the
caller wait on an engine longer than ``CALLBACK_REFRESH_TIMEOUT`` seconds, and ``?delay=``
is stored in the database and carried out by the monitor (it survives restarts and works
under WSGI); reports accept POST with the token in the body or an ``Authorization:
Bearer`` header, progress, and never change a finished job.
"""

from __future__ import annotations

import logging
import math
import re

from django.db import connections, router, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .. import leases
from .. import status as st
from ..conf import get_config
from ..models import TethysJob
from ..monitor import refresh_due, refresh_jobs
from . import job_lookup
from . import report_input as ri
from .callback_workers import CallbackWorkers, run_work
from .limits import json_request_limits

logger = logging.getLogger("tethys_compute.callbacks")

METHODS = ("GET", "HEAD", "POST")  # update-job-status (HEAD is harmless: a refresh)
REPORT_METHODS = ("GET", "POST")  # report-job-status changes state: no HEAD
_JOB_ID = re.compile(r"^[0-9]{1,19}$")
_MAX_ID = 2**63 - 1


def _answer(http_status=200, **data):
    return JsonResponse(data, status=http_status)


def _error(http_status, message):
    return _answer(http_status, success=False, error=message)


def _not_allowed(methods):
    response = _error(405, "method not allowed; use GET or POST")
    response["Allow"] = ", ".join(methods)
    return response


def load_job(job_id):
    """Return job ``job_id`` (a URL segment) as its own class, or ``None`` when there is
    no such job or the id is not a job id. One query."""
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id) or int(job_id) > _MAX_ID:
        return None
    return job_lookup.get_job(int(job_id))


# --- update-job-status ---------------------------------------------------------------------
#: The threads that run the engine work callbacks start (see ``callback_workers``).
refresh_threads = CallbackWorkers()


def _refresh(job):
    """Refresh ``job`` under its lease: ``"done"``, or ``"skipped"`` when nothing ran
    (another process holds the lease, or refreshed the job since it was loaded)."""
    return "done" if refresh_jobs([job]).checked else "skipped"


def _process_results(job):
    job.process_results()


def _run_claimed_results(job):
    job.run_claimed_results()


def _hand_off_results(job, nodes_applied):
    """Answer a report whose status write claimed result processing, and hand the
    processing to the worker threads without waiting for it (the request commits once;
    the answer says ``post_processing: false``). In a transaction (a test's) it runs
    here, before the answer."""
    if connections[router.db_for_write(TethysJob)].in_atomic_block:
        run_work(_run_claimed_results, job)
        return _report_answer(job, nodes_applied)
    answer = _report_answer(job, nodes_applied)  # first: the job is the worker's next
    if refresh_threads.submit(_run_claimed_results, job) is None:
        job.release_results_claim()  # a backlog this long: the monitor takes it over
    return answer


def run_bounded(work, job):
    """Run ``work(job)`` for at most ``CALLBACK_REFRESH_TIMEOUT`` seconds of this
    request's time: ``"done"`` (or the answer ``work`` returned, e.g. ``"skipped"``
    when nothing ran), ``"running"`` (it goes on in the background) or ``"queued"`` (all
    workers busy: handed to the monitor as a due refresh request)."""
    if connections[router.db_for_write(TethysJob)].in_atomic_block:
        # Another thread could not see this transaction's writes (a test's transaction):
        # do the work here.
        outcome = {}
        run_work(work, job, outcome)
        return outcome.get("answer", "done")
    thread = refresh_threads.start(work, job)
    if thread is None:
        leases.request_refresh(job, 0)
        return "queued"
    thread.join(get_config()["CALLBACK_REFRESH_TIMEOUT"])
    if thread.is_alive():
        return "running"
    return thread.outcome.get("answer", "done")


def _parse_delay(value):
    try:
        delay = float(value)
    except (TypeError, ValueError, OverflowError):
        delay = math.nan
    if not math.isfinite(delay) or delay < 0:
        raise ValueError(
            f"invalid delay: {value!r} (use a number of seconds, 0 or more; at most "
            f"{get_config()['CALLBACK_MAX_DELAY']} is used)"
        )
    return delay


def _refresh_possible(job):
    if job.is_terminal:
        return job.post_processing_incomplete
    return job._has_engine()


@csrf_exempt
@never_cache
@json_request_limits
@transaction.non_atomic_requests
def update_job_status(request, job_id):
    """Ask for a refresh of job ``job_id`` from its engine (Tethys's ``update_job_status``).

    Takes no state from the caller and is idempotent. The refresh runs only when the
    job's status is older than its ``update_status_interval`` (and is not being refreshed
    elsewhere); the caller waits for it at most ``CALLBACK_REFRESH_TIMEOUT`` seconds.

    ``?delay=N`` (seconds, cut to ``CALLBACK_MAX_DELAY``) stores a refresh request that
    the monitor (``manage.py tethys_compute_monitor``) carries out; requests for one job
    merge into one, at the earliest time asked for.

    Answers (JSON):

    * 200 ``{"success": true, "refresh": R}``; ``R`` is ``"done"``, ``"running"`` (still
      going after the timeout), ``"queued"`` (handed to the monitor: all refresh workers
      busy), ``"skipped"`` (not due yet, or being refreshed) or ``"not-needed"`` (a
      finished job, or one without an engine).
    * 200 ``{"success": "scheduled", "refresh_at": ISO time}`` for ``?delay=``.
    * 200 ``{"success": false, "error": "no such job"}`` for an unknown job (Tethys's
      200 with ``success`` false: compute-node scripts call this URL with ``curl -f``).
    * 400 bad ``delay``; 405.
    """
    if request.method not in METHODS:
        return _not_allowed(METHODS)
    job = load_job(job_id)
    if job is None:
        return _error(200, "no such job")
    delay = request.GET.get("delay")
    if delay is not None:
        try:
            seconds = _parse_delay(delay)
        except ValueError as exc:
            return _error(400, str(exc))
        if not _refresh_possible(job):
            return _answer(success=True, refresh="not-needed")
        due = leases.request_refresh(job, seconds)
        return _answer(success="scheduled", refresh_at=due.isoformat())
    if not _refresh_possible(job):
        return _answer(success=True, refresh="not-needed")
    if not refresh_due(job):
        return _answer(success=True, refresh="skipped")
    return _answer(success=True, refresh=run_bounded(_refresh, job))


# --- report-job-status ---------------------------------------------------------------------
def _finished_conflict(job, status):
    """For a finished job, ``None`` when the report is a repeat of a finished status
    (accepted: it only retries incomplete result processing), else the 409 answer."""
    if status is not None:
        code, other = st.to_code(status)
        repeat = code == job._status and (code != st.OTHER or other == job.other_status)
        if repeat or (job.post_processing_incomplete and code in st.TERMINAL_STATUS_CODES):
            return None
    return _error(409, "job has already finished")


def _apply_nodes(job, node_statuses):
    if node_statuses is None:
        return 0
    try:
        return len(job.apply_node_statuses(node_statuses) or {})
    except Exception:  # noqa: BLE001 - a bad node list must not lose the status report
        logger.exception("Job %s: applying reported node statuses failed", job.pk)
        return 0


def _apply_progress(job, percent, message):
    if percent is None:
        return
    same_message = message is None or message == job.progress_message
    if round(percent) == job.progress and same_message:
        return
    job.set_progress(percent, message)


@csrf_exempt
@never_cache
@json_request_limits
@transaction.non_atomic_requests
@sensitive_post_parameters("token")
@sensitive_variables("fields", "token")
def report_job_status(request, job_id):
    """Accept a status report about job ``job_id`` from a holder of its token
    (``job.status_report_token``; Tethys's ``report_job_status``).

    Fields, in a JSON or form body (POST) or the query string (GET, as Tethys 4.6):
    ``token`` (or an ``Authorization: Bearer <token>`` header), ``status`` (a code or
    display name, or a custom status registered on the job's class), ``progress``
    (0-100) with an optional ``progress_message``, and ``node_statuses`` (a JSON object
    of node name to status, for workflows). At least one of ``status``, ``progress`` and
    ``node_statuses`` is needed. Malformed ``node_statuses`` sent with a status or
    progress are ignored (logged; ``nodes_applied`` is 0), as Tethys does. ``attempt``
    (optional, not in Tethys): the run the report is about, ``job.attempt`` when the work
    was submitted; a report about another run is refused.

    Answers (JSON), checked in Tethys's order:

    * 403 ``{"success": false, "error": "invalid token"}``: missing, forged or expired
      token, or a token made for another job;
    * 400 ``invalid status: ...`` (or another malformed field);
    * 404 ``no such job``;
    * 409 ``job has already finished``: the job has ended and the report is not a
      repeat of its final status; nothing changes;
    * 409 ``a submitted job cannot return to Pending``: ``Pending`` reported for a job
      that was submitted; only ``resubmit()`` makes a job Pending again;
    * 409 ``report for run N; the job is on run M``: the report names a run
      (``attempt``, the job's ``attempt`` when its work was submitted) that is not the
      job's current run; nothing changes;
    * 200 ``{"success": true, "nodes_applied": n, "post_processing": bool, "status":
      display name}``; ``post_processing`` is false while result processing is
      incomplete (it is retried by a repeated final report and by the monitor).

    The token is never logged.
    """
    if request.method not in REPORT_METHODS:
        return _not_allowed(REPORT_METHODS)
    try:
        fields = ri.read_fields(request)
    except ri.BadReport as exc:
        return _error(400, str(exc))
    token = fields.get("token")
    # The signature here; the age below, by the job's own class (STATUS_REPORT_MAX_AGE).
    if TethysJob.id_from_status_report_token(token, max_age=None) != job_id:
        return _error(403, "invalid token")
    try:
        status = ri.parse_status(fields.get("status"))
        percent, message = ri.parse_progress(
            fields.get("progress"), fields.get("progress_message")
        )
        attempt = ri.parse_attempt(fields.get("attempt"))
    except ri.BadReport as exc:
        return _error(400, str(exc))
    try:
        node_statuses = ri.parse_node_statuses(fields.get("node_statuses"))
    except ri.BadReport as exc:
        if status is None and percent is None:
            return _error(400, str(exc))
        # As Tethys: malformed node statuses never lose the reported status.
        logger.warning("Job %s: reported node statuses ignored: %s", job_id, exc)
        node_statuses = None
    if status is None and percent is None and node_statuses is None:
        return _error(400, "invalid status: None")
    if status is not None and not ri.is_known_status(TethysJob, status, subclasses=True):
        return _error(400, f"invalid status: {status}")
    job = load_job(job_id)
    if job is None:
        return _error(404, "no such job")
    if type(job).id_from_status_report_token(token) != job_id:
        return _error(403, "invalid token")
    if status is not None and not ri.is_known_status(type(job), status):
        return _error(400, f"invalid status: {status}")
    if attempt is not None and attempt != job.attempt:
        # About another run (a resubmit started a new one): it changes nothing. The
        # status write below is also conditional on the run the job was loaded in.
        return _error(409, f"report for run {attempt}; the job is on run {job.attempt}")
    if job.is_terminal:
        conflict = _finished_conflict(job, status)
        if conflict is not None:
            return conflict
        if job.post_processing_incomplete and job._results_retry_due():
            run_bounded(_process_results, job)
        return _report_answer(job, 0)
    if job._status == st.PENDING and getattr(job, "retry_due_at", None) is not None:
        # The run it reports on failed; the retry (a new run) has not started yet.
        return _error(409, "the job is waiting for its retry; its previous run failed")
    if status is not None and st.to_code(status)[0] == st.PENDING and job._status != st.PENDING:
        # Only resubmit() makes a submitted job Pending again (Run would be offered).
        return _error(409, "a submitted job cannot return to Pending")
    # Progress sent with a status change is written in the same UPDATE, so nobody sees a
    # job Complete at its previous progress.
    progress = None if percent is None else job.progress_fields(percent, message)
    status_changed = status is not None and _apply_status(job, status, progress)
    if status is not None and not status_changed:
        if job.is_terminal and _finished_conflict(job, status) is not None:
            # The job ended elsewhere between loading and writing: the report lost.
            return _error(409, "job has already finished")
    nodes_applied = _apply_nodes(job, node_statuses)
    if not status_changed:
        _apply_progress(job, percent, message)
    if status_changed and "_results_fence" in job.__dict__:
        return _hand_off_results(job, nodes_applied)
    return _report_answer(job, nodes_applied)


def _apply_status(job, status, extra=None):
    """Write a reported status (and ``extra`` row values) to an active job
    (compare-and-swap on the row). A completion also claims its result processing in
    the same UPDATE (``job.__dict__["_results_fence"]``); the caller hands it to the
    worker threads. True when the status changed."""
    code, other = st.to_code(status)
    if code == job._status and other == job.other_status:
        return False
    if job._report_is_provisional(code):
        return False  # the engine's own answer decides (HTCondor: once the job left the queue)
    # One commit: the status and, for a completion, the claim of its result processing,
    # which the caller hands to a worker thread (see callback_workers).
    return job._write_status_claiming_results(
        code, other=other, reason="reported by compute node", extra=extra)


def _report_answer(job, nodes_applied):
    return _answer(
        success=True,
        nodes_applied=nodes_applied,
        post_processing=not job.post_processing_incomplete,
        status=job.cached_status,
    )
