"""Result processing of jobs, mixed into ``TethysJob``: once per completion of a run.

The processing is claimed with an atomic conditional update that hands out a fencing
token (``_results_claim``); every later write of that processing is conditional on the
token and on the run (``attempt``) it was claimed for, so a processing superseded by a
resubmit, or taken over after its holder was presumed dead, changes nothing. The claim is
renewed while the work is alive (every third of ``RESULTS_LEASE``), so slow processing is
never taken over while it runs. Its own failure ends in Error with the reason kept and
can be retried; a transient engine failure leaves it to be retried later."""

from __future__ import annotations

import copy
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals
from .. import status as st
from ..conf import get_config
from ..exceptions import EngineUnavailable, JobStateError
from .claim_renewal import ClaimRenewal
from .job_status import (
    RESULTS_CLAIMED,
    RESULTS_DONE,
    RESULTS_FAILED,
    RESULTS_RETRY,
    RESULTS_WILL_RETRY,
    STATUS_FIELDS,
    _job_model,
    _short,
)

logger = logging.getLogger("tethys_compute.jobs")


class _Superseded(Exception):
    """The claim of a processing is no longer its own: its writes are rolled back."""


class JobResults:
    """``process_results`` and its claim, finish and retry."""

    # --- results -------------------------------------------------------------------------
    def _results_retry_due(self):
        if self._results_state != RESULTS_CLAIMED:
            return self.is_time_to_update()
        lease = timedelta(seconds=get_config()["RESULTS_LEASE"])
        return self._results_claimed_at is None or timezone.now() - self._results_claimed_at > lease

    def _claim_results(self):
        """Claim this run's result processing; True when this call holds the claim (its
        fence is kept in ``self.__dict__["_results_fence"]``)."""
        now = timezone.now()
        lease = timedelta(seconds=get_config()["RESULTS_LEASE"])
        token = secrets.token_hex(16)
        claimable = (
            Q(_results_state__isnull=True)
            | Q(_results_state__in=("", RESULTS_RETRY))
            | Q(_results_state=RESULTS_CLAIMED, _results_claimed_at__lt=now - lease)
        )
        claimed = (
            _job_model().objects.filter(
                claimable,
                pk=self.pk,
                attempt=self.attempt,
                _status__in=st.RESULTS_STATUS_CODES,
                completion_time__isnull=True,
            ).update(_results_state=RESULTS_CLAIMED, _results_claimed_at=now,
                     _results_claim=token)
        )
        if claimed:
            self._results_state = RESULTS_CLAIMED
            self._results_claimed_at = now
            self._results_claim = token
            self._take_snapshot({"_results_state", "_results_claimed_at", "_results_claim"})
            self.__dict__["_results_fence"] = {"attempt": self.attempt, "_results_claim": token}
        return bool(claimed)

    def _write_status_claiming_results(self, code, *, other=None, reason="", extra=None):
        """Write status ``code`` (compare-and-swap, as ``_write_status``); when it is a
        results status, claim this run's result processing in the same UPDATE, so a
        reported completion costs one commit. True when the status changed; the claim,
        when taken, is in ``self.__dict__["_results_fence"]`` and
        :meth:`run_claimed_results` runs it (a claim never run runs out after
        ``RESULTS_LEASE`` and is taken over by the monitor). A Complete (or
        Various-Complete) of a job with nothing to process (:meth:`_has_results_work`)
        is written finished, processing done, in that UPDATE: no claim to run."""
        if code not in st.RESULTS_STATUS_CODES or self.completion_time is not None:
            return self._write_status(code, other=other, reason=reason, extra=extra)
        claimable = (Q(_results_state__isnull=True) | Q(_results_state__in=("", RESULTS_RETRY))
                     ) & Q(completion_time__isnull=True)
        if code in (st.COMPLETE, st.VARIOUS_COMPLETE) and not self._has_results_work():
            # Nothing to run: the completion is its processing's outcome, in the same
            # compare-and-swap (exactly once), as a reported Error is finished at once.
            done = {"completion_time": timezone.now(), "_results_state": RESULTS_DONE,
                    "_results_claimed_at": None, "_results_claim": None}
            if self._write_status(code, other=other, reason=reason,
                                  extra={**(extra or {}), **done}, fence=claimable):
                return True
            return self._write_status(code, other=other, reason=reason, extra=extra)
        if code == st.RESULTS_READY and self._write_results_at_hand(other, reason, extra,
                                                                     claimable):
            return True
        token = secrets.token_hex(16)
        claim = {"_results_state": RESULTS_CLAIMED, "_results_claimed_at": timezone.now(),
                 "_results_claim": token}
        if self._write_status(code, other=other, reason=reason,
                              extra={**(extra or {}), **claim}, fence=claimable):
            self.__dict__["_results_fence"] = {"attempt": self.attempt, "_results_claim": token}
            return True
        # Not claimable (a processing of this run holds it) or the status moved: the
        # status alone, under the same compare-and-swap.
        return self._write_status(code, other=other, reason=reason, extra=extra)

    def _results_at_hand(self):
        """Hook: True when this run's result processing needs neither the network nor
        user code and has now set its outcome on the instance (e.g. a Dask result
        gathered with the batch's answer); False (the default) runs the processing."""
        return False

    def _results_stored(self):
        """Hook: called once the outcome set by :meth:`_results_at_hand` is written."""

    def _write_results_at_hand(self, other, reason, extra, claimable):
        """Results-Ready whose processing is already done in memory
        (:meth:`_results_at_hand`): one compare-and-swap moves the row through
        Results-Ready to Complete with the processing done (exactly once, as a claim
        would: the same conditions), the changed fields follow in the same transaction,
        and both changes are recorded and signalled. True when written; otherwise the
        instance's fields are put back and the caller claims and runs the processing."""
        if not self._results_at_hand():
            return False
        plain = [n for n in (self._changed_fields() or []) if n not in STATUS_FIELDS]
        done = {"completion_time": timezone.now(), "_results_state": RESULTS_DONE,
                "_results_claimed_at": None, "_results_claim": None}
        if self._unstorable_change(plain) is None:
            with transaction.atomic(savepoint=False):
                if self._write_status(st.COMPLETE, other=other, reason=reason,
                                      extra={**(extra or {}), **done}, fence=claimable,
                                      via=st.RESULTS_READY):
                    self._save_plain_fields(plain)
                    self._results_stored()
                    return True
        for name in plain:
            setattr(self, name, copy.deepcopy(self._loaded_value(name)))
        return False

    def _has_results_work(self):
        """True when processing this job's results runs code: its class overrides
        ``_process_results`` or ``_apply_results_function``, or the job has a
        ``process_results_function``."""
        kind, base = type(self), _job_model()
        return bool(
            kind._process_results is not base._process_results
            or kind._apply_results_function is not JobResults._apply_results_function
            or self._process_results_function
        )

    def release_results_claim(self) -> None:
        """Give up the claim taken by :meth:`_write_status_claiming_results` without
        running it, so another process (the monitor) can take it at once."""
        fence = self.__dict__.pop("_results_fence", None)
        if fence is not None:
            self._write_fenced(fence, _results_state=None, _results_claimed_at=None,
                               _results_claim=None)

    def run_claimed_results(self, *args: Any, **kwargs: Any) -> bool:
        """Run the result processing this instance claimed with
        :meth:`_write_status_claiming_results`, or claim and run it
        (:meth:`process_results`) when it holds no claim."""
        if "_results_fence" not in self.__dict__:
            return self.process_results(*args, **kwargs)
        try:
            return self._run_claimed_processing(*args, **kwargs)
        finally:
            self.__dict__.pop("_results_fence", None)

    def process_results(self, *args: Any, **kwargs: Any) -> bool:
        """Process the results of a completed run of the job, once per run.

        Claims the processing with an atomic conditional update, so concurrent callers
        (two web processes, the monitor) run it once; the claim is renewed while the
        processing runs, and every write it makes is fenced to this claim and this run
        (a processing superseded by :meth:`resubmit`, or taken over after its holder was
        presumed dead, changes nothing). Calls ``_process_results``, then
        :attr:`process_results_function` if one is set. On success the job becomes
        Complete (Various-Complete stays Various-Complete) and ``job_finished`` is sent;
        if processing raises, or leaves a value the database cannot store (e.g. a
        ``datetime`` in ``extended_properties``), the job becomes Error with the reason in
        ``status_message`` and :meth:`retry_results` can run it again. An
        :class:`~tethys_compute.exceptions.EngineUnavailable` leaves the job waiting for a
        retry instead. A failure of the processing itself is never raised.

        Called on a job that is not in a results status: a job type without an engine
        (``BasicJob``) is moved to Results-Ready and processed, as Tethys does; a finished
        job is left alone (``False``).

        :returns: True when this call processed the results successfully.
        :raises JobStateError: if the job has an engine and is still active (Tethys
            would mark it Complete while its work still runs).
        """
        if not self._ready_for_results():
            return False
        # Claimed already with the status write that brought the job here
        # (_write_status_claiming_results), or claim it now.
        if "_results_fence" not in self.__dict__ and not self._claim_results():
            return False
        try:
            return self._run_claimed_processing(*args, **kwargs)
        finally:
            self.__dict__.pop("_results_fence", None)

    def _run_claimed_processing(self, *args, **kwargs):
        logger.debug("Job %s: processing results", self.pk)
        fence = self.__dict__["_results_fence"]
        before = self._status
        outcome = failure = None
        with ClaimRenewal(self.pk, fence):
            try:
                outcome = self._process_results(*args, **kwargs)
                self._apply_results_function()
            except Exception as exc:  # noqa: BLE001 - recorded below, never hidden
                failure = exc
        final = self._status if self._status != before else outcome
        self._status = before
        if isinstance(failure, EngineUnavailable):
            if not self._write_fenced(
                fence,
                _results_state=RESULTS_RETRY,
                _results_claim=None,
                status_message=_short(f"{RESULTS_WILL_RETRY}{failure}"),
                _last_status_update=timezone.now(),
            ):
                self._superseded()
            return False
        if failure is not None:
            logger.error("Job %s: result processing failed", self.pk, exc_info=failure)
            self._finish_results(st.ERROR, RESULTS_FAILED, f"Result processing failed: {failure}")
            return False
        if isinstance(final, str) and final:
            final = st.to_code(final)[0]
        if final in (st.ERROR, st.ABORTED):
            message = self.status_message or "Result processing reported an error."
            self._finish_results(final, RESULTS_FAILED, message)
            return False
        final = st.VARIOUS_COMPLETE if before == st.VARIOUS_COMPLETE else st.COMPLETE
        return self._finish_results(final, RESULTS_DONE, None)

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

    def _write_fenced(self, fence, **values):
        """Write ``values`` if the claim ``fence`` still holds; True when written."""
        if not _job_model()._base_manager.filter(pk=self.pk, **fence).update(**values):
            return False
        for name, value in values.items():
            setattr(self, name, value)
        self._take_snapshot(set(values))
        return True

    def _superseded(self):
        logger.warning(
            "Job %s: result processing of run %s was superseded (resubmitted, or taken over "
            "after its claim ran out); its outcome is dropped.", self.pk, self.attempt
        )
        self._reload_status_fields()

    def _apply_results_function(self):
        """Hook: apply :attr:`process_results_function` (to the job by default;
        ``DaskJob`` applies it to the task's result)."""
        function = self.process_results_function
        if function is not None:
            function(self)

    def _unstorable_change(self, names):
        """``(field name, reason)`` of the first changed field whose value the database
        cannot store, or ``None``."""
        connection = connections[router.db_for_write(type(self))]
        fields = {field.attname: field for field in self._meta.concrete_fields}
        for name in names:
            field, value = fields[name], getattr(self, name)
            try:
                if name == "extended_properties":
                    self._check_extended_properties()
                if isinstance(field, models.JSONField):
                    json.dumps(value, cls=field.encoder)
                field.get_db_prep_save(value, connection)
            except Exception as exc:  # noqa: BLE001 - reported as the job's error
                return name, exc
        return None

    def _finish_results(self, final, state, message):
        """Write the outcome of the claimed processing in one transaction: the fields its
        hooks changed on the instance, then ``completion_time``, the results state and
        the final status in an UPDATE conditional on the claim (``fence``); when that
        finds the claim gone, the transaction is rolled back. A value the database
        cannot store is dropped and the job ends in Error naming it. True when the job
        ended Complete (or Various-Complete) here."""
        fence = self.__dict__.get("_results_fence") or {
            "attempt": self.attempt, "_results_claim": self._results_claim}
        while True:
            plain = [n for n in (self._changed_fields() or []) if n not in STATUS_FIELDS]
            bad = self._unstorable_change(plain)
            if bad is None:
                break
            name, exc = bad
            setattr(self, name, copy.deepcopy(self._loaded_value(name)))
            final, state = st.ERROR, RESULTS_FAILED
            message = (f"Result processing failed: it left a value in {name} that cannot be "
                       f"stored: {exc}")
            logger.error("Job %s: %s", self.pk, message)
        values = {
            "completion_time": timezone.now(),
            "_results_state": state,
            "_results_claim": None,
            "status_message": _short(message) if message else (
                None if self._cleared_problem() else self.status_message
            ),
        }
        same = final == self._status
        try:
            with transaction.atomic():
                # Fields a _process_results hook changed on the instance (results, keys)
                # are kept; the fenced write that follows undoes them (rollback) when the
                # claim is no longer this processing's.
                self._save_changed_plain_fields()
                if same:
                    written = self._write_fenced(fence, **values)
                else:  # sends job_finished itself
                    written = self._write_status(
                        final, reason=message or "results processed", extra=values,
                        from_terminal=True, fence=fence,
                    )
                if not written:
                    raise _Superseded
        except _Superseded:
            self._superseded()
            return False
        if same:
            signals.job_finished.send(sender=type(self), job=self, status=final)
        return final in (st.COMPLETE, st.VARIOUS_COMPLETE)

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
            extra={"completion_time": None, "_results_state": None, "_results_claimed_at": None,
                   "_results_claim": None},
            from_terminal=True,
        )
        return self.process_results()
