"""The notification outbox and the per-user preference.

* :class:`JobNotification`: one event of one job's attempt (unique per job, event and
  attempt: an event is recorded, and so sent, once however many processes see it).
* :class:`NotificationDelivery`: one channel of one event (unique per event, channel and
  target), with its state, tries and the claim of the process sending it.
* :class:`NotificationPreference`: a user's own choice, edited in the admin (or a form of
  the project's).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import EVENTS

EVENT_CHOICES = [(e, e.replace("_", " ")) for e in EVENTS]


def _all_events():
    return list(EVENTS)


class JobNotification(models.Model):
    """One event of a job's attempt; its deliveries are made by the monitor's step."""

    job = models.ForeignKey("tethys_compute.TethysJob", on_delete=models.CASCADE,
                            related_name="notifications")
    event = models.CharField(max_length=16, choices=EVENT_CHOICES)
    attempt = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    #: What happened, in words (the status message, the hold reason...).
    detail = models.CharField(max_length=2048, blank=True, default="")
    #: Set once its deliveries were made (by the monitor's step).
    expanded = models.BooleanField(default=False)

    class Meta:
        verbose_name = "job notification"
        ordering = ("created", "id")
        constraints = [models.UniqueConstraint(fields=("job", "event", "attempt"),
                                               name="tc_notification_once")]
        indexes = [models.Index(fields=("expanded", "id"), name="tc_notification_new",
                                condition=models.Q(expanded=False))]

    def __str__(self):
        return f"{self.get_event_display()} (attempt {self.attempt})"


class NotificationDelivery(models.Model):
    """One message of an event to one channel."""

    PENDING, SENDING, SENT, FAILED, DROPPED = "pending", "sending", "sent", "failed", "dropped"
    STATES = [(s, s) for s in (PENDING, SENDING, SENT, FAILED, DROPPED)]

    notification = models.ForeignKey(JobNotification, on_delete=models.CASCADE,
                                     related_name="deliveries")
    # No index of its own: tc_delivery_user_sent (user, sent_at) serves lookups by user.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+", db_index=False)
    channel = models.CharField(max_length=8, choices=[("email", "email"),
                                                      ("webhook", "webhook")])
    #: The email address or the webhook URL.
    target = models.CharField(max_length=2048)
    #: Name of the webhook's secret in NOTIFY_WEBHOOK_SECRETS ("" = NOTIFY_WEBHOOK_SECRET).
    secret_name = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=8, choices=STATES, default=PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(default=timezone.now)
    claim = models.CharField(max_length=32, blank=True, default="")
    claimed_until = models.DateTimeField(blank=True, null=True)
    sent_at = models.DateTimeField(blank=True, null=True)
    last_error = models.CharField(max_length=1024, blank=True, default="")

    class Meta:
        verbose_name = "notification delivery"
        verbose_name_plural = "notification deliveries"
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=("notification", "channel", "target"),
                                               name="tc_delivery_once")]
        indexes = [
            models.Index(fields=("state", "next_try_at"), name="tc_delivery_due"),
            models.Index(fields=("user", "sent_at"), name="tc_delivery_user_sent"),
        ]

    def __str__(self):
        return f"{self.channel} to {self.target}: {self.state}"


class NotificationPreference(models.Model):
    """A user's notification choice, for all their jobs.

    :ivar enabled: off: nothing is sent to this user, whatever the jobs or apps ask.
    :ivar email: email the user (``user.email``) on ``events``.
    :ivar webhook_url: also post to this webhook on ``events`` (validated as job webhooks).
    :ivar events: the events of the user's jobs to be told about.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="tethys_notification_preference")
    enabled = models.BooleanField(default=True)
    email = models.BooleanField(default=False)
    webhook_url = models.CharField(max_length=2048, blank=True, default="")
    events = models.JSONField(default=_all_events, blank=True)

    class Meta:
        verbose_name = "notification preference"

    def __str__(self):
        return f"Notification preference of {self.user}"

    def clean(self):
        from django.core.exceptions import ValidationError

        from .spec import parse_notify, validate_webhook_url

        errors = {}
        if self.webhook_url:
            try:
                validate_webhook_url(self.webhook_url)
            except ValueError as exc:
                errors["webhook_url"] = str(exc)
        try:
            parse_notify({"channels": ["email"], "events": self.events or []})
        except ValueError as exc:
            errors["events"] = str(exc)
        if errors:
            raise ValidationError(errors)

    def channels(self) -> list[dict]:
        """The channels this preference adds (none when disabled)."""
        if not self.enabled:
            return []
        out = [{"type": "email"}] if self.email else []
        if self.webhook_url:
            out.append({"type": "webhook", "url": self.webhook_url})
        return out
