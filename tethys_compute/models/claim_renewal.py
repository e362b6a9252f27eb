"""Keeping result-processing claims alive while their processing runs.

A claim (``_results_claim``, see ``job_results``) is taken over by another process once
``_results_claimed_at`` is older than ``RESULTS_LEASE``; while the processing runs, its
claim is moved forward every third of the lease, on the condition that it is still this
processing's claim. One daemon thread per process renews every live claim, with one
database connection, opened only when a processing outlives its first renewal interval:
most processing ends long before, and costs no thread and no connection.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connections, router
from django.utils import timezone

from ..conf import get_config

logger = logging.getLogger("tethys_compute.jobs")

#: How long (seconds) the renewal thread waits for a new claim before it ends.
_IDLE_SECONDS = 5.0


def _job_model():
    from .tethys_job import TethysJob

    return TethysJob


class _Renewer:
    """The process's renewal thread and the claims it keeps alive."""

    def __init__(self):
        self._lock = threading.Condition()
        self._claims: dict[int, ClaimRenewal] = {}  # id(renewal) -> renewal
        self._thread = None

    def add(self, renewal):
        with self._lock:
            self._claims[id(renewal)] = renewal
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="tethys-compute-results-claims")
                self._thread.start()
            self._lock.notify_all()

    def remove(self, renewal):
        with self._lock:
            self._claims.pop(id(renewal), None)
            self._lock.notify_all()

    def _run(self):
        try:
            while True:
                with self._lock:
                    if not self._claims:
                        self._lock.wait(_IDLE_SECONDS)
                        if not self._claims:
                            # Nothing to renew for a while: end (a new claim starts a
                            # new thread).
                            self._thread = None
                            return
                        continue
                    now = time.monotonic()
                    due = [r for r in self._claims.values() if r.due <= now]
                    if not due:
                        wait = min(r.due for r in self._claims.values()) - now
                        self._lock.wait(max(wait, 0.01))
                        continue
                for renewal in due:
                    renewal.renew()
        except Exception:  # noqa: BLE001 - the leases then run out; final writes are fenced
            logger.exception("Renewing result-processing claims failed")
            with self._lock:
                self._thread = None
        finally:
            connections.close_all()  # this thread's connections only


_renewer = _Renewer()


class ClaimRenewal:
    """Keeps a result-processing claim alive while the processing runs (a context
    manager). ``lost`` is True once a renewal found the claim gone (superseded)."""

    def __init__(self, job_pk, fence):
        self.job_pk = job_pk
        self.fence = fence
        self.lost = False
        self.interval = max(float(get_config()["RESULTS_LEASE"]) / 3, 0.05)
        self.due = time.monotonic() + self.interval
        self._active = False

    def __enter__(self):
        if connections[router.db_for_write(_job_model())].in_atomic_block:
            # Another connection could not see this transaction's claim (the processing
            # then runs inside one transaction, e.g. in a test): nothing to renew.
            return self
        self._active = True
        _renewer.add(self)
        return self

    def renew(self):
        """One renewal (on the renewal thread): conditional on the claim."""
        try:
            renewed = _job_model()._base_manager.filter(
                pk=self.job_pk, **self.fence
            ).update(_results_claimed_at=timezone.now())
        except Exception:  # noqa: BLE001 - retried at the next interval
            logger.exception("Job %s: renewing the result-processing claim failed",
                             self.job_pk)
            renewed = True
        self.due = time.monotonic() + self.interval
        if not renewed:
            self.lost = True
            _renewer.remove(self)

    def __exit__(self, *exc_info):
        if self._active:
            _renewer.remove(self)
        return False
