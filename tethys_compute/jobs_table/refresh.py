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

import time

from django.utils import timezone

from ..conf import get_config
from ..monitor import refresh_due as _due
from ..monitor import refresh_jobs


class _Budget:
    """A ``stop`` flag for :func:`refresh_jobs`: the first batch always starts, later
    ones only while ``seconds`` have not passed."""

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds
        self.started = False

    def is_set(self):
        if not self.started:
            self.started = True
            return False
        return time.monotonic() > self.deadline


def is_due(job, now) -> bool:
    """Whether a poll should refresh ``job`` from its engine now (not while another
    process, e.g. the monitor, holds its lease)."""
    if job.lease_expires is not None and job.lease_expires > now:
        return False
    return _due(job)


def refresh_due(jobs) -> list:
    """Refresh the due jobs among ``jobs`` (stalest first, within the batch and time
    budget) and return the refreshed jobs reloaded from the database (as their own
    classes); ``[]`` when nothing was due."""
    from ..models import TethysJob

    config = get_config()
    batch = int(config["JOBS_TABLE_REFRESH_BATCH"])
    now = timezone.now()
    due = sorted((job for job in jobs if is_due(job, now)), key=lambda job: job.last_status_update)
    if not due or batch <= 0:
        return []
    due = due[:batch]
    stats = refresh_jobs(due, stop=_Budget(float(config["JOBS_TABLE_REFRESH_BUDGET"])))
    if not stats.checked:
        return []
    return list(TethysJob.objects.filter(pk__in=[job.pk for job in due]).select_subclasses())
