"""``TethysJob``: the base job model (its status rules are in ``job_status`` and
``job_results``).

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
  and its own failure ends in Error with the reason kept;
* ``execute()`` claims the job atomically (one winner), each run gets its own
  ``attempt`` number, and every write of a run's result processing is fenced to that
  run and to the claim it holds.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core import signing
from django.db import models, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import signals
from .. import status as st
from ..bounded import NamePrefixIndex
from ..conf import get_config
from ..exceptions import JobStateError
from ..failure_kinds import ENGINE as ENGINE_FAILURE
from ..functions import function_path, import_function
from ..notifications.fields import NotifyFields
from .change_tracking import ChangeTracking
from .job_results import JobResults
from .job_status import STATUS_FIELDS, JobStatusRules, _short
from .lean_insert import LeanInsert
from .querysets import TethysJobManager
from .quotas import QuotaWait
from .retries import RETRY_REASON, RetryPolicy
from .usage import JobUsage
from .validation import check_fields, no_nul

logger = logging.getLogger("tethys_compute.jobs")

#: Ids of the jobs being deleted with ``keep_remote_work=True`` (see TethysJob.delete).
KEEP_REMOTE_WORK: contextvars.ContextVar = contextvars.ContextVar(
    "tethys_compute_keep_remote_work", default=frozenset())



_CLASS_MAX_AGE = object()


class _SettingMaxAge:
    """``TethysJob.STATUS_REPORT_MAX_AGE`` by default: the setting, read at each use."""

    def __get__(self, instance, owner):
        return timedelta(seconds=get_config()["STATUS_REPORT_MAX_AGE"])

class TethysJob(ChangeTracking, LeanInsert, JobStatusRules, JobResults, RetryPolicy,
                NotifyFields, QuotaWait, JobUsage, models.Model):
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
    #: How long a status report token stays valid (``timedelta``). By default the
    #: ``STATUS_REPORT_MAX_AGE`` setting (30 days); a job class may set its own, which
    #: counts for its jobs' tokens (Tethys reads it on the class too).
    STATUS_REPORT_MAX_AGE = _SettingMaxAge()

    # --- Tethys 4.6 fields -------------------------------------------------------------
    name = models.CharField(max_length=1024)
    description = models.CharField(max_length=2048, blank=True, default="")
    # No index of its own: tc_job_user_created (user, creation_time) serves every lookup by
    # user (one index fewer to write for each new job).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             db_index=False)
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
    #: The job's run counter: 0 before its first run; each execute() and resubmit()
    #: takes the next number atomically, and every write made on behalf of a run (its
    #: result processing above all) is fenced to that number.
    attempt = models.PositiveIntegerField(default=0, db_default=0)
    # The token of the result-processing claim being held (a fencing token).
    _results_claim = models.CharField(max_length=32, blank=True, null=True)
    #: The text of a custom (``OTH``) status. Tethys keeps it in
    #: ``extended_properties["__other_status__"]``, where a plain save of a stale copy
    #: could erase it; here it is a status field, written only by status writes.
    _other_status = models.CharField(max_length=1024, blank=True, null=True)

    objects = TethysJobManager()

    class Meta:
        verbose_name = "Job"
        permissions = [
            ("jobs_table_actions", "Can access job's table endpoints for all jobs."),
        ]
        # Each index on (label, x) ends with id: pages order ties by id, and PostgreSQL
        # (unlike SQLite, whose index entries end with the rowid) otherwise sorts every
        # row sharing x (a whole status: 280,000 rows at 1,000,000 jobs).
        indexes = [
            models.Index(fields=("label", "user", "id"), name="tc_job_label_user"),
            # A whole app's first page, by id or newest first, without sorting its rows.
            models.Index(fields=("label", "id"), name="tc_job_label_id"),
            models.Index(fields=("label", "creation_time", "id"), name="tc_job_label_created"),
            # The admin's date drill-down reads the oldest and newest job from it.
            models.Index(fields=("creation_time",), name="tc_job_created"),
            # A whole app's table sorted by name or status; the admin's newest jobs of one
            # user, status or failure kind (issue 17: no sort of every matching row).
            models.Index(fields=("label", "name", "id"), name="tc_job_label_name"),
            models.Index(fields=("label", "_status", "id"), name="tc_job_label_status"),
            models.Index(fields=("user", "creation_time"), name="tc_job_user_created"),
            models.Index(fields=("_status", "creation_time"), name="tc_job_status_created"),
            models.Index(fields=("failure_kind", "creation_time"), name="tc_job_failure_created"),
            # Search by the start of a name, any case (tethys_compute/bounded.py).
            NamePrefixIndex(fields=("name",), name="tc_job_name_prefix"),
            # Set on few jobs, NULL on every new one: partial, so an INSERT writes neither
            # (each index an INSERT writes costs it; a filter with retry_due_at <= t or
            # quota_waiting_since IS NOT NULL implies the condition, on SQLite and
            # PostgreSQL alike).
            models.Index(fields=("retry_due_at",), name="tc_job_retry_due",
                         condition=Q(retry_due_at__isnull=False)),
            models.Index(fields=("quota_waiting_since",), name="tc_job_quota_waiting",
                         condition=Q(quota_waiting_since__isnull=False)),
            models.Index(
                fields=("_status",),
                name="tc_job_active",
                condition=Q(_status__in=st.MAYBE_ACTIVE_STATUS_CODES),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(_status__in=st.VALID_STATUSES), name="tc_job_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress__isnull=True) | Q(progress__lte=100),
                name="tc_job_progress_range",
            ),
        ]

    def __str__(self):
        return self.name

    def __lt__(self, other):
        return self.id < other.id

    def save(self, *args, **kwargs):
        """Save the job.

        A new job is inserted (and ``{id}`` in its name filled in). A job loaded from the
        database writes only the fields changed since it was loaded, so saving a stale
        copy never undoes a newer status or result. A changed ``_status`` goes through
        the status rules (:meth:`update_status`) rather than a plain write.

        :raises InvalidField: (a ``ValidationError`` and ``ValueError``) naming each field
            whose value cannot be stored (too long, NUL characters, out of range); nothing
            is written.
        """
        self._check_extended_properties()
        if self._state.adding or kwargs.get("force_insert") or not self._is_tracked():
            check_fields(self)
            return self._save_new(*args, **kwargs)
        check_fields(self, kwargs.get("update_fields") or self._changed_fields())
        if kwargs.get("update_fields") is not None:
            fields = list(kwargs.pop("update_fields"))
            if "extended_properties" in fields:
                fields.remove("extended_properties")
                self._merge_extended_properties()
                if not fields:
                    return None
            super().save(*args, update_fields=fields, **kwargs)
            self._take_snapshot(set(fields))
            return None
        changed = self._changed_fields()
        status_change = None
        if "_status" in changed:
            new = self._status
            self._status = self._loaded_value("_status")
            status_change = new
        plain = [name for name in changed if name not in STATUS_FIELDS]
        self._save_plain_fields(plain, *args, **kwargs)
        if status_change is not None:
            other = self._other_status or (self.extended_properties or {}).get(
                st.OTHER_STATUS_KEY)
            self.update_status(other if status_change == st.OTHER and other else status_change)
        return None

    def _save_plain_fields(self, names, *args, **kwargs):
        """Write the changed non-status fields ``names``: ``extended_properties`` as a
        merge of this copy's own changes into the stored value (:meth:`_merge_extended_properties`),
        the others with ``update_fields``."""
        names = list(names)
        if "extended_properties" in names:
            names.remove("extended_properties")
            self._merge_extended_properties()
        if names:
            super().save(*args, update_fields=names, **kwargs)
            self._take_snapshot(set(names))

    def _merge_extended_properties(self):
        """Write the keys of ``extended_properties`` this copy added, changed or removed
        since it was loaded into the stored dict, keeping the keys other processes wrote
        meanwhile (a change to one key replaces that key's whole value).

        One transaction: a no-op ``UPDATE`` of the row first takes its write lock (the
        row's on PostgreSQL and MySQL, the database's on SQLite), then the stored dict is
        read, merged and written; a concurrent merge waits for it. A dict replaced by
        ``None`` (or a row loaded with ``None``) is written as it is.
        """
        current = self.extended_properties
        loaded = self._loaded_value("extended_properties")
        if current is None:
            TethysJob._base_manager.filter(pk=self.pk).update(extended_properties=None)
            self._take_snapshot({"extended_properties"})
            return
        loaded = loaded if isinstance(loaded, dict) else {}
        changed = {k: v for k, v in current.items() if k not in loaded or loaded[k] != v}
        removed = [k for k in loaded if k not in current]
        merged = self.merge_extended_properties(changed, removed)
        # The same dict, updated: a caller holding it keeps changing the job's own value.
        current.clear()
        current.update(merged)
        self._take_snapshot({"extended_properties"})

    def merge_extended_properties(self, changed: dict | None = None,
                                  removed: Iterable[str] = ()) -> dict:
        """Set the keys ``changed`` (a dict) and remove the keys ``removed`` in the stored
        ``extended_properties`` of this job, keeping every other stored key, atomically
        (see :meth:`save`). This instance is not changed.

        :returns: the stored dict after the merge.
        """
        # TethysJob's own table: one single-table UPDATE takes the lock first (a subclass
        # queryset would read the parent's ids first, and on SQLite a transaction that read
        # before it writes can fail at once instead of waiting).
        model = TethysJob._base_manager
        with transaction.atomic(using=router.db_for_write(TethysJob)):
            rows = model.filter(pk=self.pk)
            rows.update(extended_properties=F("extended_properties"))  # the write lock
            stored = rows.values_list("extended_properties", flat=True).first()
            merged = dict(stored) if isinstance(stored, dict) else {}
            for key in removed:
                merged.pop(key, None)
            merged.update(changed or {})
            rows.update(extended_properties=merged)
        return merged

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

    def _save_new(self, *args, **kwargs):
        props = self.extended_properties
        if isinstance(props, dict) and st.OTHER_STATUS_KEY in props:
            # A row made the Tethys way: its custom status text goes to its own column.
            text = props.pop(st.OTHER_STATUS_KEY)
            if not self._other_status and text:
                self._other_status = _short(text, 1024)
        super().save(*args, **kwargs)
        if "{id}" in (self.name or ""):
            self.name = self.name.replace("{id}", str(self.pk))
            TethysJob._base_manager.filter(pk=self.pk).update(name=self.name)
        self._take_snapshot()

    # --- status constants and helpers --------------------------------------------------
    @classmethod
    def add_custom_pre_running_status(cls, status: str) -> None:
        """Register ``status`` (display text) as pre-running on this class only."""
        st.register_custom_status(cls, status, "pre_running")

    @classmethod
    def add_custom_running_status(cls, status: str) -> None:
        """Register ``status`` (display text) as running (and active) on this class only."""
        st.register_custom_status(cls, status, "running")

    @classmethod
    def add_custom_active_status(cls, status: str) -> None:
        """Register ``status`` (display text) as active on this class only."""
        st.register_custom_status(cls, status, "active")

    @classmethod
    def add_custom_terminal_status(cls, status: str) -> None:
        """Register ``status`` (display text) as terminal on this class only."""
        st.register_custom_status(cls, status, "terminal")

    @property
    def type(self) -> str:
        """The job's class name, e.g. ``"CondorWorkflow"``."""
        return type(self).__name__

    #: The ``TETHYS_COMPUTE`` key giving this class's ``update_status_interval``.
    UPDATE_STATUS_INTERVAL_SETTING = "UPDATE_STATUS_INTERVAL"

    @property
    def update_status_interval(self) -> timedelta:
        """Minimum ``timedelta`` between two engine queries for this job: the setting named
        by ``UPDATE_STATUS_INTERVAL_SETTING`` (``TETHYS_COMPUTE["UPDATE_STATUS_INTERVAL"]``,
        10 s, for most classes), unless set on the instance. Settable."""
        interval = self.__dict__.get("_update_status_interval")
        if interval is None:
            interval = timedelta(seconds=get_config()[self.UPDATE_STATUS_INTERVAL_SETTING])
        return interval

    @update_status_interval.setter
    def update_status_interval(self, value: timedelta | float) -> None:
        if not isinstance(value, timedelta):
            value = timedelta(seconds=float(value))
        self._update_status_interval = value

    @property
    def last_status_update(self) -> datetime:
        """When the status was last checked or changed: ``_last_status_update``, else
        ``execute_time``, else one interval ago (Tethys's rule)."""
        return (
            self._last_status_update
            or self.execute_time
            or timezone.now() - self.update_status_interval
        )

    def is_time_to_update(self) -> bool:
        """True when the cached status is older than ``update_status_interval``."""
        return timezone.now() - self.last_status_update > self.update_status_interval

    @property
    def other_status(self) -> str | None:
        """The custom text of an ``OTH`` status, or ``None``."""
        if self._status != st.OTHER:
            return None
        # Rows written by Tethys itself keep the text in extended_properties.
        return self._other_status or (self.extended_properties or {}).get(st.OTHER_STATUS_KEY)

    @property
    def cached_status(self) -> str:
        """Display name of the stored status; never contacts an engine."""
        if self._status == st.OTHER:
            return self.other_status or "Other"
        return st.STATUS_DISPLAY.get(self._status, self._status)

    @property
    def is_terminal(self) -> bool:
        """True when the job has ended (custom statuses by this class's registry)."""
        if self._status != st.OTHER:
            return self._status in st.TERMINAL_STATUS_CODES
        return self.other_status in type(self).TERMINAL_STATUSES

    @property
    def post_processing_incomplete(self) -> bool:
        """True when the job reached a results status but its results are not processed."""
        return self._status in st.RESULTS_STATUS_CODES and self.completion_time is None

    @property
    def status(self) -> str:
        """The job's status (display name), refreshed from the engine when stale."""
        self.update_status()
        return self.cached_status

    @status.setter
    def status(self, value: str) -> None:
        self.update_status(status=value)

    @property
    def run_time(self) -> timedelta | str:
        """``timedelta`` from start (or execute) to completion (or now), or ``""``."""
        start = self.start_time or self.execute_time
        if not start:
            return ""
        end = self.completion_time or timezone.now()
        return end - start

    # --- tokens --------------------------------------------------------------------------
    @property
    def status_report_token(self) -> str:
        """Signed token that lets a compute node report this job's status (and no other)."""
        if self.pk is None:
            raise JobStateError("A job has no status report token until it is saved.")
        return signing.dumps(str(self.pk), salt=self.STATUS_REPORT_SALT)

    @classmethod
    def id_from_status_report_token(cls, token: object,
                                    max_age: Any = _CLASS_MAX_AGE) -> str | None:
        """Return the job id (a ``str``) a token was made for, or ``None`` when the token
        is not a string, is forged, or is older than the class's
        ``STATUS_REPORT_MAX_AGE``.

        :param max_age: another age limit (``timedelta`` or seconds); ``None`` checks
            the signature only.
        """
        if not isinstance(token, str) or not token:
            return None
        if max_age is _CLASS_MAX_AGE:
            max_age = cls.STATUS_REPORT_MAX_AGE
        try:
            value = signing.loads(token, salt=cls.STATUS_REPORT_SALT, max_age=max_age)
        except (signing.BadSignature, signing.SignatureExpired, ValueError):
            return None
        return value if isinstance(value, str) else None

    # --- results function ----------------------------------------------------------------
    @property
    def process_results_function(self) -> Callable[..., Any] | None:
        """The function applied to a job's results when it completes, or ``None``.

        Stored as a dotted path. A path that does not resolve gives ``None`` (logged).
        """
        path = self._process_results_function
        if not path:
            return None
        return _resolve_function(path)

    @process_results_function.setter
    def process_results_function(self, function: Callable[..., Any] | str | None) -> None:
        self._process_results_function = _function_path(function)

    # --- workspace -----------------------------------------------------------------------
    def ensure_workspace(self) -> Path:
        """Create the job's directory if it does not exist; return it as a ``Path``."""
        from pathlib import Path

        if not self.workspace:
            raise JobStateError(f"Job {self.pk} has no workspace directory set.")
        path = Path(self.workspace)
        path.mkdir(parents=True, exist_ok=True)
        return path

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
        try:
            self.save()
        except BaseException:
            self.attempt, self.execute_time = before, None
            raise
        self.__dict__["_run_claimed"] = self.attempt

    def _claim_run(self):
        """Take this job's next run for this call: one conditional UPDATE (Pending, not
        claimed yet) that increments ``attempt`` and sets ``execute_time``. It names the
        attempt this copy holds, so the new number needs no read-back; a copy whose
        attempt is stale claims with a second UPDATE and reads the number back.

        :raises JobStateError: when another call claimed it first.
        """
        if self.__dict__.pop("_run_claimed", None) == self.attempt:
            return  # resubmit() (or the INSERT of execute()) claimed this run already
        now = timezone.now()
        rows = TethysJob._base_manager.filter(
            pk=self.pk, _status=st.PENDING, execute_time__isnull=True
        )
        if rows.filter(attempt=self.attempt).update(attempt=self.attempt + 1,
                                                    execute_time=now):
            self.attempt += 1
        elif rows.update(attempt=F("attempt") + 1, execute_time=now):
            self.attempt = TethysJob._base_manager.values_list("attempt", flat=True).get(
                pk=self.pk)
        else:
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

        from .job_status import RESULTS_CLAIMED

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

    def set_progress(self, percent: float, message: str | None = None) -> None:
        """Record progress: ``percent`` 0-100 (int or float) and an optional message.

        :raises ValueError: if ``percent`` is not a number between 0 and 100.
        """
        self._write_fields(**self.progress_fields(percent, message))

    @staticmethod
    def progress_fields(percent: float, message: str | None = None) -> dict[str, Any]:
        """The row values :meth:`set_progress` writes: ``{"progress": int, ...}`` (and
        ``"progress_message"`` when ``message`` is given, cut to 1024 characters).

        :raises ValueError: if ``percent`` is not a number between 0 and 100.
        """
        try:
            value = float(percent)
        except (TypeError, ValueError):
            raise ValueError(f"Progress must be a number from 0 to 100, not {percent!r}.") from None
        if not 0 <= value <= 100:
            raise ValueError(f"Progress must be a number from 0 to 100, not {percent!r}.")
        values: dict[str, Any] = {"progress": round(value),
                                  "progress_reported_at": timezone.now()}
        if message is not None:
            values["progress_message"] = no_nul(_short(message, 1024))
        return values

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
            with transaction.atomic(using=router.db_for_write(type(self))):
                return super().delete(*args, **kwargs)
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
