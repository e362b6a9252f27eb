"""Per-user limits on active jobs (issue 15, item 5).

A portal user may have at most ``MAX_ACTIVE_JOBS_PER_USER`` active jobs at once (the
setting; ``None``: no limit), or, for an app whose ``TethysAppBase`` subclass sets
``max_active_jobs_per_user``, that many of the app's jobs (the app's limit replaces the
setting and counts only the app's jobs).

A job counts as active from the moment ``execute()`` claims it until it ends: Submitted,
Running, Various, Paused, Other (e.g. HTCondor's Held), and Pending while being submitted.
A job that is waiting (for a free slot, or for a scheduled retry) does not count.
``resubmit()`` and automatic retries are checked too (:meth:`QuotaWait._resubmit_within_quota`).

``execute()`` of a job over the limit does not submit it: the job stays Pending with
``status_message`` "Waiting for a free slot (5 of 5 running)" and ``quota_waiting_since``
set (its place in line); the arguments of the call are kept (``quota_call``) and used
when it starts. :func:`start_waiting_jobs`, a step of every monitor cycle, starts waiting
jobs first in, first out per user as slots free.

The count and the claim happen in one transaction that first locks the user (PostgreSQL,
MySQL: ``SELECT ... FOR UPDATE`` of the user row; SQLite: the database's write lock,
taken by a no-op ``UPDATE`` before the count), so concurrent ``execute()`` calls in any
processes never take more slots than the limit.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from .. import status as st
from ..conf import get_config
from .job_part import JobPart

logger = logging.getLogger("tethys_compute.jobs")

#: Start of the ``status_message`` of a job waiting for a free slot.
WAITING_PREFIX = "Waiting for a free slot"


class QuotaWait(JobPart, models.Model):
    """The fields of a job waiting for a free slot, and the quota-checked claim of a run."""

    #: When the job began waiting for a free slot (its place in line); ``None`` otherwise
    #: (indexed by ``tc_job_quota_waiting``, a partial index of the waiting jobs).
    quota_waiting_since = models.DateTimeField(blank=True, null=True)
    #: The arguments of the ``execute()`` call that is waiting (JSON; see
    #: ``_quota_call_value``).
    quota_call = models.JSONField(blank=True, null=True)

    class Meta:
        abstract = True

    # --- the limit -------------------------------------------------------------------
    def active_job_limit(self) -> tuple[int | None, str | None]:
        """``(limit, label)``: the most active jobs this job's user may have, and the app
        label they are counted in (``None``: all apps). ``(None, None)``: no limit."""
        return _limit_for(self.label)

    # --- the claim -------------------------------------------------------------------
    def _claim_run_within_quota(self, args, kwargs) -> bool:
        """Claim this job's next run (``_claim_run``) if its user has a free slot; else
        make it wait (or keep it waiting). One transaction, the user locked first.

        :returns: True when the run was claimed (submit it), False when the job waits.
        :raises JobStateError: as ``_claim_run`` (claimed by another call).
        """
        limit, label = self.active_job_limit()
        if limit is None or self.__dict__.get("_run_claimed") == self.attempt:
            # No limit, or a resubmit()/retry that claimed its run already.
            self._claim_run()
            self._clear_quota_wait()
            return True
        from .tethys_job import TethysJob

        alias = router.db_for_write(TethysJob)
        with transaction.atomic(using=alias):
            _lock_user(alias, self.user_id, self.pk)
            active = active_jobs(self.user_id, label).count()
            if active < limit:
                self._claim_run()
                self._clear_quota_wait()
                return True
            self._wait_for_slot(active, limit, args, kwargs)
        return False

    def _resubmit_within_quota(self, args, kwargs) -> bool:
        """For ``resubmit()`` (and automatic retries), whose run is claimed already: keep
        it if the user has a free slot without it, else give the claim back and make the
        job wait (the monitor starts it with ``execute()``). One transaction, the user
        locked first.

        :returns: True when the resubmission goes on now.
        """
        limit, label = self.active_job_limit()
        if limit is None:
            return True
        from .tethys_job import TethysJob

        alias = router.db_for_write(TethysJob)
        with transaction.atomic(using=alias):
            _lock_user(alias, self.user_id, self.pk)
            active = active_jobs(self.user_id, label).exclude(pk=self.pk).count()
            if active < limit:
                return True
            # Give the claim back (fenced to this run), then wait like an execute().
            rows = TethysJob._base_manager.filter(pk=self.pk, attempt=self.attempt,
                                                 _status=st.PENDING)
            if not rows.update(execute_time=None):
                return True  # changed meanwhile: let the normal path decide
            self.execute_time = None
            self._take_snapshot({"execute_time"})
            self._wait_for_slot(active, limit, args, kwargs)
        return False

    def _wait_for_slot(self, active, limit, args, kwargs):
        from .job_status import _short
        from .tethys_job import TethysJob

        message = f"{WAITING_PREFIX} ({active} of {limit} running)"
        values: dict[str, Any] = {"status_message": _short(message)}
        if self.quota_waiting_since is None:
            values["quota_waiting_since"] = timezone.now()
            values["quota_call"] = self._quota_call_value(args, kwargs)
        rows = TethysJob._base_manager.filter(pk=self.pk, _status=st.PENDING,
                                             execute_time__isnull=True)
        if rows.update(**values):
            for name, value in values.items():
                setattr(self, name, value)
            self._take_snapshot(set(values))
            logger.info("Job %s: %s", self.pk, message)

    def _clear_quota_wait(self):
        if self.quota_waiting_since is None and self.quota_call is None:
            return
        from .tethys_job import TethysJob

        TethysJob._base_manager.filter(pk=self.pk).update(
            quota_waiting_since=None, quota_call=None, status_message=None)
        self.quota_waiting_since = self.quota_call = self.status_message = None
        self._take_snapshot({"quota_waiting_since", "quota_call", "status_message"})

    # --- the waiting call -------------------------------------------------------------
    def _quota_call_value(self, args, kwargs):
        """The ``execute()`` arguments kept while the job waits (JSON-able), or ``None``
        when there are none. A class whose arguments are not JSON overrides this and
        :meth:`_quota_call_arguments` (``DaskJob`` stores its work in its directory).

        :raises TypeError: the arguments cannot be kept.
        """
        if not args and not kwargs:
            return None
        value = {"args": list(args), "kwargs": dict(kwargs)}
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"Job {self.pk} must wait for a free slot, and its execute() arguments "
                "cannot be kept until it starts (they are not JSON)."
            ) from None
        return value

    def _quota_call_arguments(self) -> tuple[list, dict]:
        """``(args, kwargs)`` to start the waiting job with."""
        call = self.quota_call or {}
        return list(call.get("args") or []), dict(call.get("kwargs") or {})

    @property
    def waiting_for_slot(self) -> bool:
        """True while the job waits for a free slot (no query)."""
        return self.quota_waiting_since is not None and self._status == st.PENDING


def _lock_user(alias, user_id, job_id):
    """Serialise quota claims of one user until the transaction ends."""
    from django.contrib.auth import get_user_model

    from .tethys_job import TethysJob

    if connections[alias].features.has_select_for_update:
        list(get_user_model()._base_manager.using(alias).select_for_update()
             .filter(pk=user_id).values_list("pk", flat=True))
    else:
        # SQLite: the first write of the transaction takes the database's write lock; the
        # count that follows sees every committed claim, and no other claim can commit.
        TethysJob._base_manager.using(alias).filter(pk=job_id).update(attempt=F("attempt"))


def active_filter() -> Q:
    """Jobs that hold a slot (see the module)."""
    claimed = Q(_status=st.PENDING, execute_time__isnull=False,
                quota_waiting_since__isnull=True)
    if _has_field("retry_due_at"):
        claimed &= Q(retry_due_at__isnull=True)
    running = Q(_status__in=[c for c in st.MAYBE_ACTIVE_STATUS_CODES if c != st.PENDING])
    return running | claimed


def _has_field(name):
    from .tethys_job import TethysJob

    try:
        TethysJob._meta.get_field(name)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist
        return False
    return True


def active_jobs(user_id, label=None):
    """The active jobs of user ``user_id`` (app ``label``'s only, when given)."""
    from .tethys_job import TethysJob

    jobs = TethysJob._base_manager.filter(active_filter(), user_id=user_id)
    return jobs.filter(label=label) if label else jobs


def waiting_jobs(label=None):
    """Jobs waiting for a free slot, first in line first."""
    from .tethys_job import TethysJob

    jobs = TethysJob.objects.filter(_status=st.PENDING, quota_waiting_since__isnull=False,
                                    execute_time__isnull=True)
    if label:
        jobs = jobs.filter(label=label)
    return jobs.order_by("quota_waiting_since", "pk")


def positions(jobs) -> dict[int, int]:
    """``{job id: place in line}`` (1 = next to start) of the waiting ``jobs`` among
    their users' waiting jobs: one query for all of them."""
    waiting = [job for job in jobs if getattr(job, "waiting_for_slot", False)]
    if not waiting:
        return {}
    users = {job.user_id for job in waiting}
    line: dict[tuple, list[int]] = {}
    rows = waiting_jobs().filter(user_id__in=users).values_list("pk", "user_id", "label")
    for pk, user_id, label in rows:
        line.setdefault((user_id, None), []).append(pk)
        line.setdefault((user_id, label), []).append(pk)
    places = {}
    for job in waiting:
        _, label = job.active_job_limit()
        ids = line.get((job.user_id, label), [])
        if job.pk in ids:
            places[job.pk] = ids.index(job.pk) + 1
    return places


def start_waiting_jobs(label=None, *, limit=None) -> int:
    """Start waiting jobs as their users' slots free: first in, first out per user.

    Two queries plan the cycle (the first ``limit`` waiting jobs, default
    ``MONITOR_BATCH_SIZE``, and their users' active counts); the jobs that fit are
    leased (so two monitors never start one job) and each is started with the
    quota-checked claim of ``execute()``, which is what guarantees the limit when
    monitors and web processes start jobs at once. A user whose next job does not fit
    is skipped until the next cycle.

    :returns: the number of jobs started.
    """
    from .. import leases
    from .tethys_job import TethysJob

    size = limit or get_config()["MONITOR_BATCH_SIZE"]
    planned = list(waiting_jobs(label).values_list("pk", "user_id", "label")[:size])
    if not planned:
        return 0
    counts = _active_counts({user for _, user, _ in planned})
    chosen: list[Any] = []
    taken: dict[Any, int] = {}
    for pk, user_id, job_label in planned:
        job_limit, scope = _limit_for(job_label)
        if job_limit is None:
            chosen.append(pk)
            continue
        key = (user_id, scope)
        used = taken.get(key, counts.get(key, 0))
        if used < job_limit:
            chosen.append(pk)
            taken[key] = used + 1
    if not chosen:
        return 0
    owner = leases.new_owner()
    ids = leases.claim(TethysJob.objects.filter(pk__in=chosen), owner, limit=len(chosen),
                       order_by=("quota_waiting_since", "pk"))
    started = 0
    try:
        with leases.KeepAlive(owner, ids):
            jobs = TethysJob.objects.filter(pk__in=ids).order_by("quota_waiting_since", "pk")
            for job in jobs.select_subclasses():
                started += _start(job)
    finally:
        leases.release(owner, ids)
    return started


def _limit_for(label):
    from ..app_base import _registry

    app = _registry.get(label or "")
    own = getattr(app, "max_active_jobs_per_user", None) if app else None
    if own is not None:
        return int(own), label
    limit = get_config()["MAX_ACTIVE_JOBS_PER_USER"]
    return (None, None) if limit is None else (int(limit), None)


def _active_counts(users) -> dict[tuple, int]:
    """``{(user id, None): n, (user id, label): n}`` for ``users``: one query."""
    from .tethys_job import TethysJob

    counts: dict[tuple, int] = {}
    rows = (TethysJob._base_manager.filter(active_filter(), user_id__in=users)
            .values("user_id", "label").annotate(n=Count("pk")).order_by())
    for row in rows:
        counts[(row["user_id"], None)] = counts.get((row["user_id"], None), 0) + row["n"]
        counts[(row["user_id"], row["label"])] = row["n"]
    return counts


def _start(job) -> int:
    from ..exceptions import JobStateError

    if not job.waiting_for_slot:
        return 0
    try:
        args, kwargs = job._quota_call_arguments()
        job.execute(*args, **kwargs)
    except JobStateError as exc:
        logger.info("Job %s: not started from the wait: %s", job.pk, exc)
        return 0
    except Exception:  # noqa: BLE001 - one job's failure must not stop the others
        logger.exception("Job %s: starting it from the wait failed", job.pk)
        return 0
    return int(job.quota_waiting_since is None and job._status != st.PENDING)

