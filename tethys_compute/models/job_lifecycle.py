"""A job's runs and end (a mixin of ``TethysJob``): ``execute()`` (one atomic claim per
run), ``resubmit()``, progress and logs, the engine hooks subclasses implement, and
``delete()`` (the remote work stopped first)."""

from __future__ import annotations

import contextvars
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import signals
from .. import status as st
from ..conf import get_config
from ..exceptions import JobStateError
from ..failure_kinds import ENGINE as ENGINE_FAILURE
from .job_status import STATUS_FIELDS, _short

logger = logging.getLogger("tethys_compute.jobs")

#: Ids of the jobs being deleted with ``keep_remote_work=True`` (see TethysJob.delete).
KEEP_REMOTE_WORK: contextvars.ContextVar = contextvars.ContextVar(
    "tethys_compute_keep_remote_work", default=frozenset())


class JobLifecycle:
    """``execute()``, ``resubmit()``, the engine hooks and ``delete()`` of ``TethysJob``."""

    if TYPE_CHECKING:  # provided by TethysJob
        from django.db.models.base import ModelState

        pk: Any
        attempt: int
        _state: ModelState
        _status: str
        execute_time: Any

        @property
        def cached_status(self) -> str: ...
        @property
        def type(self) -> str: ...

        def save(self, *args: Any, **kwargs: Any) -> Any: ...
        def active_job_limit(self) -> tuple[int | None, str | None]: ...
        def _claim_run_within_quota(self, args: Any, kwargs: Any) -> bool: ...
        def _resubmit_within_quota(self, args: Any, kwargs: Any) -> bool: ...
        def _loaded_value(self, name: str, default: Any = None) -> Any: ...
        def _take_snapshot(self, fields: Any = None) -> Any: ...
        def _changed_fields(self) -> Any: ...
        def _save_plain_fields(self, names: Any, *args: Any, **kwargs: Any) -> Any: ...
        def _write_status(self, *args: Any, **kwargs: Any) -> Any: ...
        def _write_fields(self, **values: Any) -> Any: ...
        def _after_status_change(self) -> Any: ...
        def _claim_values_ahead(self, now: Any) -> dict: ...
        def _claim_ahead_failed(self) -> None: ...
        def _restore_before_ahead(self) -> None: ...
        def _take_back_ahead(self) -> None: ...
        def _record_ahead(self, new: str, reason: str) -> bool: ...

    # --- lifecycle -------------------------------------------------------------------------
    def execute(self, *args: Any, **kwargs: Any) -> None:
        """Submit the job to its engine (``_execute``); the job becomes Submitted, or the
        status the engine reports at once (a Dask job is Running).

        A failure ends in Error with the reason in ``status_message`` and is logged; it is
        not raised (as Tethys). The job is saved first if it is new.

        The job is claimed first with one conditional UPDATE of its row (Pending and not
        yet claimed; ``attempt`` takes the next number and ``execute_time`` is set), so of
        two concurrent calls on one job, in any processes, one submits and the other
        raises: a job is never submitted twice. A job whose user has no free slot left
        (:mod:`~tethys_compute.models.quotas`) is not submitted: it stays Pending, waiting
        for the monitor to start it.

        :raises JobStateError: if the job already ran or is being submitted by another
            call (use :meth:`resubmit` to run it again).
        """
        if self._state.adding or self.pk is None:
            self._insert_claimed()
        if self._status != st.PENDING:
            raise JobStateError(
                f'Job {self.pk} has already been executed (status "{self.cached_status}"); '
                "use resubmit() to run it again."
            )
        if not self._claim_run_within_quota(args, kwargs):
            return None  # over its user's limit: waits for a free slot (models/quotas.py)
        before = self._status
        try:
            reported = self._execute(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - recorded as Error, as the API promises
            logger.exception("Job %s: execute failed", self.pk)
            self._take_back_ahead()  # the claim's Running, if it wrote one (status_ahead.py)
            self._status = self._loaded_value("_status", before)
            self._save_changed_plain_fields()
            message = _short(f"Execute failed: {exc}")
            failure = {"kind": ENGINE_FAILURE, "message": message,
                       "exception_type": type(exc).__name__}
            self._write_status(
                st.ERROR,
                reason=f"execute failed: {exc}",
                extra={"status_message": message, "failure_kind": ENGINE_FAILURE,
                       "failure_reason": failure},
                failure_kind=ENGINE_FAILURE,
            )
            return None
        self._save_changed_plain_fields()
        if self._loaded_value("_status") != before:
            # The hook saved a status of its own (Tethys-style subclasses do).
            self._take_back_ahead()
            self._write_fields(execute_time=timezone.now())
        else:
            new = self._status if self._status != before else (reported or st.SUBMITTED)
            self._status = before
            code, other = st.to_code(new)
            if other is not None or not self._record_ahead(code, "submitted"):
                self._take_back_ahead()
                self._write_status(
                    code, other=other, reason="submitted",
                    extra={"execute_time": timezone.now()}
                )
        signals.job_submitted.send(sender=type(self), job=self)
        self._after_status_change()
        return None

    def _insert_claimed(self):
        """Insert a new job for ``execute()``: with its first run claimed already
        (``attempt`` 1 and ``execute_time`` in the INSERT) when its user has no limit of
        active jobs, so no claim UPDATE follows: no other call can have claimed a row that
        did not exist. A job under a limit is inserted as it is and claimed (or made to
        wait) by ``_claim_run_within_quota``."""
        if self._status != st.PENDING or self.execute_time is not None or (
                self.active_job_limit()[0] is not None):
            self.save()
            return
        before = self.attempt
        self.attempt, self.execute_time = before + 1, timezone.now()
        ahead = self._claim_values_ahead(self.execute_time)  # (status_ahead.py)
        for name, value in ahead.items():
            setattr(self, name, value)
        try:
            self.save()
        except BaseException:
            self.attempt, self.execute_time = before, None
            self._restore_before_ahead()
            self._claim_ahead_failed()
            raise
        self._restore_before_ahead()
        self.__dict__["_run_claimed"] = self.attempt

    def _claim_run(self):
        """Take this job's next run for this call: one conditional UPDATE (Pending, not
        claimed yet) that increments ``attempt`` and sets ``execute_time``. It names the
        attempt this copy holds, so the new number needs no read-back; a copy whose
        attempt is stale claims with a second UPDATE and reads the number back.

        :raises JobStateError: when another call claimed it first.
        """
        from .tethys_job import TethysJob

        if self.__dict__.pop("_run_claimed", None) == self.attempt:
            return  # resubmit() (or the INSERT of execute()) claimed this run already
        now = timezone.now()
        rows = TethysJob._base_manager.filter(
            pk=self.pk, _status=st.PENDING, execute_time__isnull=True
        )
        # The submission's status too, when the engine knows it (status_ahead.py).
        ahead = self._claim_values_ahead(now)
        if rows.filter(attempt=self.attempt).update(attempt=self.attempt + 1,
                                                    execute_time=now, **ahead):
            self.attempt += 1
        elif rows.update(attempt=F("attempt") + 1, execute_time=now, **ahead):
            self.attempt = TethysJob._base_manager.values_list("attempt", flat=True).get(
                pk=self.pk)
        else:
            self._claim_ahead_failed()
            self._reload_status_fields()
            raise JobStateError(
                f'Job {self.pk} is being submitted or has been already (status '
                f'"{self.cached_status}"); it is not submitted again.'
            )
        self.execute_time = now
        self._take_snapshot({"attempt", "execute_time"})

    def _save_changed_plain_fields(self):
        changed = [n for n in (self._changed_fields() or []) if n not in STATUS_FIELDS]
        self._save_plain_fields(changed)

    def resubmit(self, *args: Any, **kwargs: Any) -> None:
        """Run the job again: its status goes back to Pending (times, results state and
        progress cleared) and ``attempt`` takes the next number, in one conditional
        UPDATE; then ``_resubmit`` runs it.

        Result processing of the previous run that is still going on (its claim is alive)
        is waited for, at most ``TETHYS_COMPUTE["RESUBMIT_WAIT"]`` seconds; a processing
        whose holder died is superseded. Either way no write of the previous run can
        land on the new one (they are fenced to their run).

        :raises JobStateError: when another call resubmitted or executed the job first,
            or the previous run's results were still being processed after the wait.
        """
        from ..run_logs import keep_deferred
        from .tethys_job import TethysJob

        self._start_new_run()
        try:
            if not self._resubmit_within_quota(args, kwargs):
                return None  # over its user's limit: waits for a free slot (models/quotas.py)
            return self._resubmit(*args, **kwargs)
        except BaseException:
            # The new run was claimed but not submitted: let Run or resubmit try again.
            TethysJob._base_manager.filter(
                pk=self.pk, attempt=self.attempt, _status=st.PENDING
            ).update(execute_time=None)
            raise
        finally:
            self.__dict__.pop("_run_claimed", None)
            keep_deferred(self)  # logs of the previous run not kept yet (run_logs.py)

    def _start_new_run(self):
        from time import monotonic, sleep

        # RETRY_REASON imported here: importing retries.py later than quotas.py keeps
        # the retry fields in their place among TethysJob's fields (creation order).
        from .job_status import RESULTS_CLAIMED
        from .retries import RETRY_REASON

        lease = timedelta(seconds=get_config()["RESULTS_LEASE"])
        deadline = monotonic() + get_config()["RESUBMIT_WAIT"]
        attempt = self.attempt
        # A scheduled retry due by then (the monitor's start_due_retries), else resubmit().
        retry_due_by = self.__dict__.get("_retry_due_by")
        while True:
            now = timezone.now()
            in_flight = (
                Q(_results_state=RESULTS_CLAIMED, _results_claimed_at__gte=now - lease)
                # another call's execute() between its claim and its submission
                | Q(_status=st.PENDING, execute_time__gte=now - lease,
                    retry_due_at__isnull=True)
            )
            if retry_due_by is not None:
                fence = Q(retry_due_at__isnull=False, retry_due_at__lte=retry_due_by)
                reason = f"{RETRY_REASON} {self.run_number + 1} of {self.attempts_allowed}"
            else:
                fence, reason = ~in_flight, "resubmit"
            values = {
                "attempt": attempt + 1,
                "execute_time": now,  # claimed for this call: Run is refused meanwhile
                "start_time": None,
                "completion_time": None,
                "status_message": None,
                "_results_state": None,
                "_results_claimed_at": None,
                "_results_claim": None,
                "progress": None,
                "progress_message": None,
                **self._new_run_values(retry=retry_due_by is not None),
            }
            if self._write_status(st.PENDING, reason=reason, extra=values,
                                  from_terminal=True, fence=fence):
                self.__dict__["_run_claimed"] = self.attempt
                self._keep_run_logs(attempt)
                return
            if retry_due_by is not None:
                raise JobStateError(
                    f"Job {self.pk}: its retry was started or cancelled by another call."
                )
            if self.attempt != attempt:
                raise JobStateError(
                    f"Job {self.pk} was resubmitted by another call; it is not submitted again."
                )
            if monotonic() >= deadline:
                raise JobStateError(
                    f"Job {self.pk}: the results of its previous run are still being "
                    "processed; resubmit it when they are done."
                )
            sleep(0.1)

    def get_logs(self) -> dict[str, Any]:
        """Return the job's logs: a dict of name -> text, or name -> dict for groups
        (values may be callables returning the text, as Tethys). Empty when the job has
        none."""
        from ..run_logs import with_earlier_runs

        return with_earlier_runs(self, self._get_logs())  # then "Run 1": {...}, ...

    def apply_node_statuses(self, status_by_name: Any) -> dict[str, str]:
        """Apply reported per-node statuses; only workflows have nodes (returns ``{}``)."""
        return {}

    async def safe_close(self):
        """Hook called after async actions (Tethys 4.3); nothing to close by default."""
        return None

    # --- engine hooks --------------------------------------------------------------------
    def _execute(self, *args, **kwargs):
        return None

    def _update_status(self, *args, **kwargs):
        return None

    def _process_results(self, *args, **kwargs):
        return None

    def _resubmit(self, *args, **kwargs):
        return self.execute(*args, **kwargs)

    def _get_logs(self):
        return {}

    def _keep_run_logs(self, attempt):
        """Keep run ``attempt``'s logs as its next run starts (:mod:`..run_logs`)."""
        from ..run_logs import keep

        keep(self, attempt)

    def delete(self, *args: Any, keep_remote_work: bool = False,
               **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete the job: stop its remote work (``_stop_remote_work``), delete the row,
        then, once that committed, remove its files on a remote host and its own
        directory, and send ``job_deleted``. A queryset ``delete()`` does the same for
        each job, in one transaction.

        :param keep_remote_work: delete the row without stopping the remote work or
            removing its remote files (for an engine that is gone for good).
        :raises RemoteWorkNotStopped: when the remote work could not be stopped
            (``condor_rm`` failed, the engine could not be reached); nothing is deleted.
        """
        token = KEEP_REMOTE_WORK.set(KEEP_REMOTE_WORK.get() | {self.pk}) \
            if keep_remote_work else None
        try:
            # A savepoint: a refusal rolls back this deletion only, not a caller's
            # transaction (Django's own deletion block has none).
            # (Model.delete and a model class once mixed into TethysJob.)
            with transaction.atomic(
                    using=router.db_for_write(type(self))):  # type: ignore[arg-type]
                return super().delete(*args, **kwargs)  # type: ignore[misc]
        finally:
            if token is not None:
                KEEP_REMOTE_WORK.reset(token)

    def _report_is_provisional(self, code):
        """Hook: True when a compute node's report of status ``code`` (a status code) must
        not be written, because only the engine can confirm it (see ``CondorBase``). The
        report is then kept as a request for a prompt refresh. False by default."""
        return False

    def _stop_remote_work(self):
        """Hook run before the job row is deleted: stop engine-side work. Raising
        refuses the deletion (:class:`~tethys_compute.exceptions.RemoteWorkNotStopped`)."""
        return None

    def _remove_remote_files(self):
        """Hook run after the job's deletion committed: remove its files on a remote
        host. A failure is logged."""
        return None

    def stop(self) -> None:
        raise NotImplementedError(f"{self.type} does not implement stop().")

    def pause(self) -> None:
        raise NotImplementedError(f"{self.type} does not implement pause().")

    def resume(self) -> None:
        raise NotImplementedError(f"{self.type} does not implement resume().")

