"""Batch status refresh of active jobs: one engine query per scheduler, not one per job.

Used by the ``tethys_compute_monitor`` management command, the admin's "refresh status"
action and the jobs table.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

logger = logging.getLogger("tethys_compute.monitor")


@dataclass
class RefreshStats:
    """What one refresh did: jobs checked, jobs whose status changed, batches that failed."""

    checked: int = 0
    changed: int = 0
    errors: int = 0


def refresh_jobs(jobs) -> RefreshStats:
    """Refresh ``jobs`` (an iterable of jobs as their own classes, e.g.
    ``TethysJob.objects.active().select_subclasses()``), grouped by class and
    :meth:`~tethys_compute.models.TethysJob.status_batch_key` so that each group costs one
    engine query. Jobs that are terminal or not yet due are skipped by the status rules.

    A failing group is logged and counted in ``errors``; the other groups still run.
    """
    groups = defaultdict(list)
    for job in jobs:
        groups[(type(job), job.status_batch_key())].append(job)
    stats = RefreshStats()
    for (job_class, key), group in groups.items():
        stats.checked += len(group)
        try:
            stats.changed += job_class.bulk_update_status(group)
        except Exception:  # noqa: BLE001 - one engine's failure must not stop the others
            stats.errors += 1
            logger.exception("Refreshing %d %s jobs (batch %r) failed", len(group),
                             job_class.__name__, key)
    return stats
