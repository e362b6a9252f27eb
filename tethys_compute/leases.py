"""Row leases on jobs: while a process refreshes a job it holds the job's lease, so that
several monitors (and web processes) never refresh one job at the same time.

A lease is two columns of ``tethys_compute_tethysjob``: ``lease_owner`` (who holds it)
and ``lease_expires`` (when it stops holding; a crashed holder's jobs are taken over
after that). Leases are short (``MONITOR_LEASE``, 15 s by default) and renewed by the
holder while its work runs (:class:`KeepAlive`, every third of the lease), so a holder
killed with SIGKILL frees its jobs within seconds while a live one keeps them however
long its engine queries take. Claiming is one conditional ``UPDATE`` (``... WHERE lease
is free``), so two claimants can never both win a row; on databases that support it
(PostgreSQL, MySQL) the candidate rows are first read with ``SELECT ... FOR UPDATE SKIP
LOCKED``, so a second claimant skips rows being claimed instead of waiting for them.

Refresh requests (``?delay=`` of update-job-status) live in ``refresh_requested_at``:
one pending time per job, the earliest one asked for.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone

from .conf import get_config

logger = logging.getLogger("tethys_compute.monitor")


def new_owner() -> str:
    """A lease owner name unique to one claim: ``<host>:<pid>:<random>`` (64 chars max)."""
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def lease_is_free(now) -> Q:
    """Rows whose lease is free at ``now`` (never held, released, or run out)."""
    return Q(lease_expires__isnull=True) | Q(lease_expires__lt=now)


def claim(queryset, owner: str, *, seconds: float | None = None, limit: int | None = None,
          order_by=None) -> list[int]:
    """Give ``owner`` the lease of the jobs of ``queryset`` whose lease is free.

    :param queryset: a ``TethysJob`` queryset selecting the candidate jobs.
    :param owner: the lease owner name (see :func:`new_owner`).
    :param seconds: lease length; default ``TETHYS_COMPUTE["MONITOR_LEASE"]``.
    :param limit: claim at most this many jobs.
    :param order_by: order in which candidates are taken (with ``limit``).
    :returns: the ids of the jobs now leased to ``owner``.
    """
    from .models import TethysJob

    now = timezone.now()
    seconds = get_config()["MONITOR_LEASE"] if seconds is None else seconds
    expires = now + timedelta(seconds=seconds)
    candidates = queryset.filter(lease_is_free(now))
    if order_by:
        candidates = candidates.order_by(*order_by)
    alias = router.db_for_write(TethysJob)
    if connections[alias].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=alias):
            locked = candidates.select_for_update(skip_locked=True, of=("self",))
            ids = _ids(locked, limit)
            if ids:
                TethysJob.objects.filter(pk__in=ids).update(
                    lease_owner=owner, lease_expires=expires
                )
        return ids
    # No row locks to skip (SQLite): the conditional UPDATE alone decides who wins.
    ids = _ids(candidates, limit)
    if not ids:
        return []
    TethysJob.objects.filter(lease_is_free(now), pk__in=ids).update(
        lease_owner=owner, lease_expires=expires
    )
    return list(
        TethysJob.objects.filter(pk__in=ids, lease_owner=owner).values_list("pk", flat=True)
    )


def _ids(queryset, limit):
    ids = queryset.values_list("pk", flat=True)
    return list(ids[:limit] if limit else ids)


def release(owner: str, ids, *, clear_requests_before=None) -> int:
    """Give up ``owner``'s lease on jobs ``ids``; a lease since taken over is left alone.

    :param clear_requests_before: when given (a datetime), refresh requests due at or
        before it are cleared too (they have been carried out); later ones stay.
    :returns: the number of leases released.
    """
    from .models import TethysJob

    ids = list(ids)
    if not ids:
        return 0
    values: dict[str, Any] = {"lease_owner": None, "lease_expires": None}
    if clear_requests_before is not None:
        values["refresh_requested_at"] = Case(
            When(
                refresh_requested_at__lte=clear_requests_before,
                then=Value(None, output_field=DateTimeField()),
            ),
            default=F("refresh_requested_at"),
        )
    return TethysJob.objects.filter(pk__in=ids, lease_owner=owner).update(**values)


def renew(owner: str, ids: Iterable[int], *, seconds: float | None = None) -> int:
    """Extend ``owner``'s lease on jobs ``ids`` to ``seconds`` from now (default
    ``MONITOR_LEASE``); a lease since taken over is left alone. One ``UPDATE``.

    :returns: the number of leases renewed.
    """
    from .models import TethysJob

    ids = list(ids)
    if not ids:
        return 0
    seconds = get_config()["MONITOR_LEASE"] if seconds is None else seconds
    expires = timezone.now() + timedelta(seconds=seconds)
    return TethysJob.objects.filter(pk__in=ids, lease_owner=owner).update(lease_expires=expires)


class KeepAlive:
    """Renew ``owner``'s lease on ``ids`` every third of the lease while the ``with``
    block runs, from a daemon thread with its own database connection.

    Nothing is renewed when the caller is inside a transaction (another connection could
    not see its rows, and on SQLite would wait for its lock): such callers (tests) finish
    within the lease. A failed renewal is logged and tried again at the next beat.

    :param seconds: lease length; default ``TETHYS_COMPUTE["MONITOR_LEASE"]``.
    """

    def __init__(self, owner: str, ids: Iterable[int], *, seconds: float | None = None):
        self.owner = owner
        self.ids = list(ids)
        self.seconds = float(get_config()["MONITOR_LEASE"] if seconds is None else seconds)
        self.renewals = 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        from .models import TethysJob

        alias = router.db_for_write(TethysJob)
        if self.ids and not connections[alias].in_atomic_block:
            self._thread = threading.Thread(target=self._beat, daemon=True,
                                            name=f"tethys-compute-lease-{self.owner}")
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False

    def _beat(self):
        try:
            while not self._stop.wait(self.seconds / 3):
                try:
                    renew(self.owner, self.ids, seconds=self.seconds)
                    self.renewals += 1
                except Exception:  # noqa: BLE001 - logged; the next beat tries again
                    logger.exception("Renewing the lease of %d jobs failed", len(self.ids))
        finally:
            connections.close_all()  # this thread's connections only


def request_refresh(job, delay: float):
    """Ask for a refresh of ``job`` in ``delay`` seconds (cut to
    ``TETHYS_COMPUTE["CALLBACK_MAX_DELAY"]``), carried out by the monitor.

    Requests merge: a job holds one pending request, at the earliest time asked for, so
    repeating a request neither piles up work nor pushes the refresh back. One query.

    :returns: the time the refresh is due (an aware datetime).
    """
    from .models import TethysJob

    delay = min(max(float(delay), 0.0), float(get_config()["CALLBACK_MAX_DELAY"]))
    due = timezone.now() + timedelta(seconds=delay)
    updated = TethysJob.objects.filter(
        Q(refresh_requested_at__isnull=True) | Q(refresh_requested_at__gt=due), pk=job.pk
    ).update(refresh_requested_at=due)
    if not updated and job.refresh_requested_at is not None:
        due = min(due, job.refresh_requested_at)
    return due


# --- named leases (one engine refresh per scheduler, across processes) --------------------
def claim_named(name: str, owner: str, *, seconds: float | None = None) -> bool:
    """Give ``owner`` the lease named ``name`` (an
    :class:`~tethys_compute.models.EngineLease` row) unless another owner holds it.

    One conditional ``UPDATE`` (the row's lease is free) or, for a name never used, one
    ``INSERT`` that fails for all but one of several claimants: two processes never both
    hold a name.

    :param seconds: lease length; default ``TETHYS_COMPUTE["MONITOR_LEASE"]``.
    :returns: True when ``owner`` now holds the lease.
    """
    from .models import EngineLease

    now = timezone.now()
    seconds = get_config()["MONITOR_LEASE"] if seconds is None else seconds
    expires = now + timedelta(seconds=seconds)
    free = Q(expires__isnull=True) | Q(expires__lt=now) | Q(owner__isnull=True)
    if EngineLease.objects.filter(free, name=name).update(owner=owner, expires=expires):
        return True
    if EngineLease.objects.filter(name=name).exists():
        return False
    try:
        with transaction.atomic(using=router.db_for_write(EngineLease)):
            EngineLease.objects.create(name=name, owner=owner, expires=expires)
    except IntegrityError:
        return False  # another claimant inserted it first
    return True


def release_named(name: str, owner: str) -> bool:
    """Give up ``owner``'s lease ``name``; one taken over meanwhile is left alone.
    Returns True when it was released."""
    from .models import EngineLease

    return bool(
        EngineLease.objects.filter(name=name, owner=owner).update(owner=None, expires=None)
    )
