"""The status rules of jobs (DESIGN section 3), mixed into ``TethysJob``.

* every status write is a compare-and-swap on the row (``UPDATE ... WHERE _status = old``),
  so a stale in-memory copy never overwrites a newer status, and a terminal status never
  moves back except through an explicit ``from_terminal`` write (resubmit, retry);
* reading ``job.status`` asks the engine only when the cached status is older than
  ``update_status_interval``, and writes only when something changed;
* an engine failure while polling is never terminal: it is recorded in
  ``status_message`` and cleared once the engine answers again;
* every change is recorded in the status history and sent as ``job_status_changed``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from .. import signals
from .. import status as st
from ..conf import get_config
from ..exceptions import EngineUnavailable, JobUnknownToEngine
from . import status_stamps
from .status_change import JobStatusChange

logger = logging.getLogger("tethys_compute.jobs")

# Fields owned by the status machinery: plain save() never writes them over a newer row.
STATUS_FIELDS = (
    "_status",
    "_last_status_update",
    "start_time",
    "completion_time",
    "status_message",
    "_results_state",
    "_results_claimed_at",
    "_results_claim",
    "attempt",
    "_other_status",
    # the failure and retry state (models/retries.py)
    "failure_kind",
    "failure_reason",
    "retry_due_at",
    "first_attempt",
)

# Prefixes of the status messages written while an engine could not answer; cleared as
# soon as it answers again, so a recovered or finished job does not keep the warning.
CHECK_FAILED = "Status check failed, will retry: "
UNKNOWN_TO_ENGINE = "The engine does not know this job ("
RESULTS_WILL_RETRY = "Result processing will be retried: "
TRANSIENT_MESSAGES = (CHECK_FAILED, UNKNOWN_TO_ENGINE, RESULTS_WILL_RETRY)

RESULTS_CLAIMED = "claimed"
RESULTS_DONE = "done"
RESULTS_FAILED = "failed"
RESULTS_RETRY = "retry"


def _short(text, limit=2048):
    text = str(text).replace("\x00", "\ufffd")  # PostgreSQL cannot store NUL
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _job_model():
    from .tethys_job import TethysJob

    return TethysJob


class _StatusJob(Protocol):
    """What :meth:`JobStatusRules.update_status` uses of the job (``TethysJob``): the
    type checker's view of the mixin's ``self``."""

    @property
    def pk(self) -> Any: ...
    @property
    def _status(self) -> str: ...
    def save(self, *args: Any, **kwargs: Any) -> None: ...
    @property
    def is_terminal(self) -> bool: ...
    @property
    def post_processing_incomplete(self) -> bool: ...
    @property
    def other_status(self) -> str | None: ...
    def process_results(self, *args: Any, **kwargs: Any) -> Any: ...
    def is_time_to_update(self) -> bool: ...
    def _write_status(self, new: Any, *, other: Any = ..., reason: Any = ...) -> Any: ...
    def _after_status_change(self) -> Any: ...
    def _results_retry_due(self) -> Any: ...
    def _has_engine(self) -> Any: ...
    def _refresh_from_engine(self, *args: Any, **kwargs: Any) -> Any: ...


class JobStatusRules:
    """Status writes, the refresh algorithm and batch refresh hooks of ``TethysJob``."""

    # --- status writes -------------------------------------------------------------------
    def _write_status(self, new, *, other=None, reason="", extra=None, from_terminal=False,
                      fence=None, failure_kind="", via=None):
        """Move the row from the in-memory status to ``new`` atomically.

        The UPDATE is conditional on the in-memory status and ``attempt`` (a copy loaded
        during an earlier run never changes a later one), and on ``fence`` (a ``Q`` or a
        dict of lookups) when given. ``failure_kind`` is kept in the history row (a
        failed run's kind, see ``RetryPolicy.run_failed``). ``via`` (a code): the row
        passes through that status in the same UPDATE (``old -> via -> new``); both
        changes are recorded (one INSERT of two history rows) and signalled, in order.

        Returns True when this call made the change. Returns False (and reloads the
        status fields) when the row had moved on, or when it is terminal and
        ``from_terminal`` is not set. A move back to Pending is only made with
        ``from_terminal`` (resubmit): a submitted job never returns to Pending otherwise.
        """
        old = self._status
        if new == st.PENDING and old != st.PENDING and not from_terminal:
            return False
        now = timezone.now()
        values = self._status_values(new, now, other=other, extra=extra)
        if self.is_terminal and not from_terminal:
            return False
        rows = _job_model().objects.filter(pk=self.pk, _status=old, attempt=self.attempt)
        if isinstance(fence, dict):
            rows = rows.filter(**fence)
        elif fence is not None:
            rows = rows.filter(fence)
        with transaction.atomic():
            if not rows.update(**values):
                self._reload_status_fields()
                return False
            steps = [(old, new, reason)] if via is None else [
                (old, via, reason), (via, new, "results processed")]
            rows = [JobStatusChange(
                job_id=self.pk, old_status=step_old, new_status=step_new,
                other_status=other or "", time=now, reason=_short(step_reason),
                attempt=values.get("attempt", self.attempt), failure_kind=failure_kind or "",
            ) for step_old, step_new, step_reason in steps]
            if via is None:
                rows[0].save(force_insert=True)
            else:
                JobStatusChange.objects.bulk_create(rows)
        for name, value in values.items():
            setattr(self, name, value)
        self._take_snapshot(set(values))
        for step_old, step_new, step_reason in steps:
            signals.job_status_changed.send(
                sender=type(self), job=self, old=step_old, new=step_new, reason=step_reason
            )
        if self.is_terminal and self.completion_time and not self.post_processing_incomplete:
            signals.job_finished.send(sender=type(self), job=self, status=new)
        return True

    def _status_values(self, new, now, *, other=None, extra=None):
        """The columns a write moving this job from its in-memory status to ``new`` sets
        (``_write_status``, and batch writers that move many rows in one UPDATE): the
        status and its stamp ``now``, the start or end time it implies, a cleared engine
        warning, ``extra``, the values waiting for the next status change (taken off the
        instance) and the custom status text."""
        old = self._status
        values = {"_status": new, "_last_status_update": now}
        if new == st.RUNNING and old in (st.PENDING, st.SUBMITTED) and not self.start_time:
            values["start_time"] = now
        if new in (st.ERROR, st.ABORTED) and not self.completion_time:
            values["completion_time"] = now
        if "status_message" not in (extra or {}):
            values.update(self._cleared_problem())  # a status change ends an engine warning
        values.update(extra or {})
        pending = self.__dict__.pop("_status_extra", None)  # e.g. JobUsage.record_usage
        if pending is not None and pending[0] == self.attempt:
            values.update({name: value for name, value in pending[1].items()
                           if name not in values})
        if new == st.OTHER or old == st.OTHER:
            # Its own column: extended_properties (other processes' keys) is not touched.
            values["_other_status"] = _short(other, 1024) if new == st.OTHER and other else None
        return values

    def _reload_status_fields(self):
        row = (
            _job_model().objects.filter(pk=self.pk)
            .values(*STATUS_FIELDS, "execute_time")
            .first()
        )
        if row is None:
            return
        for name, value in row.items():
            setattr(self, name, value)
        self._take_snapshot(set(row))

    def _write_fields(self, **values):
        """Write ``values`` to this job's row (one UPDATE) and keep them in memory."""
        _job_model().objects.filter(pk=self.pk).update(**values)
        self._keep_written(values)

    def _write_fields_fenced(self, **values):
        """Like ``_write_fields``, but only while the row still has the status and
        ``attempt`` this copy loaded (a refresh that lost a race to one that finished the
        job must not put its engine warning on the finished row). Returns True when
        written; otherwise reloads the status fields and returns False."""
        rows = _job_model().objects.filter(pk=self.pk, _status=self._status, attempt=self.attempt)
        if not rows.update(**values):
            self._reload_status_fields()
            return False
        self._keep_written(values)
        return True

    def _keep_written(self, values):
        """``values`` were written to this job's row: hold them, as stored."""
        for name, value in values.items():
            setattr(self, name, value)
        self._take_snapshot(set(values))

    def _record_engine_problem(self, message):
        # Kept on the instance for batch callers (the monitor counts failed checks).
        self._refresh_problem = message
        values = {"status_message": _short(message), "_last_status_update": timezone.now()}
        # A scheduler that failed a batch's query: one UPDATE for its jobs (status_stamps).
        if not status_stamps.defer(self, values, fenced=True):
            self._write_fields_fenced(**values)

    # --- the status algorithm ------------------------------------------------------------
    def update_status(self: _StatusJob, status: str | None = None, *args: Any,
                      reason: str = "", **kwargs: Any) -> bool:
        """Apply a status, or refresh it from the engine when it is stale.

        :param status: a code (``"COM"``), a display name (``"Complete"``) or custom text
            (stored as ``OTH``). ``None`` refreshes from the engine, at most once per
            ``update_status_interval``.
        :param reason: why the status changed; kept in the job's status history.
        :returns: True when the status changed (Tethys returns ``None``; code written for
            it ignores the answer).
        :raises ValueError: if ``status`` is given but is not a non-empty string.

        A job that was never saved (fresh from ``create_job()``) is saved first, as Tethys
        does.

        A terminal job never moves back to a non-terminal status here; reporting its
        terminal status again retries result processing if that is incomplete.
        """
        if self.pk is None:
            self.save()
        if status is not None:
            code, other = st.to_code(status)
            if self.is_terminal:
                if self.post_processing_incomplete:
                    self.process_results()
                return False
            if code == self._status and other == self.other_status:
                return False
            changed = self._write_status(code, other=other, reason=reason or "status set")
            if changed:
                self._after_status_change()
            return changed
        if self.is_terminal:
            if self.post_processing_incomplete and self._results_retry_due():
                self.process_results()
            return False
        if not self._has_engine() or not self.is_time_to_update():
            return False
        return self._refresh_from_engine(*args, **kwargs)

    @classmethod
    def bulk_update_status(cls, jobs: list[Any]) -> int:
        """Refresh the status of many jobs of this class that share a batch key
        (:meth:`status_batch_key`, e.g. one scheduler), all due for a refresh.

        The default refreshes them one by one; engine classes override it to ask their
        engine once for the whole batch (one ``condor_q``/``condor_history``, one Dask
        task-state query).

        :param jobs: a list of jobs of this class.
        :returns: the number of jobs whose status changed.
        """
        from ..functions import call

        # A job type's ``async def update_status`` is awaited (Tethys's table awaits it).
        return sum(1 for job in jobs if call(job.update_status))

    def status_batch_key(self):
        """Jobs with equal keys are refreshed together by :meth:`bulk_update_status`;
        engine classes return their scheduler's id."""
        return None

    @classmethod
    def _has_engine(cls):
        return cls._update_status is not _job_model()._update_status

    def _refresh_from_engine(self, *args, **kwargs):
        if self._status == st.PENDING:
            # Not submitted, or being submitted (by execute() or resubmit()): the engine
            # has nothing of this run yet, and what it knows of an earlier run (the same
            # key or cluster) must not become this run's status.
            return False
        old = self._status
        old_other = self.other_status
        try:
            self.__dict__.pop("_run_failed_recorded", None)
            reported = self._update_status(*args, **kwargs)
        except JobUnknownToEngine as exc:
            self._status = old
            return self._unknown_to_engine(exc)
        except Exception as exc:  # noqa: BLE001 - never terminal; recorded and retried
            if not isinstance(exc, EngineUnavailable):
                logger.exception("Job %s: status query failed", self.pk)
            self._status = old
            self._record_engine_problem(f"{CHECK_FAILED}{exc}")
            return False
        if self.__dict__.pop("_run_failed_recorded", None):
            return True  # the hook classified a failed run (run_failed wrote it)
        if reported is None and self._status != old:
            reported = self._status
        self._status = old
        answered = {"_last_status_update": timezone.now(), **self._cleared_problem()}
        code, other = st.to_code(reported) if reported is not None else (old, old_other)
        if code == old and other == old_other:
            # Unchanged: a batch refresh writes this stamp with the others (status_stamps).
            if not status_stamps.defer(self, answered):
                self._write_fields(**answered)
            return False
        # A results status claims the result processing in the same UPDATE (one
        # statement less per finished job); _after_status_change runs that claim.
        changed = self._write_status_claiming_results(code, other=other, reason="engine status",
                                                      extra=answered)
        if changed:
            self._after_status_change()
        return changed

    def _unknown_to_engine(self, exc):
        """The engine does not know this job. ``_last_status_update`` is left alone, so it
        keeps telling when the engine last answered about the job; once that is
        ``LOST_JOB_GRACE`` seconds ago the job moves to Error with the reason."""
        grace = timedelta(seconds=get_config()["LOST_JOB_GRACE"])
        since = self._last_status_update or self.execute_time
        if since is None or timezone.now() - since >= grace:
            reason = f"The engine no longer knows this job: {exc}"
            return self._write_status(
                st.ERROR, reason=reason, extra={"status_message": _short(reason)}
            )
        deadline = (since + grace).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        message = (
            f"{UNKNOWN_TO_ENGINE}{exc}); it becomes Error at {deadline} "
            "unless the engine knows it again by then."
        )
        self._refresh_problem = message
        self._write_fields_fenced(status_message=_short(message))
        return False

    def _cleared_problem(self):
        """``{"status_message": None}`` when the message is a transient engine warning."""
        if (self.status_message or "").startswith(TRANSIENT_MESSAGES):
            return {"status_message": None}
        return {}

    def _after_status_change(self):
        if self._status in st.RESULTS_STATUS_CODES and self.completion_time is None:
            self.process_results()
