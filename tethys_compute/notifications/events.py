"""Recording events: status events from signal receivers, absence events found by the
monitor's step. Recording is a SELECT and an INSERT guarded by the unique job, event and
attempt, so each event is recorded once however many processes see it; nothing is sent
here."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db.models import DateTimeField as _DateTime
from django.db.models import Exists, ExpressionWrapper, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.dispatch import receiver

from .. import signals
from .. import status as st

logger = logging.getLogger("tethys_compute.notifications")

#: The custom status text of an HTCondor job on hold (models/condor/condor_status.py).
HELD = "Held"


def wanted(spec, preference, event: str) -> bool:
    """Whether a job with ``spec`` (its ``notify``) of a user with ``preference`` (a
    :class:`~.models.NotificationPreference` or ``None``) is to be told about ``event``."""
    if preference is not None and not preference.enabled:
        return False
    if spec and spec.get("channels") and event in spec.get("events", ()):
        return True
    return bool(preference is not None and preference.channels()
                and event in (preference.events or ()))


_UNKNOWN = object()

#: Within :func:`batch_preferences`: ``[user ids of the batch, {user id: preference}]``,
#: the dict filled by the first lookup.
_batch: ContextVar[list | None] = ContextVar("tethys_compute_notify_batch", default=None)


@contextmanager
def batch_preferences(user_ids):
    """Within this block (one thread), the first preference lookup loads those of all
    ``user_ids`` (an iterable of user primary keys) in one query, and later lookups are
    answered from it, so a batch refresh that finishes N jobs costs one query for
    preferences, not N. Nothing is loaded when no event is recorded. Used by
    :func:`tethys_compute.monitor.refresh_jobs`."""
    token = _batch.set([set(user_ids), None])
    try:
        yield
    finally:
        _batch.reset(token)


def preference_of(user_id):
    """The :class:`~.models.NotificationPreference` of ``user_id``, or ``None``."""
    from .models import NotificationPreference

    batch = _batch.get()
    if batch is None or user_id not in batch[0]:
        return NotificationPreference.objects.filter(user_id=user_id).first()
    if batch[1] is None:
        batch[1] = {p.user_id: p for p in
                    NotificationPreference.objects.filter(user_id__in=batch[0])}
    return batch[1].get(user_id)


def record(job, event: str, attempt: int | None = None, detail: str = "",
           preference=_UNKNOWN) -> bool:
    """Record ``event`` of ``job``'s ``attempt`` (default: its current one) when the job or
    its owner asked for it. Returns True when a new row was written. Never raises (a
    failure is logged): it runs inside status writes."""
    from .models import JobNotification

    try:
        if preference is _UNKNOWN:
            preference = preference_of(job.user_id)
        if not wanted(job.notify, preference, event):
            return False
        # get_or_create: INSERT in a savepoint; a concurrent twin's row wins the unique
        # constraint (IntegrityError caught, the row read back).
        _note, created = JobNotification.objects.get_or_create(
            job_id=job.pk, event=event, attempt=job.attempt if attempt is None else attempt,
            defaults={"detail": (detail or "")[:2048]},
        )
        return created
    except Exception:  # noqa: BLE001 - a notification never breaks a status write
        logger.exception("Job %s: recording the %s notification failed", job.pk, event)
        return False


@receiver(signals.job_finished, dispatch_uid="tethys_compute.notify_finished")
def _on_finished(sender, job, status, **kwargs):
    if status in st.RESULTS_STATUS_CODES:
        record(job, "finished", detail=job.status_message or "")
    elif status == st.ERROR:
        record(job, "failed", detail=job.status_message or "")


@receiver(signals.job_status_changed, dispatch_uid="tethys_compute.notify_held")
def _on_status_changed(sender, job, old, new, reason="", **kwargs):
    if new == st.OTHER and getattr(job, "_other_status", None) == HELD:
        record(job, "held", detail=reason or job.status_message or "")
    elif new == st.PENDING and old != st.PENDING and getattr(job, "retry_due_at", None):
        # The retry policy (models/retries.py, run_failed) scheduled the next attempt:
        # "Retry 2 of 3 in 60 s: <failure>" is the job's status message.
        record(job, "retried", attempt=job.attempt + 1, detail=job.status_message or "")


def find_absences(now: datetime, limit: int) -> int:
    """Record the absence events due at ``now``: running jobs with no progress report (nor
    start) for longer than their ``notify_no_progress``, and jobs Pending or Submitted for
    longer than their ``notify_waiting`` (since their retry was due, their execute() or
their creation); each once per attempt. Two queries (one per
    kind, at most ``limit`` jobs each) plus the preferences of their owners.
    :returns: the number of events recorded."""
    from ..models import TethysJob
    from .models import JobNotification

    def not_recorded(event):
        return ~Exists(JobNotification.objects.filter(
            job=OuterRef("pk"), event=event, attempt=OuterRef("attempt")))

    from .models import NotificationPreference

    def at(threshold, *fields):
        return ExpressionWrapper(Coalesce(*fields) + F(threshold), output_field=_DateTime())

    found = []
    threshold = "notify_no_progress"
    stalled = (
        TethysJob.objects.filter(_status__in=(st.RUNNING, st.VARIOUS),
                                 notify_no_progress__isnull=False)
        .alias(started_due=at(threshold, "start_time", "execute_time", "creation_time"),
               report_due=ExpressionWrapper(F("progress_reported_at") + F(threshold),
                                            output_field=_DateTime()))
        .filter(Q(progress_reported_at__isnull=True) | Q(report_due__lte=now),
                started_due__lte=now)
        .filter(not_recorded("no_progress"))
    )
    for job in stalled.only("pk", "user_id", "attempt", "notify", "notify_no_progress",
                            "progress_reported_at")[:limit]:
        minutes = job.notify_no_progress.total_seconds() / 60
        found.append((job, "no_progress", f"no progress reported for {minutes:g} minutes"))
    waiting = (
        TethysJob.objects.filter(_status__in=(st.PENDING, st.SUBMITTED),
                                 notify_waiting__isnull=False)
        # A scheduled retry (models/retries.py) waits from when it is due.
        .alias(due=at("notify_waiting", "retry_due_at", "execute_time", "creation_time"))
        .filter(due__lte=now)
        .filter(not_recorded("waiting"))
    )
    for job in waiting.only("pk", "user_id", "attempt", "notify", "notify_waiting",
                            "_status")[:limit]:
        hours = job.notify_waiting.total_seconds() / 3600
        found.append((job, "waiting", f"still waiting to start after {hours:g} hours"))
    if not found:
        return 0
    preferences = {p.user_id: p for p in NotificationPreference.objects.filter(
        user_id__in={job.user_id for job, _e, _d in found})}
    return sum(record(job, event, detail=detail, preference=preferences.get(job.user_id))
               for job, event, detail in found)
