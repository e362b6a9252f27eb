"""Batched "engine answered" stamps for batch refreshes (the monitor, the jobs table).

A refresh whose engine answer leaves a job's status as it was still records that the
engine answered (``_last_status_update``, which rate-limits the next refresh and dates
the lost-job grace), and clears a transient engine warning from ``status_message``.
Done job by job, that is one UPDATE (and, outside a transaction, one commit) per
unchanged job: 10,000 of them per monitor cycle. Inside :func:`batched`, those writes are
collected and written at its end with one UPDATE per group of equal values (chunks of
:data:`CHUNK` ids), stamped with the time the batch began, i.e. before its engines were
asked. Jobs whose status changed are written at once, as always (conditional UPDATE plus
history row).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections import defaultdict

from django.db import DatabaseError
from django.utils import timezone

logger = logging.getLogger("tethys_compute.monitor")

#: Most ids in one UPDATE (below SQLite's smallest default limit of bound parameters).
CHUNK = 900

_pending: contextvars.ContextVar[_Stamps | None] = contextvars.ContextVar(
    "tethys_compute_status_stamps", default=None
)


class _Stamps:
    def __init__(self):
        self.now = timezone.now()
        self.groups: dict[tuple[tuple, tuple | None], list[int]] = defaultdict(list)

    def flush(self):
        from .tethys_job import TethysJob

        for (key, fence), ids in self.groups.items():
            values = dict(key)
            rows = TethysJob.objects.all()
            if fence is not None:
                # Only rows still as their refresher loaded them (see defer(fenced=True)).
                rows = rows.filter(_status=fence[0], attempt=fence[1])
            for start in range(0, len(ids), CHUNK):
                rows.filter(pk__in=ids[start:start + CHUNK]).update(**values)


@contextlib.contextmanager
def batched():
    """Collect the stamps of unchanged jobs refreshed inside the block; write them at its
    end (also when it raises). Nested blocks join the outermost one. A failed write is
    logged, not raised: those jobs are only due again sooner."""
    if _pending.get() is not None:
        yield
        return
    stamps = _Stamps()
    token = _pending.set(stamps)
    try:
        yield
    finally:
        _pending.reset(token)
        try:
            stamps.flush()
        except DatabaseError:
            logger.exception("Writing the refresh stamps of %d jobs failed",
                             sum(len(ids) for ids in stamps.groups.values()))


def defer(job, values, fenced=False) -> bool:
    """Inside :func:`batched`: note ``values`` (``_last_status_update`` and perhaps
    ``status_message``) for ``job``'s row, set them on the instance, and return True;
    outside it return False (the caller writes them itself). ``fenced``: the row is
    written only if it still has the job's in-memory status and ``attempt``."""
    stamps = _pending.get()
    if stamps is None or job.pk is None:
        return False
    values = {**values, "_last_status_update": stamps.now}
    fence = (job._status, job.attempt) if fenced else None
    stamps.groups[(tuple(sorted(values.items())), fence)].append(job.pk)
    for name, value in values.items():
        setattr(job, name, value)
    job._take_snapshot(set(values))
    return True
