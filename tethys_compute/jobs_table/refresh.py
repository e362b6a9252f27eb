"""Bounded refresh of stale jobs while a table polls, so statuses move with only the web
server running.

A poll never waits on long engine work. Of the rows it is asked about, it picks at most
``JOBS_TABLE_REFRESH_BATCH`` jobs whose cached status is older than their
``update_status_interval`` (the stalest first), groups them as
:func:`tethys_compute.monitor.refresh_jobs` does (one engine query per job class and
scheduler), and refreshes each group in a thread of its own. The poll waits for them at
most ``JOBS_TABLE_REFRESH_BUDGET`` seconds, then answers from the database: a group that
finished in time shows its new statuses, a slower one (a busy schedd, a silent Dask
scheduler) goes on in the background and shows at a later poll.

Each group's refresh holds a named lease on its scheduler
(:func:`tethys_compute.leases.claim_named`, a database row): while it runs, no other
poll, in this process or another, starts a refresh of that scheduler again, so a slow
engine costs one query at a time, not one per poll. Jobs are also claimed one by one
with a short lease (``lease_owner``/``lease_expires``), so a poll and the monitor never
refresh the same job at once; a job leased by the monitor is left to it, which is why a
running monitor makes statuses move faster and polls cheaper.

Inside a database transaction (a test's, or ``ATOMIC_REQUESTS``) another thread could
not see the transaction's writes, so the groups are refreshed in the request's thread
instead, no new group starting once the budget is spent.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict

from django.db import connections, router
from django.utils import timezone

from .. import leases
from ..conf import get_config
from ..monitor import refresh_due as _due
from ..monitor import refresh_jobs

logger = logging.getLogger("tethys_compute.jobs_table")


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


def lease_name(job) -> str:
    """The name of the lease a refresh of ``job``'s group holds: its class and
    :meth:`~tethys_compute.models.TethysJob.status_batch_key` (its scheduler)."""
    try:
        key = repr(job.status_batch_key())
    except Exception:  # noqa: BLE001 - refresh_jobs logs it; the job is its own group
        key = f"job {job.pk}"
    name = f"jobs-table refresh {job._meta.label_lower} {key}"
    if len(name) > 255:
        name = name[:200] + " " + hashlib.sha256(name.encode()).hexdigest()
    return name


def refresh_due(jobs) -> list:
    """Refresh the due jobs among ``jobs`` (stalest first, within the batch and time
    budget) and return the jobs whose refresh was started, reloaded from the database
    (as their own classes; those still refreshing in the background as stored);
    ``[]`` when nothing was started."""
    from ..models import TethysJob

    config = get_config()
    batch = int(config["JOBS_TABLE_REFRESH_BATCH"])
    budget = float(config["JOBS_TABLE_REFRESH_BUDGET"])
    now = timezone.now()
    due = sorted((job for job in jobs if is_due(job, now)), key=lambda job: job.last_status_update)
    if not due or batch <= 0:
        return []
    due = due[:batch]
    if connections[router.db_for_write(TethysJob)].in_atomic_block:
        stats = refresh_jobs(due, stop=_Budget(budget))
        started = due if stats.checked else []
    else:
        started = _refresh_in_background(due, budget)
    if not started:
        return []
    return list(TethysJob.objects.filter(pk__in=[job.pk for job in started]).select_subclasses())


def _refresh_in_background(due, budget) -> list:
    deadline = time.monotonic() + budget
    groups = defaultdict(list)
    for job in due:
        groups[lease_name(job)].append(job)
    threads, started = [], []
    for name, group in groups.items():
        owner = leases.new_owner()
        if not leases.claim_named(name, owner):
            continue  # this scheduler is being refreshed (another poll, maybe elsewhere)
        thread = threading.Thread(target=_refresh_group, args=(name, owner, group),
                                  name="tethys-compute-table-refresh", daemon=True)
        thread.start()
        threads.append(thread)
        started.extend(group)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return started


def _refresh_group(name, owner, group):
    try:
        refresh_jobs(group)
    except Exception:  # noqa: BLE001 - logged; the next poll or the monitor tries again
        logger.exception("Jobs table refresh (%s) failed", name)
    finally:
        try:
            leases.release_named(name, owner)
        finally:
            connections.close_all()  # this thread's connections only
