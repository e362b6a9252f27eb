"""Failed runs and their retries (issue 15; DESIGN section 3).

A job's engine adapter classifies a failed run into a :class:`~tethys_compute.failure_kinds.Failure`
and calls :meth:`RetryPolicy.run_failed`. The job keeps the kind (``failure_kind``) and the
engine's own reason (``failure_reason``), and its retry policy decides:

* the kind is retryable for this job (``retry_on``, default the ``RETRY_ON`` setting:
  evicted, lost, memory, transfer) and the run was not its last (``max_attempts``,
  default the ``MAX_ATTEMPTS`` setting, 1): the job goes back to Pending, non-terminal,
  with ``status_message`` "Retry 2 of 3 in 60 s: <the failure>" and ``retry_due_at``
  set; the delay is ``retry_delay`` seconds, doubled after each failure of the series,
  at most ``RETRY_DELAY_CAP``;
* otherwise the job ends in Error with the failure as its message.

:func:`start_due_retries` (a step of every monitor cycle) starts the due retries, the
earliest due first, through :meth:`TethysJob.resubmit`'s machinery: each attempt is a
run of its own (new ``attempt``, new engine id), fenced like any run. The move from a
failed run back to Pending is the one path, besides an explicit ``resubmit()``, by which
a job that stopped running becomes Pending again; a terminal job is never retried.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from .. import failure_kinds as fk
from .. import status as st
from ..conf import get_config
from .job_part import JobPart

logger = logging.getLogger("tethys_compute.jobs")

#: Reason prefix of the status change that starts a retry (the history's marker).
RETRY_REASON = "retry"


class FailureKindsField(models.JSONField):
    """A list of failure kinds (``["memory", "lost"]``), checked before it is written."""

    def value_problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be stored, or ``None`` (see ``validation.check_fields``)."""
        if not isinstance(value, (list, tuple)):
            return f"must be a list of failure kinds, not {type(value).__name__}"
        unknown = [kind for kind in value
                   if not isinstance(kind, str) or kind not in fk.KIND_NAMES]
        if unknown:
            return (f"has unknown failure kinds {unknown!r}; expected some of "
                    f"{sorted(fk.KIND_NAMES)}")
        return None


class RetryPolicy(JobPart, models.Model):
    """The failure and retry fields of ``TethysJob`` and :meth:`run_failed`.

    Settable per job (``create_job(..., max_attempts=3, retry_delay=60)``); ``None``
    takes the project's setting at the time of the failure.
    """

    #: Kind of the last failed run (one of ``failure_kinds.FAILURE_KINDS``), cleared when
    #: the next run starts; every failure stays in the status history.
    failure_kind = models.CharField(max_length=16, choices=fk.FAILURE_KINDS, blank=True,
                                    null=True)
    #: The last failure as :meth:`Failure.as_dict` gives it: kind, message and the
    #: engine's own reason (hold codes, exit code, exception type...).
    failure_reason = models.JSONField(blank=True, null=True)
    #: Most runs of one series (the first run and its automatic retries); ``None``: the
    #: ``MAX_ATTEMPTS`` setting (1: no automatic retry).
    max_attempts = models.PositiveIntegerField(blank=True, null=True,
                                               validators=[MinValueValidator(1)])
    #: Seconds before the first retry, doubled for each further one (``None``: the
    #: ``RETRY_DELAY`` setting).
    retry_delay = models.PositiveIntegerField(blank=True, null=True)
    #: Failure kinds retried (``None``: the ``RETRY_ON`` setting).
    retry_on = FailureKindsField(blank=True, null=True)
    #: Longest run in seconds (``None``: no limit): HTCondor enforces it
    #: (``allowed_execute_duration``), the monitor stops Dask and Basic jobs over it.
    max_run_time = models.PositiveIntegerField(blank=True, null=True,
                                               validators=[MinValueValidator(1)])
    #: When the scheduled retry is due (set only while the job waits for it; indexed by
    #: ``tc_job_retry_due``, a partial index of the jobs that have one).
    retry_due_at = models.DateTimeField(blank=True, null=True)
    #: The ``attempt`` that began the current series (execute() or resubmit()).
    first_attempt = models.PositiveIntegerField(blank=True, null=True)
    # ``progress_reported_at`` (notifications/fields.py) with ``_last_status_update`` is
    # the sign of life of a BasicJob's reporter (``BASIC_JOB_SILENT_AFTER``).

    #: True on classes whose engine enforces ``max_run_time`` itself (HTCondor's
    #: ``allowed_execute_duration``): the monitor leaves their runs to it.
    ENGINE_ENFORCES_MAX_RUN_TIME = False

    class Meta:
        abstract = True

    # --- policy ----------------------------------------------------------------------------
    @property
    def attempts_allowed(self) -> int:
        """``max_attempts``, or the ``MAX_ATTEMPTS`` setting."""
        return int(self.max_attempts or get_config()["MAX_ATTEMPTS"])

    @property
    def retryable_kinds(self) -> frozenset[str]:
        """``retry_on``, or the ``RETRY_ON`` setting, as a set of kinds."""
        kinds = self.retry_on if self.retry_on is not None else get_config()["RETRY_ON"]
        return frozenset(kinds)

    @property
    def run_number(self) -> int:
        """This run's number in its series (1 for the run execute() or resubmit() began)."""
        return max(1, self.attempt - (self.first_attempt or 1) + 1)

    def retry_delay_for(self, run_number: int) -> int:
        """Seconds to wait after the failure of run ``run_number`` of the series:
        ``retry_delay * 2 ** (run_number - 1)``, at most ``RETRY_DELAY_CAP``."""
        config = get_config()
        base = self.retry_delay if self.retry_delay is not None else config["RETRY_DELAY"]
        return int(min(int(base) * 2 ** max(0, run_number - 1), config["RETRY_DELAY_CAP"]))

    # --- the failure ----------------------------------------------------------------------
    def run_failed(self, failure: fk.Failure, *, attempt: int | None = None) -> bool:
        """Record that run ``attempt`` (default: the job's current run) failed, and let the
        retry policy decide what follows.

        The kind and the engine's reason are stored (``failure_kind``,
        ``failure_reason``) and the change is in the status history with the attempt and
        kind. When the kind is in ``retry_on`` and the run was not the series' last
        (``max_attempts``), the job goes back to Pending, non-terminal, with
        ``status_message`` "Retry 2 of 3 in 60 s: <failure message>" and
        ``retry_due_at``; the monitor starts the retry when it is due
        (:func:`start_due_retries`). Otherwise the job ends in Error with the failure
        message as its ``status_message``.

        One conditional UPDATE, fenced to the run: a report about an earlier run, or
        about a job that has already ended, changes nothing.

        :param failure: the classified failure (:class:`~tethys_compute.failure_kinds.Failure`).
        :param attempt: the run that failed (``int``); a different run than the job's
            current one is ignored.
        :returns: True when this call recorded the failure.
        :raises TypeError: ``failure`` is not a ``Failure``.
        """
        if not isinstance(failure, fk.Failure):
            raise TypeError(f"run_failed() needs a Failure, not {failure!r}.")
        if attempt is not None and attempt != self.attempt:
            return False
        if self.pk is None or self.is_terminal or self._status == st.PENDING:
            return False
        from .job_status import _short

        number = self.run_number
        reason = failure.as_dict()
        failed = f"attempt {self.attempt} failed ({failure.kind}): {failure.message}"
        values: dict[str, Any] = {"failure_kind": failure.kind, "failure_reason": reason}
        if failure.kind in self.retryable_kinds and number < self.attempts_allowed:
            delay = self.retry_delay_for(number)
            message = (f"Retry {number + 1} of {self.attempts_allowed} in {delay} s: "
                       f"{failure.message}")
            values.update(status_message=_short(message),
                          retry_due_at=timezone.now() + timedelta(seconds=delay))
            # The one move back to Pending besides resubmit(): from a run that is not
            # terminal (the compare-and-swap holds the status and the attempt).
            written = self._write_status(st.PENDING, reason=_short(f"{failed}; {message}"),
                                         extra=values, from_terminal=True,
                                         failure_kind=failure.kind)
        else:
            values["status_message"] = _short(failure.message)
            written = self._write_status(st.ERROR, reason=_short(failed), extra=values,
                                         failure_kind=failure.kind)
        if written:
            self.__dict__["_run_failed_recorded"] = True
            logger.info("Job %s: %s", self.pk, failed)
        return written

    def _stop_overdue_run(self, attempt: int) -> None:
        """Hook: stop the engine's work of run ``attempt``, which went over
        ``max_run_time`` (its failure is recorded already). Nothing by default (a
        BasicJob's work is the app's); a Dask job cancels its task."""
        return None

    def _new_run_values(self, retry: bool) -> dict[str, Any]:
        """Row values a new run starts with (see ``TethysJob._start_new_run``)."""
        values: dict[str, Any] = {"failure_kind": None, "failure_reason": None,
                                  "retry_due_at": None}
        if not retry:
            values["first_attempt"] = self.attempt + 1
        return values


def failure_note(job) -> str:
    """One line for people about ``job``'s last failed run, or ``""``: its kind, the run
    within its series and the engine's own reason, e.g. ``"Failure: Out of memory (run 1
    of 3; HoldReasonCode 34, subcode 0)"``. No query."""
    kind = job.failure_kind
    if not kind:
        return ""
    reason = job.failure_reason if isinstance(job.failure_reason, dict) else {}
    parts = []
    allowed = job.attempts_allowed
    if allowed > 1:
        parts.append(f"run {job.run_number} of {allowed}")
    engine = []
    if reason.get("hold_reason_code") is not None:
        code = f"HoldReasonCode {reason['hold_reason_code']}"
        if reason.get("hold_reason_subcode") is not None:
            code += f", subcode {reason['hold_reason_subcode']}"
        engine.append(code)
    if reason.get("exit_code") is not None:
        engine.append(f"exit code {reason['exit_code']}")
    if reason.get("exit_signal") is not None:
        engine.append(f"signal {reason['exit_signal']}")
    if reason.get("exception_type"):
        engine.append(str(reason["exception_type"]))
    if engine:
        parts.append(", ".join(engine))
    detail = f" ({'; '.join(parts)})" if parts else ""
    return f"Failure: {fk.KIND_NAMES.get(kind, kind)}{detail}"


def due_retries(now, label=None):
    """Jobs whose scheduled retry is due at ``now`` (app ``label``'s only, when given)."""
    from .tethys_job import TethysJob

    jobs = TethysJob.objects.filter(_status=st.PENDING, retry_due_at__lte=now)
    return jobs.filter(label=label) if label else jobs


def start_due_retries(label=None, *, now=None, limit=None) -> int:
    """Start the retries that are due: claim them (their leases, earliest due first, at
    most ``limit``, default ``MONITOR_BATCH_SIZE``) in one query, then resubmit each as a
    new run. A retry started by another process (or resubmitted by hand) meanwhile is left
    alone: the start is a conditional UPDATE fenced to the waiting run.

    :returns: the number of retries started.
    """
    from .. import leases
    from .tethys_job import TethysJob

    now = now or timezone.now()
    owner = leases.new_owner()
    ids = leases.claim(due_retries(now, label), owner,
                       limit=limit or get_config()["MONITOR_BATCH_SIZE"],
                       order_by=("retry_due_at", "pk"))
    if not ids:
        return 0
    started = 0
    try:
        with leases.KeepAlive(owner, ids):
            jobs = TethysJob.objects.filter(pk__in=ids).order_by("retry_due_at", "pk")
            for job in jobs.select_subclasses():
                started += _start_retry(job, now)
    finally:
        leases.release(owner, ids)
    return started


def _start_retry(job, now) -> int:
    from ..exceptions import JobStateError
    from .job_status import _short

    job.__dict__["_retry_due_by"] = now
    try:
        job.resubmit()
    except JobStateError as exc:
        logger.info("Job %s: retry not started: %s", job.pk, exc)
        return 0
    except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
        logger.exception("Job %s: starting its retry failed", job.pk)
        # Not left waiting (it would be tried again every cycle): Error, with the reason.
        job._reload_status_fields()
        if job._status == st.PENDING:
            message = _short(f"The retry could not be started: {exc}")
            job._write_status(st.ERROR, reason=message, from_terminal=True,
                              extra={"status_message": message, "retry_due_at": None,
                                     "completion_time": timezone.now()})
        return 0
    finally:
        job.__dict__.pop("_retry_due_by", None)
    return 1
