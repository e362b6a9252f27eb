"""``TethysJob``: the base job model: its fields, indexes and constraints. Its behaviour
is in its mixins: saving in ``job_save``, what it tells about itself in
``job_attributes``, its runs and deletion in ``job_lifecycle``, the status rules in
``job_status`` and ``job_results``.

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

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from .. import status as st
from ..bounded import NamePrefixIndex
from ..conf import get_config
from ..notifications.fields import NotifyFields
from .change_tracking import ChangeTracking
from .job_attributes import _CLASS_MAX_AGE, JobAttributes, _function_path, _resolve_function
from .job_lifecycle import KEEP_REMOTE_WORK, JobLifecycle
from .job_results import JobResults
from .job_save import JobSave
from .job_status import JobStatusRules
from .lean_insert import LeanInsert
from .querysets import TethysJobManager
from .quotas import QuotaWait
from .retries import RetryPolicy
from .status_ahead import StatusAhead
from .usage import JobUsage

logger = logging.getLogger("tethys_compute.jobs")

# Defined with the parts of TethysJob that use them; importable from here as before.
__all__ = ["KEEP_REMOTE_WORK", "TethysJob", "_CLASS_MAX_AGE", "_function_path",
           "_resolve_function"]


class _SettingMaxAge:
    """``TethysJob.STATUS_REPORT_MAX_AGE`` by default: the setting, read at each use."""

    def __get__(self, instance, owner):
        return timedelta(seconds=get_config()["STATUS_REPORT_MAX_AGE"])


class TethysJob(JobSave, JobAttributes, JobLifecycle, StatusAhead,
                ChangeTracking, LeanInsert, JobStatusRules, JobResults, RetryPolicy,
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
        #
        # Every index below that a new (Pending) job's row meets costs each INSERT a B-tree
        # update and, with SQLite's rollback journal, a page journaled and written at
        # commit (about 9 kB a save): a new job writes 9 (tests/models/test_query_plans.py
        # lists them), and none covers another.
        indexes = [
            # A user's jobs of an app in id order (list_jobs(user=...)[:25]). One index
            # (user, label, id) for these and the lookups by user alone was tried: SQLite,
            # without statistics, then read a user's jobs by creation time by walking
            # the whole app's tc_job_label_created (about 80 ms at 1,000,000 jobs).
            models.Index(fields=("label", "user", "id"), name="tc_job_label_user"),
            # A whole app's first page, by id or newest first, without sorting its rows.
            models.Index(fields=("label", "id"), name="tc_job_label_id"),
            models.Index(fields=("label", "creation_time", "id"), name="tc_job_label_created"),
            # The admin's date drill-down reads the oldest and newest job from it.
            models.Index(fields=("creation_time",), name="tc_job_created"),
            # A whole app's table sorted by name or status (issue 17: no sort of every
            # matching row).
            models.Index(fields=("label", "name", "id"), name="tc_job_label_name"),
            models.Index(fields=("label", "_status", "id"), name="tc_job_label_status"),
            # The admin's newest jobs of one user; every lookup by user alone.
            models.Index(fields=("user", "creation_time"), name="tc_job_user_created"),
            # A status's newest jobs (the admin's status filter), and active(): its SQL's
            # first term is `_status IN ('PEN', ...)`, a search of six statuses here. (A
            # partial index of the active statuses, tc_job_active, was a second index
            # every new job wrote; dropped in 0023. A search among active jobs looks its
            # matches up by id: bounded.search_jobs.)
            models.Index(fields=("_status", "creation_time"), name="tc_job_status_created"),
            # NULL on every new job: partial, so an INSERT does not write it (a filter on
            # one kind, failure_kind = ?, implies the condition).
            models.Index(fields=("failure_kind", "creation_time"), name="tc_job_failure_created",
                         condition=Q(failure_kind__isnull=False)),
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
            # The admin's completion-time filter (its count, issue 17); NULL until a job ends.
            models.Index(fields=("completion_time",), name="tc_job_completed",
                         condition=Q(completion_time__isnull=False)),
            # The monitor's due refresh requests (monitor.candidates): NULL on every new
            # job, so partial; with it each branch of the claim query's OR has an index
            # and the query reads no finished job (issue 17).
            models.Index(fields=("refresh_requested_at",), name="tc_job_refresh_due",
                         condition=Q(refresh_requested_at__isnull=False)),
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
