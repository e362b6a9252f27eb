"""Memory escalation after a ``memory`` failure (issue 15 item 3; docs/resilience.rst).

The next attempt of a run that failed for memory asks for the larger of twice what it
asked and 1.2 times what it was measured to use (HTCondor's ``MemoryUsage``, a Dask
worker's memory), rounded up to a whole MB, capped by the ``MAX_REQUEST_MEMORY`` setting
and by the scheduler's own limit (``CondorScheduler.max_request_memory``). Engines apply
it to their own request (HTCondor's ``request_memory``; a Dask task's ``resources``
annotation when the app used one) and record it in the status history.
"""

from __future__ import annotations

import math

from .conf import get_config

#: Factor applied to the request, and to the measured peak.
REQUEST_FACTOR = 2.0
USAGE_FACTOR = 1.2


def next_memory_mb(requested_mb, used_mb=None, *, limits=()) -> int | None:
    """The memory (MB) the next attempt asks for, or ``None`` when nothing can be raised
    (no request known, or the limits leave no room above the current request).

    :param requested_mb: what the failed run asked for (MB, number), or ``None``.
    :param used_mb: its measured peak (MB, number), or ``None`` when not measured.
    :param limits: upper bounds in MB (``None`` entries are ignored); the
        ``MAX_REQUEST_MEMORY`` setting is always one of them when set.
    :raises ValueError: a request or usage that is negative.
    """
    if requested_mb is None:
        return None
    requested = float(requested_mb)
    used = float(used_mb) if used_mb is not None else 0.0
    if requested < 0 or used < 0:
        raise ValueError(f"memory must not be negative (asked {requested_mb}, used {used_mb})")
    wanted = max(REQUEST_FACTOR * requested, USAGE_FACTOR * used)
    caps = [float(limit) for limit in (*limits, get_config()["MAX_REQUEST_MEMORY"])
            if limit is not None]
    if caps:
        wanted = min(wanted, min(caps))
    wanted = math.ceil(wanted)
    return wanted if wanted > requested else None
