"""``TethysJob``: the base job model and its status rules.

Fields, table and column names are those of Tethys Platform 4.6
(``tethys_compute_tethysjob``). The status rules are ours (DESIGN section 3):

* a terminal status never moves back, except through :meth:`TethysJob.resubmit` (and
  :meth:`TethysJob.retry_results` after a failed result processing);
* every status write is a compare-and-swap on the row (``UPDATE ... WHERE _status = old``),
  so a stale in-memory copy never overwrites a newer status;
* ``save()`` on a loaded job writes only the fields that changed since it was loaded;
* reading ``job.status`` asks the engine only when the cached status is older than
  ``update_status_interval``, and writes only when something changed;
* an engine failure while polling is never terminal;
* result processing runs once per completion, claimed with an atomic conditional update,
  and its own failure ends in Error with the reason kept.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core import signing
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals
from .. import status as st
from ..compat import check_constraint
from ..conf import get_config
from ..exceptions import EngineUnavailable, JobStateError, JobUnknownToEngine
from ..functions import function_path, import_function
from .querysets import TethysJobManager
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
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TethysJob(models.Model):
    """Base class of every job (``BasicJob``, ``CondorJob``, ``CondorWorkflow``,
    ``DaskJob`` and app-defined subclasses).

    Create jobs through :meth:`tethys_compute.job_manager.JobManager.create_job`. Read the
    status with :attr:`status` (refreshing from the engine when stale) or
    :attr:`cached_status` (never contacts an engine).

    Subclasses implement the engine hooks ``_execute``, ``_update_status``,
    ``_process_results``, ``_resubmit``, ``_get_logs``, ``stop``, ``pause`` and ``resume``.
    ``_update_status`` may return a status (code or display name) or assign
    ``self._status``; the base class applies it under the rules above. Raising
    :class:`~tethys_compute.exceptions.EngineUnavailable` (or any exception) from it leaves
    the status unchanged and records the message.
    """

    STATUSES = st.STATUSES
    VALID_STATUSES = st.VALID_STATUSES
    DISPLAY_STATUSES = st.DISPLAY_STATUSES
    REVERSE_STATUSES = st.REVERSE_STATUSES

    PRE_RUNNING_STATUSES = st.StatusCategory()
    RUNNING_STATUSES = st.StatusCategory()
    ACTIVE_STATUSES = st.StatusCategory()
    NON_TERMINAL_STATUSES = st.StatusCategory()
    TERMINAL_STATUSES = st.StatusCategory()

    NON_TERMINAL_STATUS_CODES = st.NON_TERMINAL_STATUS_CODES
    TERMINAL_STATUS_CODES = st.TERMINAL_STATUS_CODES
    RESULTS_STATUS_CODES = st.RESULTS_STATUS_CODES
    OTHER_STATUS_KEY = st.OTHER_STATUS_KEY
    STATUS_REPORT_SALT = "tethys_compute.status_report"
    STATUS_REPORT_MAX_AGE = timedelta(days=30)

    # --- Tethys 4.6 fields -------------------------------------------------------------
    name = models.CharField(max_length=1024)
    description = models.CharField(max_length=2048, blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    groups = models.ManyToManyField(
        Group, verbose_name="groups", blank=True, related_name="tethys_jobs"
    )
    label = models.CharField(max_length=1024)
    creation_time = models.DateTimeField(auto_now_add=True)
    execute_time = models.DateTimeField(blank=True, null=True)
    start_time = models.DateTimeField(blank=True, null=True)
    completion_time = models.DateTimeField(blank=True, null=True)
    workspace = models.CharField(max_length=1024, default="")
    extended_properties = models.JSONField(default=dict, null=True, blank=True)
    status_message = models.CharField(max_length=2048, blank=True, null=True)
    _process_results_function = models.CharField(max_length=1024, blank=True, null=True)
    _status = models.CharField(max_length=3, choices=st.STATUSES, default=st.PENDING)
    _last_status_update = models.DateTimeField(blank=True, null=True)

    # --- tethys_compute additions (nullable, so Tethys's own inserts still work) -------
    progress = models.PositiveSmallIntegerField(blank=True, null=True)
    progress_message = models.CharField(max_length=1024, blank=True, null=True)
    _results_state = models.CharField(max_length=8, blank=True, null=True)
    _results_claimed_at = models.DateTimeField(blank=True, null=True)
    refresh_requested_at = models.DateTimeField(blank=True, null=True)
    lease_owner = models.CharField(max_length=64, blank=True, null=True)
    lease_expires = models.DateTimeField(blank=True, null=True)

    objects = TethysJobManager()

    class Meta:
        verbose_name = "Job"
        permissions = [
            ("jobs_table_actions", "Can access job's table endpoints for all jobs."),
        ]
        indexes = [
            models.Index(fields=("label", "user"), name="tc_job_label_user"),
            models.Index(
                fields=("_status",),
                name="tc_job_active",
                condition=Q(_status__in=st.NON_TERMINAL_STATUS_CODES + [st.OTHER]),
            ),
        ]
        constraints = [
            check_constraint(Q(_status__in=st.VALID_STATUSES), "tc_job_status_valid"),
            check_constraint(
                Q(progress__isnull=True) | Q(progress__lte=100), "tc_job_progress_range"
            ),
        ]

    def __str__(self):
        return self.name

    def __lt__(self, other):
        return self.id < other.id

    # --- change tracking ---------------------------------------------------------------
    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._take_snapshot()
        return instance

    def _take_snapshot(self, fields=None):
        loaded = self.__dict__.setdefault("_loaded_values", {})
        for field in self._meta.concrete_fields:
            if fields is not None and field.attname not in fields and field.name not in fields:
                continue
            if field.attname in self.__dict__:
                value = self.__dict__[field.attname]
                loaded[field.attname] = (
                    copy.deepcopy(value) if isinstance(value, (dict, list)) else value
                )

    def _changed_fields(self):
        loaded = self.__dict__.get("_loaded_values")
        if loaded is None:
            return None
        changed = []
        for field in self._meta.concrete_fields:
            if field.primary_key or field.attname not in self.__dict__:
                continue
            if field.attname not in loaded or loaded[field.attname] != self.__dict__[field.attname]:
                changed.append(field.attname)
        return changed

    def save(self, *args, **kwargs):
        """Save the job.

        A new job is inserted (and ``{id}`` in its name filled in). A job loaded from the
        database writes only the fields changed since it was loaded, so saving a stale
        copy never undoes a newer status or result. A changed ``_status`` goes through
        the status rules (:meth:`update_status`) rather than a plain write.
        """
        self._check_extended_properties()
        loaded = "_loaded_values" in self.__dict__
        if self._state.adding or kwargs.get("force_insert") or not loaded:
            return self._save_new(*args, **kwargs)
        if kwargs.get("update_fields") is not None:
            super().save(*args, **kwargs)
            self._take_snapshot(set(kwargs["update_fields"]))
            return None
        changed = self._changed_fields()
        status_change = None
        if "_status" in changed:
            new = self._status
            self._status = self._loaded_values["_status"]
            status_change = new
        plain = [name for name in changed if name not in STATUS_FIELDS]
        if plain:
            super().save(*args, update_fields=plain, **kwargs)
            self._take_snapshot(set(plain))
        if status_change is not None:
            other = (self.extended_properties or {}).get(st.OTHER_STATUS_KEY)
            self.update_status(other if status_change == st.OTHER and other else status_change)
        return None

    def _check_extended_properties(self):
        props = self.extended_properties
        if props is None:
            return
        if not isinstance(props, dict):
            raise ValueError(
                f"Job {self.pk or self.name!r}: extended_properties must be a dict, "
                f"not {type(props).__name__}."
            )
        try:
            json.dumps(props)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Job {self.pk or self.name!r}: extended_properties must hold only JSON "
                f"values (str, number, bool, None, list, dict): {exc}"
            ) from None

    def refresh_from_db(self, using=None, fields=None, **kwargs):
        super().refresh_from_db(using=using, fields=fields, **kwargs)
        self._take_snapshot(set(fields) if fields else None)

    def _save_new(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if "{id}" in (self.name or ""):
            self.name = self.name.replace("{id}", str(self.pk))
            TethysJob._base_manager.filter(pk=self.pk).update(name=self.name)
        self._take_snapshot()

    # --- status constants and helpers --------------------------------------------------
    @classmethod
    def add_custom_pre_running_status(cls, status):
        """Register ``status`` (display text) as pre-running on this class only."""
        st.register_custom_status(cls, status, "pre_running")

    @classmethod
    def add_custom_running_status(cls, status):
        """Register ``status`` (display text) as running (and active) on this class only."""
        st.register_custom_status(cls, status, "running")

    @classmethod
    def add_custom_active_status(cls, status):
        """Register ``status`` (display text) as active on this class only."""
        st.register_custom_status(cls, status, "active")

    @classmethod
    def add_custom_terminal_status(cls, status):
        """Register ``status`` (display text) as terminal on this class only."""
        st.register_custom_status(cls, status, "terminal")

    @property
    def type(self):
        """The job's class name, e.g. ``"CondorWorkflow"``."""
        return type(self).__name__

    @property
    def update_status_interval(self):
        """Minimum ``timedelta`` between two engine queries for this job (default
        ``TETHYS_COMPUTE["UPDATE_STATUS_INTERVAL"]``, 10 s). Settable."""
        interval = self.__dict__.get("_update_status_interval")
        if interval is None:
            interval = timedelta(seconds=get_config()["UPDATE_STATUS_INTERVAL"])
        return interval

    @update_status_interval.setter
    def update_status_interval(self, value):
        if not isinstance(value, timedelta):
            value = timedelta(seconds=float(value))
        self._update_status_interval = value

    @property
    def last_status_update(self):
        """When the status was last checked or changed: ``_last_status_update``, else
        ``execute_time``, else one interval ago (Tethys's rule)."""
        return (
            self._last_status_update
            or self.execute_time
            or timezone.now() - self.update_status_interval
        )

    def is_time_to_update(self):
        """True when the cached status is older than ``update_status_interval``."""
        return timezone.now() - self.last_status_update > self.update_status_interval

    @property
    def other_status(self):
        """The custom text of an ``OTH`` status, or ``None``."""
        if self._status != st.OTHER:
            return None
        return (self.extended_properties or {}).get(st.OTHER_STATUS_KEY)

    @property
    def cached_status(self):
        """Display name of the stored status; never contacts an engine."""
        if self._status == st.OTHER:
            return self.other_status or "Other"
        return st.STATUS_DISPLAY.get(self._status, self._status)

    @property
    def is_terminal(self):
        """True when the job has ended (custom statuses by this class's registry)."""
        if self._status != st.OTHER:
            return self._status in st.TERMINAL_STATUS_CODES
        return self.other_status in type(self).TERMINAL_STATUSES

    @property
    def post_processing_incomplete(self):
        """True when the job reached a results status but its results are not processed."""
        return self._status in st.RESULTS_STATUS_CODES and self.completion_time is None

    @property
    def status(self):
        """The job's status (display name), refreshed from the engine when stale."""
        self.update_status()
        return self.cached_status

    @status.setter
    def status(self, value):
        self.update_status(status=value)

    @property
    def run_time(self):
        """``timedelta`` from start (or execute) to completion (or now), or ``""``."""
        start = self.start_time or self.execute_time
        if not start:
            return ""
        end = self.completion_time or timezone.now()
        return end - start

    # --- tokens --------------------------------------------------------------------------
    @property
    def status_report_token(self):
        """Signed token that lets a compute node report this job's status (and no other)."""
        if self.pk is None:
            raise JobStateError("A job has no status report token until it is saved.")
        return signing.dumps(str(self.pk), salt=self.STATUS_REPORT_SALT)

    @classmethod
    def id_from_status_report_token(cls, token):
        """Return the job id (a ``str``) a token was made for, or ``None`` when the token
        is not a string, is forged, or is older than ``STATUS_REPORT_MAX_AGE`` seconds."""
        if not isinstance(token, str) or not token:
            return None
        try:
            value = signing.loads(
                token, salt=cls.STATUS_REPORT_SALT, max_age=get_config()["STATUS_REPORT_MAX_AGE"]
            )
        except (signing.BadSignature, signing.SignatureExpired, ValueError):
            return None
        return value if isinstance(value, str) else None

    # --- results function ----------------------------------------------------------------
    @property
    def process_results_function(self):
        """The function applied to a job's results when it completes, or ``None``.

        Stored as a dotted path. A path that does not resolve gives ``None`` (logged).
        """
        path = self._process_results_function
        if not path:
            return None
        return _resolve_function(path)

    @process_results_function.setter
    def process_results_function(self, function):
        self._process_results_function = _function_path(function)

    # --- workspace -----------------------------------------------------------------------
    def ensure_workspace(self):
        """Create the job's directory if it does not exist; return it as a ``Path``."""
        from pathlib import Path

        if not self.workspace:
            raise JobStateError(f"Job {self.pk} has no workspace directory set.")
        path = Path(self.workspace)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- status writes -------------------------------------------------------------------
    def _write_status(self, new, *, other=None, reason="", extra=None, from_terminal=False):
        """Move the row from the in-memory status to ``new`` atomically.

        Returns True when this call made the change. Returns False (and reloads the
        status fields) when the row had moved on, or when it is terminal and
        ``from_terminal`` is not set.
        """
        old = self._status
        now = timezone.now()
        values = {"_status": new, "_last_status_update": now}
        if new == st.RUNNING and old in (st.PENDING, st.SUBMITTED) and not self.start_time:
            values["start_time"] = now
        if new in (st.ERROR, st.ABORTED) and not self.completion_time:
            values["completion_time"] = now
        if "status_message" not in (extra or {}):
            values.update(self._cleared_problem())  # a status change ends an engine warning
        values.update(extra or {})
        if new == st.OTHER or old == st.OTHER:
            props = dict(self.extended_properties or {})
            if new == st.OTHER:
                props[st.OTHER_STATUS_KEY] = other
            else:
                props.pop(st.OTHER_STATUS_KEY, None)
            values["extended_properties"] = props
        if self.is_terminal and not from_terminal:
            return False
        rows = TethysJob.objects.filter(pk=self.pk, _status=old)
        with transaction.atomic():
            if not rows.update(**values):
                self._reload_status_fields()
                return False
            JobStatusChange.objects.create(
                job_id=self.pk,
                old_status=old,
                new_status=new,
                other_status=other or "",
                time=now,
                reason=_short(reason),
            )
        for name, value in values.items():
            setattr(self, name, value)
        self._take_snapshot(set(values))
        signals.job_status_changed.send(
            sender=type(self), job=self, old=old, new=new, reason=reason
        )
        if self.is_terminal and self.completion_time and not self.post_processing_incomplete:
            signals.job_finished.send(sender=type(self), job=self, status=new)
        return True

    def _reload_status_fields(self):
        row = (
            TethysJob.objects.filter(pk=self.pk)
            .values(*STATUS_FIELDS, "extended_properties")
            .first()
        )
        if row is None:
            return
        for name, value in row.items():
            setattr(self, name, value)
        self._take_snapshot(set(row))

    def _write_fields(self, **values):
        """Write ``values`` to this job's row (one UPDATE) and keep them in memory."""
        TethysJob.objects.filter(pk=self.pk).update(**values)
        for name, value in values.items():
            setattr(self, name, value)
        self._take_snapshot(set(values))

    def _record_engine_problem(self, message):
        # Kept on the instance for batch callers (the monitor counts failed checks).
        self._refresh_problem = message
        self._write_fields(
            status_message=_short(message), _last_status_update=timezone.now()
        )

    # --- the status algorithm ------------------------------------------------------------
    def update_status(self, status=None, *args, reason="", **kwargs):
        """Apply a status, or refresh it from the engine when it is stale.

        :param status: a code (``"COM"``), a display name (``"Complete"``) or custom text
            (stored as ``OTH``). ``None`` refreshes from the engine, at most once per
            ``update_status_interval``.
        :param reason: why the status changed; kept in the job's status history.
        :returns: True when the status changed.
        :raises ValueError: if ``status`` is given but is not a non-empty string.

        A terminal job never moves back to a non-terminal status here; reporting its
        terminal status again retries result processing if that is incomplete.
        """
        if self.pk is None:
            raise JobStateError("Save the job before updating its status.")
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
    def bulk_update_status(cls, jobs):
        """Refresh the status of many jobs of this class that share a batch key
        (:meth:`status_batch_key`, e.g. one scheduler), all due for a refresh.

        The default refreshes them one by one; engine classes override it to ask their
        engine once for the whole batch (one ``condor_q``/``condor_history``, one Dask
        task-state query).

        :param jobs: a list of jobs of this class.
        :returns: the number of jobs whose status changed.
        """
        return sum(1 for job in jobs if job.update_status())

    def status_batch_key(self):
        """Jobs with equal keys are refreshed together by :meth:`bulk_update_status`;
        engine classes return their scheduler's id."""
        return None

    @classmethod
    def _has_engine(cls):
        return cls._update_status is not TethysJob._update_status

    def _refresh_from_engine(self, *args, **kwargs):
        old = self._status
        old_other = self.other_status
        try:
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
        if reported is None and self._status != old:
            reported = self._status
        self._status = old
        answered = {"_last_status_update": timezone.now(), **self._cleared_problem()}
        if reported is None:
            self._write_fields(**answered)
            return False
        code, other = st.to_code(reported)
        if code == old and other == old_other:
            self._write_fields(**answered)
            return False
        changed = self._write_status(code, other=other, reason="engine status", extra=answered)
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
        self._write_fields(status_message=_short(message))
        return False

    def _cleared_problem(self):
        """``{"status_message": None}`` when the message is a transient engine warning."""
        if (self.status_message or "").startswith(TRANSIENT_MESSAGES):
            return {"status_message": None}
        return {}

    def _after_status_change(self):
        if self._status in st.RESULTS_STATUS_CODES and self.completion_time is None:
            self.process_results()

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
            TethysJob.objects.filter(
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

        :returns: True when this call processed the results successfully.
        """
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

    # --- lifecycle -------------------------------------------------------------------------
    def execute(self, *args, **kwargs):
        """Submit the job to its engine (``_execute``); the job becomes Submitted, or the
        status the engine reports at once (a Dask job is Running).

        A failure ends in Error with the reason in ``status_message`` and is logged; it is
        not raised (as Tethys). The job is saved first if it is new.

        :raises JobStateError: if the job already ran (use :meth:`resubmit`).
        """
        if self._state.adding or self.pk is None:
            self.save()
        if self._status != st.PENDING:
            raise JobStateError(
                f'Job {self.pk} has already been executed (status "{self.cached_status}"); '
                "use resubmit() to run it again."
            )
        before = self._status
        try:
            reported = self._execute(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - recorded as Error, as the API promises
            logger.exception("Job %s: execute failed", self.pk)
            self._status = self._loaded_values.get("_status", before)
            self._save_changed_plain_fields()
            self._write_status(
                st.ERROR,
                reason=f"execute failed: {exc}",
                extra={"status_message": _short(f"Execute failed: {exc}")},
            )
            return None
        self._save_changed_plain_fields()
        if self._loaded_values.get("_status") != before:
            # The hook saved a status of its own (Tethys-style subclasses do).
            self._write_fields(execute_time=timezone.now())
        else:
            new = self._status if self._status != before else (reported or st.SUBMITTED)
            self._status = before
            code, other = st.to_code(new)
            self._write_status(
                code, other=other, reason="submitted", extra={"execute_time": timezone.now()}
            )
        signals.job_submitted.send(sender=type(self), job=self)
        self._after_status_change()
        return None

    def _save_changed_plain_fields(self):
        changed = [n for n in (self._changed_fields() or []) if n not in STATUS_FIELDS]
        if changed:
            super().save(update_fields=changed)
            self._take_snapshot(set(changed))

    def resubmit(self, *args, **kwargs):
        """Run the job again: its status goes back to Pending (times, results state and
        progress cleared), then ``_resubmit`` runs it."""
        self._write_status(
            st.PENDING,
            reason="resubmit",
            extra={
                "execute_time": None,
                "start_time": None,
                "completion_time": None,
                "status_message": None,
                "_results_state": None,
                "_results_claimed_at": None,
                "progress": None,
                "progress_message": None,
            },
            from_terminal=True,
        )
        return self._resubmit(*args, **kwargs)

    def set_progress(self, percent, message=None):
        """Record progress: ``percent`` 0-100 (int or float) and an optional message.

        :raises ValueError: if ``percent`` is not a number between 0 and 100.
        """
        try:
            value = float(percent)
        except (TypeError, ValueError):
            raise ValueError(f"Progress must be a number from 0 to 100, not {percent!r}.") from None
        if not 0 <= value <= 100:
            raise ValueError(f"Progress must be a number from 0 to 100, not {percent!r}.")
        values = {"progress": round(value)}
        if message is not None:
            values["progress_message"] = _short(message, 1024)
        self._write_fields(**values)

    def get_logs(self):
        """Return the job's logs: a dict of name -> text, or name -> dict for groups
        (values may be callables returning the text, as Tethys). Empty when the job has
        none."""
        logs = self._get_logs()
        return {} if logs is None else logs

    def apply_node_statuses(self, status_by_name):
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

    def _stop_remote_work(self):
        """Hook run before the job row is deleted: stop and clean up engine-side work."""
        return None

    def stop(self):
        raise NotImplementedError(f"{self.type} does not implement stop().")

    def pause(self):
        raise NotImplementedError(f"{self.type} does not implement pause().")

    def resume(self):
        raise NotImplementedError(f"{self.type} does not implement resume().")


def _function_path(function):
    """Dotted path to store for a results function (string, or module-level function)."""
    if function is None or function == "":
        return None
    if isinstance(function, str):
        if "." not in function or not all(part.isidentifier() for part in function.split(".")):
            raise ValueError(
                f'"{function}" is not a dotted path to a function '
                '(e.g. "my_app.results.summarize").'
            )
        return function
    return function_path(function, "process_results_function")


def _resolve_function(path):
    function = import_function(path)
    if function is None:
        logger.warning("process_results_function %r cannot be resolved.", path)
    return function
