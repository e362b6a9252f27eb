"""Engines that failed lately, remembered per process so that requests do not each wait
for the same timeout again (``TETHYS_COMPUTE["ENGINE_FAILURE_MEMORY"]`` seconds; 0 turns
it off). Used for Dask scheduler addresses and HTCondor submit hosts reached over SSH."""

from __future__ import annotations

import threading
import time


def memory_seconds() -> float:
    """How long a failure is remembered, in seconds (``ENGINE_FAILURE_MEMORY``)."""
    from ..conf import get_config

    return float(get_config()["ENGINE_FAILURE_MEMORY"] or 0)


class FailureMemory:
    """``{place: (until, reason)}`` behind a lock; a place is any string key (an address,
    ``host:port``)."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def remember(self, place: str, reason: object) -> None:
        """Remember that ``place`` failed (``str(reason)`` says how), for
        :func:`memory_seconds`; nothing when that is 0."""
        seconds = memory_seconds()
        if seconds > 0:
            with self._lock:
                self._failures[place] = (time.monotonic() + seconds, str(reason))

    def recall(self, place: str) -> str | None:
        """The reason ``place`` failed while that is remembered, else ``None``."""
        with self._lock:
            failure = self._failures.get(place)
            if failure is None:
                return None
            if failure[0] <= time.monotonic():
                del self._failures[place]
                return None
            return failure[1]

    def forget(self, place: str) -> None:
        """Forget ``place``'s failure: the next use tries it again."""
        with self._lock:
            self._failures.pop(place, None)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
