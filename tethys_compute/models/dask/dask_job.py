"""``DaskJob``: one task on a ``distributed`` cluster (table ``tethys_compute_daskjob``).

Lifecycle (all engine calls go through :mod:`tethys_compute.engines.dask`):

* ``execute(work, *args, **kwargs)`` submits a ``Delayed``, a ``Future`` or a function
  with its arguments under a key of its own, holds the key on the scheduler so that the
  task runs and keeps its outcome even if this process exits, writes what is needed to
  rebuild the work into the job's own directory, and leaves the job Running.
* Status comes from the scheduler by key (:meth:`_update_status`, or
  :meth:`bulk_update_status` with one query per scheduler), or from the scheduler plugin
  (:meth:`apply_reported_transition`, token-checked by the view). States map as
  :mod:`.dask_status_map` says.
* Results are gathered once (``TETHYS_COMPUTE["DASK_RESULT_TIMEOUT"]`` seconds), passed
  through ``process_results_function`` when set, stored as JSON, and the task is released.
"""

from __future__ import annotations

import logging

from django.db import models, transaction

from ... import status as st
from ...conf import get_config
from .. import status_ahead
from ..tethys_job import TethysJob
from . import dask_escalation, dask_output, dask_refresh
from . import dask_job_status as job_status
from . import dask_status_map as smap
from .dask_field import DaskSerializedField, encode
from .dask_job_exception import DaskJobException
from .dask_refresh import TaskAnswer
from .dask_scheduler import DaskScheduler
from .dask_token import make_token

logger = logging.getLogger("tethys_compute.dask")

class DaskJob(TethysJob):
    """A job run as one task on a ``distributed`` cluster.

    Fields (Tethys's): ``key`` (the task key), ``scheduler`` (a :class:`DaskScheduler`),
    ``forget`` (True: do not fetch the result; the job completes with ``result`` None),
    ``result`` (the result as stored: JSON, see
    :class:`~tethys_compute.models.dask.dask_field.DaskSerializedField`).

    ``process_results_function``, when set, is called with the task's result (as in
    Tethys; other job types call it with the job) and its return value is stored.
    """

    key = models.CharField(max_length=1024, null=True)
    scheduler = models.ForeignKey(DaskScheduler, on_delete=models.SET_NULL, blank=True, null=True)
    forget = models.BooleanField(default=False)
    result = DaskSerializedField(blank=True, null=True)

    DASK_TO_STATUS_TYPES = smap.DASK_TO_STATUS_TYPES

    # --- engine access -----------------------------------------------------------------
    def _require_scheduler(self) -> DaskScheduler:
        scheduler = self.scheduler
        if scheduler is None:
            raise DaskJobException(
                f"Dask job {self.pk} has no scheduler: set job.scheduler to a DaskScheduler "
                "(e.g. app.get_scheduler(...)) before executing it."
            )
        return scheduler

    @property
    def client(self):
        """The process's shared ``distributed.Client`` for the job's scheduler (Tethys's
        property; Tethys starts a new LocalCluster here when no scheduler is set, we
        raise :class:`DaskJobException`). Do not close it."""
        return self._require_scheduler().client

    @property
    def future(self):
        """A ``distributed.Future`` following the job's task, or ``None`` before
        execution. Its status tracks the task even when another process submitted it."""
        if not self.key:
            return None
        from ...engines.dask import tasks

        cached = self.__dict__.get("_future")
        if cached is None or cached.key != self.key:
            scheduler = self._require_scheduler()
            with scheduler.connection() as client:
                cached = tasks.future_for_key(client, self.key, scheduler.call_timeout)
            self.__dict__["_future"] = cached
        return cached

    #: Seconds between scheduler queries: ``TETHYS_COMPUTE["DASK_UPDATE_STATUS_INTERVAL"]``
    #: (0, as Tethys: a Dask status query is one cheap scheduler call).
    UPDATE_STATUS_INTERVAL_SETTING = "DASK_UPDATE_STATUS_INTERVAL"

    @property
    def status_token(self) -> str:
        """The token the scheduler plugin must show to report this job's current task
        (bound to the job id and its key). Given to the scheduler at submit time."""
        if self.pk is None or not self.key:
            raise DaskJobException("A Dask job has no status token until it is executed.")
        return make_token(self.pk, self.key)

    # --- batch refresh -------------------------------------------------------------------
    def status_batch_key(self):
        """Jobs of one scheduler are refreshed together (one task-state query)."""
        return self.scheduler_id

    @classmethod
    def bulk_update_status(cls, jobs):
        """Refresh many Dask jobs with ONE task-state query per scheduler (plus one
        exception-text query if some tasks erred, and one gather per 64 finished
        results), then apply each job's answer through the normal status rules.

        :param jobs: Dask jobs (any schedulers).
        :returns: the number of jobs whose status changed.
        """
        return dask_refresh.bulk_refresh(jobs)

    def _prefetched_answer(self):
        return self.__dict__.get("_dask_answer")

    # --- execute -------------------------------------------------------------------------
    def execute(self, *args, **kwargs):
        """Run the job's work as one task on its scheduler's cluster.

        ``job.execute(work, *args, **kwargs)`` where ``work`` is a ``dask.delayed``
        ``Delayed`` or a ``distributed.Future`` (as Tethys; no further arguments then), or
        a function, called on a worker with ``*args, **kwargs``. The task gets a key of
        its own (``<name>-<32 hex>``), is held on the scheduler until its outcome is
        stored (it keeps running if this process exits), and a signed pickle of the work
        is written to the job's directory for :meth:`resubmit` (not for a Future).

        The job ends Running (Tethys 4.6 ends Submitted), or Error with the reason in
        ``status_message`` when the work is not one of the above, the scheduler cannot be
        reached or the submission fails; as in Tethys, such failures are not raised.

        The job's row, its key and its status are written in one transaction (one
        commit); the scheduler connection is opened before it, so no transaction waits
        on the network. The run's claim writes Running with it (the INSERT of a new job,
        or the claim's conditional UPDATE of a saved one; :mod:`..status_ahead`), taken
        back in the same transaction if the submission fails. Should that write fail
        after the task was submitted, the task is cancelled, never left running without
        a job, and the error is raised.

        :raises JobStateError: the job was executed already (use :meth:`resubmit`).
        """
        from ...engines.dask import tasks
        from ...engines.dask.computation import Computation

        if self.scheduler_id is not None:
            try:
                with self.scheduler.connection():
                    pass
            except DaskJobException:
                pass  # execute() records the failure on the job
        try:
            computation = Computation.from_call(*args, **kwargs)
        except ValueError:
            computation = None  # _execute() raises it again: recorded as the job's error
        else:
            args, kwargs = (computation,), {}
            # Chosen now so that a new job's row is inserted with it (no UPDATE later).
            self.__dict__["_planned_key"] = tasks.new_key(computation.name)
            if self._state.adding or self.pk is None:
                self.key = self.__dict__["_planned_key"]
            if (type(self)._execute is DaskJob._execute
                    and type(self)._submit is DaskJob._submit):
                # A submission reports Running: written with the claim, in this
                # transaction (models/status_ahead.py).
                self.__dict__[status_ahead.AHEAD] = st.RUNNING
        try:
            with transaction.atomic():
                super().execute(*args, **kwargs)
                if "_submitted_key" not in self.__dict__ and self.key:
                    # Submission failed: the key chosen for the row never ran.
                    DaskJob.objects.filter(pk=self.pk).update(key=None)
                    self.key = None
                    self._take_snapshot({"key"})
            return None
        except Exception:
            key = self.__dict__.pop("_submitted_key", None)
            if key:
                try:
                    self._cancel_task(key)
                except DaskJobException:
                    logger.exception("Job %s: cancelling orphaned task %s failed", self.pk, key)
            raise
        finally:
            self.__dict__.pop("_submitted_key", None)
            self.__dict__.pop("_planned_key", None)
            self.__dict__.pop(status_ahead.AHEAD, None)
            self.__dict__.pop(status_ahead.WRITTEN, None)

    # --- waiting for a free slot (models/quotas.py) -------------------------------------
    def _claim_run_within_quota(self, args, kwargs):
        """A Future runs on the cluster already: it is never held back (it counts)."""
        work = args[0] if args else None
        if getattr(work, "is_future", False):
            self._claim_run()
            self._clear_quota_wait()
            return True
        return super()._claim_run_within_quota(args, kwargs)

    def _quota_call_value(self, args, kwargs):
        """The work is kept in the job's directory (the signed pickle ``resubmit()``
        reads), not in the row.

        :raises DaskJobException: the job has no directory, or the work cannot be pickled.
        """
        from ...engines.dask.computation import Computation

        work = args[0] if args else self.__dict__.get("_resubmit_with")
        if not isinstance(work, Computation):
            return super()._quota_call_value(args, kwargs)
        if not self.workspace:
            raise DaskJobException(
                f"Dask job {self.pk} must wait for a free slot and has no directory to "
                "keep its work in until it starts.")
        work.save(self.workspace)
        return {"stored_work": True}

    def _quota_call_arguments(self):
        from ...engines.dask.computation import Computation

        if (self.quota_call or {}).get("stored_work"):
            return [Computation.load(self.workspace)], {}
        return super()._quota_call_arguments()

    def _execute(self, work=None, *args, **kwargs):
        from ...engines.dask.computation import Computation

        computation = work if isinstance(work, Computation) else Computation.from_call(
            work, *args, **kwargs
        )
        return self._submit(computation)

    def _submit(self, computation):
        from ...engines.dask import tasks

        scheduler = self._require_scheduler()
        if self.workspace:
            computation.save(self.workspace)
        with scheduler.connection() as client:
            key = self.__dict__.pop("_planned_key", None) or tasks.new_key(computation.name)
            annotation = {"key": key, "token": make_token(self.pk, key)}
            limit = dask_output.capture_for(self, computation, key)
            try:
                # Sent at once; the scheduler's plugin holds the task as it arrives
                # (engines/dask/hold_plugin.py). A task that never arrives (the process
                # died first, or the scheduler refused it) is unknown to the engine: the
                # status rules end the run as lost after LOST_JOB_GRACE.
                tasks.submit(client, computation.work, *computation.args, key=key,
                             annotation=annotation, accept_timeout=scheduler.call_timeout,
                             capture_limit=limit, **computation.kwargs)
            except DaskJobException:
                self._forget_unaccepted(client, key)
                raise
        self.__dict__["_submitted_key"] = key
        self.key = key
        self.result = None
        return st.RUNNING

    def _forget_unaccepted(self, client, key):
        """A submission that failed or went unconfirmed: cancel the key, so that a task
        the scheduler takes in late never runs without its job."""
        from ...engines.dask import tasks

        try:
            tasks.cancel(client, [key], reason=f"tethys_compute job {self.pk}: submission failed")
        except DaskJobException:
            logger.info("Job %s: cancelling unconfirmed task %s failed", self.pk, key)

    # --- status --------------------------------------------------------------------------
    def _update_status(self, *args, **kwargs):
        if self._status == st.PENDING or not self.key:
            return None  # not submitted yet (or being submitted right now)
        if self.scheduler_id is None:
            self._write_fields(status_message=(
                f"The job's Dask scheduler was deleted; task {self.key} cannot be followed."
            ))
            return st.ERROR
        answer = self._prefetched_answer()
        if answer is None:
            answer = self._query_answer()
        return job_status.status_from_answer(self, answer)

    def _query_answer(self) -> TaskAnswer:
        from ...engines.dask import tasks

        scheduler = self._require_scheduler()
        with scheduler.connection() as client:
            state = tasks.task_states(client, [self.key], scheduler.call_timeout)[self.key]
        return TaskAnswer(state)

    def done(self):
        """True when the task has finished (successfully or not) or the job has ended;
        ``None`` when the job has no task (never executed), as Tethys."""
        if not self.key:
            return None
        if self.is_terminal:
            return True
        if not self.key or self._status == st.PENDING:
            return False
        return self._query_answer().state in ("memory", "erred")

    # --- pushed transitions (the view checked the token) ---------------------------------
    def apply_reported_transition(self, start, finish, exception=None, cancelled=False):
        """Apply a transition the scheduler plugin reported with this job's valid token.

        ``processing``/``no-worker`` and other waiting states: Running; ``memory``:
        Results-Ready, then the result is gathered (with the result timeout) and
        processed; ``erred``: Error with ``exception`` as the reason; a cancellation:
        Aborted. A running task reported released or forgotten is not taken as final: the
        job is re-checked from the scheduler instead. Nothing changes once the job is
        terminal.

        :returns: True when the job's status changed.
        """
        return job_status.apply_reported_transition(self, start, finish, exception, cancelled)

    def refresh_from_scheduler(self):
        """Ask the scheduler now, ignoring ``update_status_interval`` (the status rules
        still apply). Returns True when the status changed."""
        if self.is_terminal or self._status == st.PENDING:
            return False
        return self._refresh_from_engine()

    # --- results -------------------------------------------------------------------------
    def _process_results(self, *args, **kwargs):
        self.__dict__["_gathered"] = None
        if self.forget or not self.key:
            return None
        answer = self._prefetched_answer()
        if answer is not None and answer.error is not None:
            raise answer.error  # the scheduler did not answer: retried later
        if answer is not None and answer.has_result:
            self.__dict__["_gathered"] = answer.result
            return None
        self.__dict__["_gathered"] = self._gather_result()
        return None

    def _results_at_hand(self):
        """The result is at hand when the batch's answer holds it (or ``forget`` wants
        none), no ``process_results_function`` is set, the class keeps DaskJob's own
        processing, and the value can be stored: it is set on ``result``."""
        kind = type(self)
        if (kind._process_results is not DaskJob._process_results
                or kind._apply_results_function is not DaskJob._apply_results_function
                or self._process_results_function):
            return False
        value = None
        if not self.forget and self.key:
            answer = self._prefetched_answer()
            if answer is None or answer.error is not None or not answer.has_result:
                return False
            value = answer.result
        try:
            encode(value)
        except Exception:  # noqa: BLE001 - the processing records why as the job's error
            return False
        self.result = value
        return True

    def _results_stored(self):
        self._schedule_release()

    def _gather_result(self):
        from ...engines.dask import tasks

        scheduler = self._require_scheduler()
        timeout = get_config()["DASK_RESULT_TIMEOUT"]
        with scheduler.connection() as client:
            try:
                return tasks.gather(client, [self.key], timeout)[self.key]
            except tasks.ResultsMissing:
                state = tasks.task_states(client, [self.key], scheduler.call_timeout)
                if state.get(self.key) is None:
                    raise DaskJobException(
                        f"The result of task {self.key} was lost: the Dask scheduler at "
                        f"{scheduler.address} no longer knows the task."
                    ) from None
                raise  # its worker left; the held task is computed again: retried later

    def _apply_results_function(self):
        value = self.__dict__.pop("_gathered", None)
        if self.forget:
            self.result = None
            return
        function = self.process_results_function
        if function is not None:
            value = function(value)
        try:
            encode(value)
        except Exception as exc:  # noqa: BLE001 - reported as the job's error
            reason = "; ".join(getattr(exc, "messages", None) or [str(exc)])
            raise DaskJobException(f"The result cannot be stored: {reason}") from exc
        self.result = value

    def process_results(self, *args, **kwargs):
        """Gather the result once, apply ``process_results_function`` (to the result, as
        Tethys), store it, then release the task. On failure the job is Error with the
        reason and the task is kept so that :meth:`retry_results` can run again."""
        try:
            done = super().process_results(*args, **kwargs)
        finally:
            self.__dict__.pop("_gathered", None)
        if done:
            self._schedule_release()
        return done

    def _schedule_release(self):
        """Release the task once the job's writes are committed (within a batch refresh,
        together with the batch's other tasks: one message)."""
        batch = self.__dict__.get("_dask_release_batch")
        if batch is not None:
            key = self.key
            transaction.on_commit(lambda: batch.append(key))
        else:
            transaction.on_commit(self._release_task)

    def _release_task(self):
        from ...engines.dask import output, tasks

        if not self.key or self.scheduler_id is None:
            return
        try:
            with self.scheduler.connection() as client:
                tasks.release(client, [self.key], self.scheduler.call_timeout)
                if dask_output.is_captured(self):
                    dask_refresh._discard(output, client, [self.key],
                                          self.scheduler.call_timeout)
        except DaskJobException as exc:
            logger.warning("Job %s: releasing task %s failed: %s", self.pk, self.key, exc)

    # --- control -------------------------------------------------------------------------
    def stop(self):
        """Cancel the task and mark the job Aborted. Nothing happens to a finished job.

        :raises DaskSchedulerUnavailable: the scheduler cannot be reached (the job keeps
            its status).
        """
        if self.is_terminal:
            return
        if self.key and self.scheduler_id is not None:
            self._cancel_task(self.key)
        self.update_status(st.ABORTED, reason="stopped: task cancelled")

    def _cancel_task(self, key):
        from ...engines.dask import tasks

        scheduler = self._require_scheduler()
        with scheduler.connection() as client:
            tasks.cancel(client, [key], reason=f"tethys_compute job {self.pk} stopped",
                         timeout=scheduler.call_timeout)

    def pause(self):
        """Not supported: distributed cannot suspend a task."""
        raise NotImplementedError(
            "Pausing is not supported for Dask jobs: a distributed task cannot be suspended. "
            "Use stop() and resubmit() instead."
        )

    def resume(self):
        """Not supported: Dask jobs cannot be paused."""
        raise NotImplementedError(
            "Resuming is not supported for Dask jobs: they cannot be paused."
        )

    def resubmit(self, *args, **kwargs):
        """Run the job again as a new task (new key, new token): with the work given, or
        else the work stored in the job's directory at the last ``execute()`` (also after
        the first task was released). A task still running is cancelled first.

        :raises DaskJobException: nothing is given and no valid stored work exists (e.g.
            the job ran a Future); the job is left unchanged.
        """
        from ...engines.dask.computation import Computation

        if args or kwargs:
            computation = Computation.from_call(*args, **kwargs)
        elif self.workspace:
            computation = dask_escalation.for_retry(self, Computation.load(self.workspace))
        else:
            raise DaskJobException(
                f"Dask job {self.pk} has no directory holding its work; pass the work: "
                "job.resubmit(work, *args)."
            )
        self.__dict__["_resubmit_with"] = computation
        try:
            return super().resubmit()
        finally:
            self.__dict__.pop("_resubmit_with", None)

    def _resubmit(self, *args, **kwargs):
        computation = self.__dict__.get("_resubmit_with")
        # Cancel the previous task only now that the job is Pending again: a report of
        # that cancellation then finds the job being resubmitted, not running.
        old_key = self.key
        if old_key and self.scheduler_id is not None:
            try:
                self._cancel_task(old_key)
            except DaskJobException as exc:
                logger.warning("Job %s: cancelling task %s failed: %s", self.pk, old_key, exc)
        self.result = None
        return self.execute(computation)

    def retry(self):
        """Tethys's name for running the job again: :meth:`resubmit`."""
        return self.resubmit()

    def _stop_overdue_run(self, attempt):
        """The run went over ``max_run_time``: cancel its task (the key this copy holds,
        the overdue run's even if a retry has started since)."""
        if self.key and self.scheduler_id is not None:
            self._cancel_task(self.key)

    def _stop_remote_work(self):
        """Before the row is deleted: cancel the task. For an active job a failure (the
        scheduler cannot be reached) refuses the deletion; a finished job's task runs no
        more (its end came from the scheduler), so a failure to cancel it (to free its
        result) is only logged."""
        if not self.key or self.scheduler_id is None:
            return
        if not self.is_terminal:
            self._cancel_task(self.key)
            return
        try:
            self._cancel_task(self.key)
        except Exception as exc:  # noqa: BLE001 - nothing runs; the deletion goes on
            logger.warning("Job %s: the finished task %s could not be cancelled: %s",
                           self.pk, self.key, exc)

    # --- logs ----------------------------------------------------------------------------
    def _get_logs(self):
        return job_status.task_logs(self)

    def _run_log_extra(self):
        """The ending run's task key: its output stays in ``dask_output/<key>/``."""
        return {"dask_key": self.key} if self.key else {}

    def _run_logs_from(self, manifest):
        """An earlier run's stored output, from its kept key (:mod:`...run_logs`)."""
        from ...run_logs import dask_run_logs

        return dask_run_logs(self, manifest.get("dask_key"))
