"""Result processing of jobs, mixed into ``TethysJob``: once per completion, claimed
with an atomic conditional update; its own failure ends in Error with the reason kept and
can be retried; a transient engine failure leaves it to be retried later."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .. import signals
from .. import status as st
from ..conf import get_config
from ..exceptions import EngineUnavailable, JobStateError
from .job_status import (
    RESULTS_CLAIMED,
    RESULTS_DONE,
    RESULTS_FAILED,
    RESULTS_RETRY,
    RESULTS_WILL_RETRY,
    _job_model,
    _short,
)

logger = logging.getLogger("tethys_compute.jobs")


class JobResults:
    """``process_results`` and its claim, finish and retry."""

    # --- results -------------------------------------------------------------------------
    def _results_retry_due(self):
        if self._results_state != RESULTS_CLAIMED:
            return self.is_time_to_update()
        lease = timedelta(seconds=get_config()["RESULTS_LEASE"])
        return self._results_claimed_at is None or timezone.now() - self._results_claimed_at > lease

    def _claim_results(self):
        now = timezone.now()
        lease = timedelta(seconds=get_config()["RESULTS_LEASE"])
        claimable = (
            Q(_results_state__isnull=True)
            | Q(_results_state__in=("", RESULTS_RETRY))
            | Q(_results_state=RESULTS_CLAIMED, _results_claimed_at__lt=now - lease)
        )
        claimed = (
            _job_model().objects.filter(
                claimable,
                pk=self.pk,
                _status__in=st.RESULTS_STATUS_CODES,
                completion_time__isnull=True,
            ).update(_results_state=RESULTS_CLAIMED, _results_claimed_at=now)
        )
        if claimed:
            self._results_state = RESULTS_CLAIMED
            self._results_claimed_at = now
            self._take_snapshot({"_results_state", "_results_claimed_at"})
        return bool(claimed)

    def process_results(self, *args, **kwargs):
        """Process the results of a completed job, once per completion.

        Claims the job with an atomic conditional update, so concurrent callers (two
        web processes, the monitor) run the processing once. Calls ``_process_results``,
        then :attr:`process_results_function` if one is set. On success the job becomes
        Complete (Various-Complete stays Various-Complete); if processing raises, the job
        becomes Error with the reason in ``status_message`` and :meth:`retry_results` can
        run it again. An :class:`~tethys_compute.exceptions.EngineUnavailable` leaves the
        job waiting for a retry instead.

        Called on a job that is not in a results status: a job type without an engine
        (``BasicJob``) is moved to Results-Ready and processed, as Tethys does; a finished
        job is left alone (``False``).

        :returns: True when this call processed the results successfully.
        :raises JobStateError: if the job has an engine and is still active (Tethys
            would mark it Complete while its work still runs).
        """
        if not self._ready_for_results():
            return False
        if not self._claim_results():
            return False
        logger.debug("Job %s: processing results", self.pk)
        before = self._status
        try:
            outcome = self._process_results(*args, **kwargs)
            self._apply_results_function()
        except EngineUnavailable as exc:
            self._status = before
            self._write_fields(
                _results_state=RESULTS_RETRY,
                status_message=_short(f"{RESULTS_WILL_RETRY}{exc}"),
                _last_status_update=timezone.now(),
            )
            return False
        except Exception as exc:  # noqa: BLE001 - recorded as Error, never hidden
            logger.exception("Job %s: result processing failed", self.pk)
            self._status = before
            self._finish_results(
                st.ERROR, RESULTS_FAILED, f"Result processing failed: {exc}"
            )
            return False
        final = self._status if self._status != before else outcome
        self._status = before
        if isinstance(final, str) and final:
            final = st.to_code(final)[0]
        if final in (st.ERROR, st.ABORTED):
            message = self.status_message or "Result processing reported an error."
            self._finish_results(final, RESULTS_FAILED, message)
            return False
        final = st.VARIOUS_COMPLETE if before == st.VARIOUS_COMPLETE else st.COMPLETE
        self._finish_results(final, RESULTS_DONE, None)
        return True

    def _ready_for_results(self):
        """Bring a job without an engine to Results-Ready for an explicit
        ``process_results()``; False for a finished job; refuse an active engine job."""
        if self._status in st.RESULTS_STATUS_CODES:
            return True
        if self.is_terminal:
            logger.info("Job %s is %s: no results to process", self.pk, self.cached_status)
            return False
        if self._has_engine():
            raise JobStateError(
                f"Job {self.pk} is {self.cached_status}: results are processed when its "
                "engine reports it finished (Results-Ready or Complete)."
            )
        if self.pk is None:
            self.save()
        self._write_status(st.RESULTS_READY, reason="process_results() called")
        return True

    def _apply_results_function(self):
        """Hook: apply :attr:`process_results_function` (to the job by default;
        ``DaskJob`` applies it to the task's result)."""
        function = self.process_results_function
        if function is not None:
            function(self)

    def _finish_results(self, final, state, message):
        values = {
            "completion_time": timezone.now(),
            "_results_state": state,
            "status_message": _short(message) if message else (
                None if self._cleared_problem() else self.status_message
            ),
        }
        # Fields a _process_results hook changed on the instance (results, keys) are kept.
        self._save_changed_plain_fields()
        if final == self._status:
            self._write_fields(**values)
            signals.job_finished.send(sender=type(self), job=self, status=final)
        else:
            self._write_status(final, reason=message or "results processed", extra=values,
                               from_terminal=True)

    def retry_results(self):
        """Run result processing again after it failed (the job is in Error).

        :raises JobStateError: if the job's result processing did not fail.
        """
        if self._results_state != RESULTS_FAILED:
            raise JobStateError(
                f"Job {self.pk}: result processing has not failed; nothing to retry."
            )
        self._write_status(
            st.RESULTS_READY,
            reason="retry result processing",
            extra={"completion_time": None, "_results_state": None, "_results_claimed_at": None},
            from_terminal=True,
        )
        return self.process_results()
