"""Bounded refresh of stale jobs while a table polls, so statuses move with only the web
server running.

A poll never waits on long engine work: of the rows it is asked about, it refreshes at
most ``JOBS_TABLE_REFRESH_BATCH`` jobs whose cached status is older than their
``update_status_interval`` (the stalest first), through
:func:`tethys_compute.monitor.refresh_jobs` (one engine query per job class and
scheduler), and starts no new batch once ``JOBS_TABLE_REFRESH_BUDGET`` seconds are
spent. So the worst case is one batch query, itself bounded by the engine's timeout.

Jobs are claimed with a short lease (``lease_owner``/``lease_expires``, one conditional
UPDATE), so two polls (two tabs, two users sharing a group) or a poll and the monitor
never refresh the same job at once; a job leased by the monitor is left to it, which is
why a running monitor makes statuses move faster and polls cheaper.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections import defaultdict
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..conf import get_config
from ..monitor import refresh_jobs

logger = logging.getLogger("tethys_compute.jobs_table")

LEASE_PREFIX = "jobs-table:"


def _refresh_leased(group, owner):
    """``refresh_jobs`` for jobs whose leases ``owner`` already holds (telling it so
    where its signature knows leases, so it does not try to claim them again)."""
    if "lease_owner" in inspect.signature(refresh_jobs).parameters:
        return refresh_jobs(group, lease_owner=owner)
    return refresh_jobs(group)


def _has_engine(job) -> bool:
    from ..models import TethysJob

    return type(job)._update_status is not TethysJob._update_status


def is_due(job, now) -> bool:
    """Whether a poll should refresh ``job`` from its engine now."""
    if job.lease_expires is not None and job.lease_expires > now:
        return False
    if job.is_terminal:
        return job.post_processing_incomplete and job.is_time_to_update()
    return _has_engine(job) and job.is_time_to_update()


def refresh_due(jobs) -> list:
    """Refresh the due jobs among ``jobs`` (within the batch and time budget) and return
    the refreshed jobs reloaded from the database (as their own classes); ``[]`` when
    nothing was due."""
    from ..models import TethysJob

    config = get_config()
    batch = int(config["JOBS_TABLE_REFRESH_BATCH"])
    now = timezone.now()
    due = [job for job in jobs if is_due(job, now)]
    if not due or batch <= 0:
        return []
    due.sort(key=lambda job: job.last_status_update)
    budget = float(config["JOBS_TABLE_REFRESH_BUDGET"])
    owner = LEASE_PREFIX + uuid.uuid4().hex[:16]
    lease = timedelta(seconds=max(budget, 1.0) * 5)
    ids = [job.pk for job in due[:batch]]
    free = Q(lease_expires__isnull=True) | Q(lease_expires__lt=now)
    if not TethysJob.objects.filter(free, pk__in=ids).update(
        lease_owner=owner, lease_expires=now + lease
    ):
        return []
    claimed = list(TethysJob.objects.filter(lease_owner=owner).select_subclasses())
    try:
        groups = defaultdict(list)
        for job in claimed:
            groups[(type(job), job.status_batch_key())].append(job)
        deadline = time.monotonic() + budget
        for group in groups.values():
            _refresh_leased(group, owner)
            if time.monotonic() > deadline:
                break
    finally:
        TethysJob.objects.filter(lease_owner=owner).update(lease_owner=None, lease_expires=None)
    return list(TethysJob.objects.filter(pk__in=[job.pk for job in claimed]).select_subclasses())
