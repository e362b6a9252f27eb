"""The monitor's notification step: record absences, make the deliveries of new events,
claim the due ones atomically (within each user's rate limit) and send them.

Exactly once: an event row is unique per job, event and attempt; a delivery per event,
channel and target; a delivery is sent by the process whose conditional UPDATE moved it
from ``pending`` to ``sending`` (one winner). A process that dies while sending leaves the
delivery ``sending`` until its claim runs out (``NOTIFY_CLAIM_SECONDS``); it is then
sent again (the only case of a repeat: receivers deduplicate on ``X-Tethys-Delivery``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import get_config
from . import channels
from .events import find_absences, wanted
from .models import JobNotification, NotificationDelivery, NotificationPreference

logger = logging.getLogger("tethys_compute.notifications")
D = NotificationDelivery


def monitor_step(now=None, *, limit=None) -> dict:
    """Run one notification step; ``now`` (an aware datetime, default the current time)
    is the clock for thresholds, backoff and the rate limit.

    :param limit: most events found, expanded and deliveries claimed per kind (default
        ``NOTIFY_BATCH_SIZE``).
    :returns: counts ``{"recorded", "expanded", "sent", "retrying", "failed",
        "dropped"}``. Never raises (errors are logged): it runs inside the monitor's cycle.
    """
    stats = dict.fromkeys(("recorded", "expanded", "sent", "retrying", "failed", "dropped"), 0)
    now = now or timezone.now()
    limit = limit or get_config()["NOTIFY_BATCH_SIZE"]
    try:
        stats["recorded"] = find_absences(now, limit)
        stats["expanded"] = expand(limit)
        owner = uuid.uuid4().hex
        claimed = claim(now, owner, limit, stats)
        if claimed:
            deliver(claimed, owner, now, stats)
    except Exception:  # noqa: BLE001 - never stops the monitor's cycle
        logger.exception("tethys_compute notifications: the step failed")
    return stats


def targets(note, spec, preference, email) -> list[tuple[str, str, str]]:
    """``(channel, target, secret name)`` of each delivery of ``note``."""
    chosen = []
    if preference is not None and not preference.enabled:
        return []
    if spec and note.event in spec.get("events", ()):
        chosen += spec.get("channels", ())
    if preference is not None and note.event in (preference.events or ()):
        chosen += preference.channels()
    out = {}
    for channel in chosen:
        if channel["type"] == "email":
            out[("email", email)] = ""
        else:
            out.setdefault(("webhook", channel["url"]), channel.get("secret", ""))
    return [(c, t, s) for (c, t), s in out.items()]


def expand(limit: int) -> int:
    """Make the deliveries of up to ``limit`` new events (idempotent: two processes
    expanding one event make its deliveries once)."""
    notes = list(JobNotification.objects.filter(expanded=False)
                 .select_related("job", "job__user").order_by("id")[:limit])
    if not notes:
        return 0
    users = {note.job.user_id for note in notes}
    preferences = {p.user_id: p for p in NotificationPreference.objects.filter(
        user_id__in=users)}
    rows = []
    for note in notes:
        job = note.job
        preference = preferences.get(job.user_id)
        if not wanted(job.notify, preference, note.event):
            continue
        for channel, target, secret in targets(note, job.notify, preference,
                                               job.user.email or ""):
            rows.append(D(notification=note, user_id=job.user_id, channel=channel,
                          target=target, secret_name=secret, next_try_at=note.created))
    with transaction.atomic():
        D.objects.bulk_create(rows, ignore_conflicts=True)
        JobNotification.objects.filter(pk__in=[n.pk for n in notes]).update(expanded=True)
    return len(notes)


def _due(now):
    return Q(state=D.PENDING, next_try_at__lte=now) | Q(state=D.SENDING,
                                                       claimed_until__lt=now)


def claim(now, owner: str, limit: int, stats: dict) -> list[int]:
    """Claim up to ``limit`` due deliveries for ``owner``. Per user, under a lock on the
    user's row (PostgreSQL; SQLite's writers are serialised anyway): the deliveries sent
    or being sent in the last ``NOTIFY_RATE_PERIOD`` seconds are counted, and those over
    ``NOTIFY_RATE_LIMIT`` are dropped with a record ("rate limit"). Returns the ids won."""
    config = get_config()
    due = list(D.objects.filter(_due(now)).order_by("next_try_at", "id")
               .values_list("pk", "user_id", "tries")[:limit])
    by_user = defaultdict(list)
    for pk, user_id, tries in due:
        by_user[user_id].append((pk, tries))
    won = []
    cap, period = config["NOTIFY_RATE_LIMIT"], timedelta(seconds=config["NOTIFY_RATE_PERIOD"])
    until = now + timedelta(seconds=config["NOTIFY_CLAIM_SECONDS"])
    for user_id, items in by_user.items():
        with transaction.atomic():
            list(get_user_model().objects.select_for_update().filter(pk=user_id)
                 .values_list("pk"))
            room = None
            if cap:
                used = D.objects.filter(
                    Q(state=D.SENT, sent_at__gt=now - period)
                    | Q(state=D.SENDING, claimed_until__gte=now), user_id=user_id,
                ).count()
                room = max(cap - used, 0)
            for pk, tries in items:
                rows = D.objects.filter(_due(now), pk=pk)
                if room is not None and room <= 0 and tries == 0:
                    if rows.update(state=D.DROPPED, claim="", last_error=(
                            f"rate limit: at most {cap} per {period.total_seconds():g} s "
                            "per user")):
                        stats["dropped"] += 1
                    continue
                if rows.update(state=D.SENDING, claim=owner, claimed_until=until):
                    won.append(pk)
                    if room is not None:
                        room -= 1
    return won


def deliver(ids: list[int], owner: str, now, stats: dict) -> None:
    """Send the deliveries ``owner`` claimed; each outcome is written only while the claim
    is still ``owner``'s. Past ``NOTIFY_STEP_BUDGET`` seconds the rest are handed back."""
    config = get_config()
    started = time.monotonic()
    rows = D.objects.filter(pk__in=ids, claim=owner).select_related(
        "notification", "notification__job", "user").order_by("id")
    for delivery in rows:
        mine = D.objects.filter(pk=delivery.pk, claim=owner, state=D.SENDING)
        if time.monotonic() - started > config["NOTIFY_STEP_BUDGET"]:
            mine.update(state=D.PENDING, claim="", claimed_until=None)
            continue
        try:
            channels.send(delivery, now)
        except channels.SendFailed as exc:
            tries = delivery.tries + 1
            if exc.retry and tries < config["NOTIFY_MAX_TRIES"]:
                delay = min(config["NOTIFY_RETRY_DELAY"] * 2 ** (tries - 1),
                            config["NOTIFY_RETRY_MAX_DELAY"])
                mine.update(state=D.PENDING, tries=tries, claim="", claimed_until=None,
                            next_try_at=now + timedelta(seconds=delay),
                            last_error=str(exc)[:1024])
                stats["retrying"] += 1
            else:
                mine.update(state=D.FAILED, tries=tries, claim="", claimed_until=None,
                            last_error=str(exc)[:1024])
                stats["failed"] += 1
            logger.warning("Notification %s (%s to %s): %s", delivery.pk, delivery.channel,
                           delivery.target, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a bug in one delivery stops no other
            logger.exception("Notification %s failed", delivery.pk)
            mine.update(state=D.FAILED, tries=delivery.tries + 1, claim="",
                        claimed_until=None, last_error=repr(exc)[:1024])
            stats["failed"] += 1
            continue
        mine.update(state=D.SENT, tries=delivery.tries + 1, sent_at=now, claim="",
                    claimed_until=None, last_error="")
        stats["sent"] += 1
