"""Batch status refresh of jobs: one engine query per scheduler, not one per job.

:func:`refresh_jobs` is used by the admin's "refresh status" action, the jobs table and
update-job-status; :func:`run_cycle` is one cycle of the ``tethys_compute_monitor``
management command (and of the optional ``django.tasks`` task,
:mod:`tethys_compute.tasks`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.db import connections
from django.db.models import Case, F, Min, Q, Value, When
from django.utils import timezone

from . import leases, notifications
from . import status as st
from .conf import get_config
from .functions import call

logger = logging.getLogger("tethys_compute.monitor")


@dataclass
class RefreshStats:
    """What one refresh did.

    :ivar checked: jobs whose status was checked (sent to their engine, or whose result
        processing was retried).
    :ivar changed: jobs whose status changed.
    :ivar errors: failed checks: jobs whose engine could not answer, or that their
        engine does not know, plus batches whose ``bulk_update_status`` raised.
    """

    checked: int = 0
    changed: int = 0
    errors: int = 0

    def add(self, other: RefreshStats) -> None:
        self.checked += other.checked
        self.changed += other.changed
        self.errors += other.errors


@dataclass
class CycleStats(RefreshStats):
    """One monitor cycle: :class:`RefreshStats` plus ``claimed`` (jobs leased for the
    cycle, due or not) and ``seconds`` (wall time)."""

    claimed: int = 0
    seconds: float = 0.0
    retried: int = 0
    started_from_wait: int = 0
    overdue: int = 0

    def summary(self) -> str:
        """The cycle's log line."""
        return (
            f"tethys_compute monitor: checked {self.checked} jobs, changed {self.changed}, "
            f"errors {self.errors}, {self.seconds:.2f} s"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def refresh_due(job) -> bool:
    """True when refreshing ``job`` now would do something: an active job with an engine
    whose status is older than its ``update_status_interval``, or a finished job whose
    result processing is incomplete and due for a retry. No query."""
    if job.is_terminal:
        return job.post_processing_incomplete and job._results_retry_due()
    return job._has_engine() and job.is_time_to_update()


def refresh_jobs(jobs, *, lease_owner=None, stop=None) -> RefreshStats:
    """Refresh ``jobs`` (an iterable of jobs as their own classes, e.g.
    ``TethysJob.objects.active().select_subclasses()``).

    Only jobs due for it are refreshed (:func:`refresh_due`). Active jobs are grouped by
    class and :meth:`~tethys_compute.models.TethysJob.status_batch_key`, and each group
    goes to its class's ``bulk_update_status`` (one engine query per scheduler for the
    engine classes); finished jobs with incomplete results get their processing retried.

    Each job is refreshed under its lease (:mod:`tethys_compute.leases`), renewed while
    the refresh runs: jobs another process is refreshing, or that changed since they were
    loaded, are left out (and not counted in ``checked``).

    :param lease_owner: the caller already holds these jobs' leases under this name
        (the monitor); nothing is claimed or released here.
    :param stop: a ``threading.Event``; once set, the remaining groups are skipped.
    :returns: :class:`RefreshStats`. A failing group is logged and counted in
        ``errors``; the other groups still run.
    """
    jobs = [job for job in jobs if refresh_due(job)]
    if not jobs:
        return RefreshStats()
    if lease_owner is not None:
        return _refresh(jobs, stop)
    from .models import TethysJob

    owner = leases.new_owner()
    claimed = leases.claim(TethysJob.objects.filter(pk__in=[job.pk for job in jobs]), owner)
    try:
        with leases.KeepAlive(owner, claimed):
            return _refresh(_unchanged(jobs, claimed), stop)
    finally:
        leases.release(owner, claimed)


def _unchanged(jobs, claimed):
    """The claimed jobs whose row still holds the status and stamp they were loaded with
    (another process may have refreshed them between loading and claiming)."""
    from .models import TethysJob

    rows = {
        row["pk"]: (row["_status"], row["_last_status_update"])
        for row in TethysJob.objects.filter(pk__in=claimed).values(
            "pk", "_status", "_last_status_update"
        )
    }
    return [job for job in jobs if rows.get(job.pk) == (job._status, job._last_status_update)]


def _refresh(jobs, stop) -> RefreshStats:
    from .models import status_stamps

    # Jobs finishing in this batch look up their owners' notification preferences once;
    # unchanged jobs' "engine answered" stamps: one UPDATE per group, not one per job.
    with notifications.batch_preferences({job.user_id for job in jobs}), \
            status_stamps.batched():
        return _refresh_batch(jobs, stop)


def _refresh_batch(jobs, stop) -> RefreshStats:
    stats = RefreshStats()
    groups = defaultdict(list)
    retries = []
    for job in jobs:
        if job.is_terminal:
            retries.append(job)
            continue
        try:
            key = job.status_batch_key()
        except Exception:  # noqa: BLE001 - a broken job class must not stop the others
            logger.exception("Job %s: status_batch_key() failed", job.pk)
            stats.errors += 1
            continue
        groups[(type(job), key)].append(job)
    for (job_class, key), group in groups.items():
        if stop is not None and stop.is_set():
            break
        stats.add(_refresh_group(job_class, key, group))
    for job in retries:
        if stop is not None and stop.is_set():
            break
        stats.add(_retry_results(job))
    return stats


def _refresh_group(job_class, key, group) -> RefreshStats:
    stats = RefreshStats(checked=len(group))
    for job in group:
        job.__dict__.pop("_refresh_problem", None)
    try:
        stats.changed = int(job_class.bulk_update_status(group) or 0)
    except Exception:  # noqa: BLE001 - one engine's failure must not stop the others
        stats.errors += 1
        logger.exception(
            "Refreshing %d %s jobs (batch %r) failed", len(group), job_class.__name__, key
        )
        return stats
    for job in group:
        problem = job.__dict__.get("_refresh_problem")
        if problem:
            stats.errors += 1
            logger.warning("Job %s (%s): %s", job.pk, job_class.__name__, problem)
    return stats


def _retry_results(job) -> RefreshStats:
    from .models.job_status import RESULTS_FAILED, RESULTS_RETRY

    before = (job._status, job.completion_time)
    try:
        call(job.update_status)
    except Exception:  # noqa: BLE001 - logged; the job is retried next time
        logger.exception("Job %s: retrying result processing failed", job.pk)
        return RefreshStats(checked=1, errors=1)
    failed = job._results_state in (RESULTS_RETRY, RESULTS_FAILED)
    changed = (job._status, job.completion_time) != before
    return RefreshStats(checked=1, changed=int(changed), errors=int(failed))


def candidates(now, label=None):
    """Jobs a monitor cycle looks at: active jobs, finished jobs whose result processing
    is incomplete, and jobs with a refresh request due at ``now``; only app ``label``'s
    when given."""
    from .models import TethysJob

    other = Q(_status__in=st.RESULTS_STATUS_CODES, completion_time__isnull=True) | Q(
        refresh_requested_at__lte=now
    )
    jobs = TethysJob.objects.active() | TethysJob.objects.filter(other)
    if label:
        jobs = jobs.filter(label=label)
    return jobs


def run_cycle(label=None, *, stop=None, batch_size=None) -> CycleStats:
    """Run one monitor cycle: claim up to ``batch_size`` candidate jobs (default
    ``TETHYS_COMPUTE["MONITOR_BATCH_SIZE"]``; due refresh requests first, then the
    stalest statuses) whose lease is free,
    refresh them with :func:`refresh_jobs` (renewing the leases every third of
    ``MONITOR_LEASE`` while it runs, so a monitor killed mid-cycle frees its jobs within
    one lease), then release them and clear the refresh requests carried out.

    First, two steps of their own: runs over their ``max_run_time`` and silent BasicJob
    runs are failed (:func:`tethys_compute.models.run_limits.stop_overdue_runs`), then
    the due retries are started, earliest due first
    (:func:`tethys_compute.models.retries.start_due_retries`); each is one query plus
    the work for the jobs it finds.

    A job with a due refresh request (``?delay=``) is refreshed even when its status is
    fresher than ``update_status_interval``: requests merge per job, so this costs at most
    one batched engine query per scheduler per cycle.

    :param label: only jobs of this app (package name).
    :param stop: a ``threading.Event`` that ends the cycle early (leases are released).
    :returns: :class:`CycleStats`; the summary is logged at INFO on
        ``tethys_compute.monitor``.
    """
    from .models import TethysJob

    started = time.monotonic()
    _tidy_connections()
    now = timezone.now()
    # Before this cycle's own claim (their leases are separate): runs over their time,
    # then the due retries, those just scheduled included.
    overdue = _run_limits().stop_overdue_runs(label, now=now)
    retried = _retries().start_due_retries(label)
    owner = leases.new_owner()
    size = batch_size or get_config()["MONITOR_BATCH_SIZE"]
    ids = leases.claim(
        candidates(now, label),
        owner,
        limit=size,
        order_by=(
            Case(When(refresh_requested_at__lte=now, then=Value(0)), default=Value(1)),
            F("_last_status_update").asc(nulls_first=True),
            "pk",
        ),
    )
    stats = CycleStats(claimed=len(ids), overdue=overdue, retried=retried)
    try:
        if ids:
            with leases.KeepAlive(owner, ids):
                jobs = list(TethysJob.objects.filter(pk__in=ids).select_subclasses())
                for job in jobs:
                    if job.refresh_requested_at is not None and job.refresh_requested_at <= now:
                        _force_refresh(job)
                stats.add(refresh_jobs(jobs, lease_owner=owner, stop=stop))
    finally:
        if ids:
            leases.release(owner, ids, clear_requests_before=now)
        stats.seconds = time.monotonic() - started
        _tidy_connections()
    stats.started_from_wait = _quotas().start_waiting_jobs(label)  # freed slots, FIFO per user
    notifications.monitor_step()  # events of every app's jobs; never raises
    logger.info(stats.summary())
    return stats


def _quotas():
    from .models import quotas

    return quotas


def _retries():
    from .models import retries

    return retries


def _run_limits():
    from .models import run_limits

    return run_limits


def _tidy_connections():
    """Drop broken or expired (``CONN_MAX_AGE``) database connections between cycles of a
    long-running monitor, as Django does between requests; a connection inside a
    transaction (a caller's ``atomic()`` block) is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _force_refresh(job):
    """Make a job with a due refresh request due regardless of its rate limit (this
    instance only). A class whose ``update_status_interval`` cannot be set keeps its own."""
    try:
        job.update_status_interval = timedelta(0)
    except AttributeError:
        logger.debug("Job %s: update_status_interval is fixed by %s", job.pk, job.type)


def next_request_due(label=None):
    """When the earliest pending refresh request falls due (an aware datetime), or
    ``None``; the monitor wakes up for it before its next regular cycle."""
    from .models import TethysJob

    jobs = TethysJob.objects.filter(refresh_requested_at__isnull=False)
    if label:
        jobs = jobs.filter(label=label)
    return jobs.aggregate(due=Min("refresh_requested_at"))["due"]
