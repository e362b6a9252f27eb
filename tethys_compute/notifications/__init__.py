"""Job notifications: email and signed webhooks when a job finishes, fails, is held or
retried, or reports nothing for too long (issue 16 item 4; ``docs/notifications.rst``).

Parts:

* :mod:`.spec`: what ``create_job(..., notify=...)`` and ``TethysAppBase.notify`` accept;
* :mod:`.fields`: the job's fields (``notify``, thresholds, last progress report);
* :mod:`.models`: the outbox (:class:`~.models.JobNotification`, one row per job, event
  and attempt; :class:`~.models.NotificationDelivery`, one per channel) and the per-user
  :class:`~.models.NotificationPreference`;
* :mod:`.events`: status events recorded by signal receivers (one INSERT, nothing sent on
  the request path) and the absence events found by the monitor;
* :mod:`.outbox`: the monitor's step, :func:`monitor_step`: claims due deliveries
  atomically, applies the per-user rate limit and sends them;
* :mod:`.channels`: email (Django's email backend) and webhooks (JSON, HMAC-SHA256).
"""

from __future__ import annotations

#: Every event, in the order they are documented.
STATUS_EVENTS = ("finished", "failed", "held", "retried")
ABSENCE_EVENTS = ("no_progress", "waiting")
EVENTS = STATUS_EVENTS + ABSENCE_EVENTS


def batch_preferences(user_ids):
    """See :func:`.events.batch_preferences`."""
    from .events import batch_preferences as scope

    return scope(user_ids)


def monitor_step(now=None, *, limit=None) -> dict:
    """One notification step of the monitor (see :func:`.outbox.monitor_step`)."""
    from .outbox import monitor_step as step

    return step(now=now, limit=limit)
