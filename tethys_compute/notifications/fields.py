"""The notification fields of every job (an abstract mixin of ``TethysJob``)."""

from django.db import models


class NotifyFields(models.Model):
    """``notify``: the job's stored spec (:func:`~.spec.parse_notify`), ``None`` when it
    has none; ``notify_no_progress`` / ``notify_waiting``: the absence thresholds (set
    from the spec and the settings by ``create_job``); ``progress_reported_at``: when
    progress was last reported (``set_progress``, report-job-status)."""

    notify = models.JSONField(blank=True, null=True)
    notify_no_progress = models.DurationField(blank=True, null=True)
    notify_waiting = models.DurationField(blank=True, null=True)
    progress_reported_at = models.DateTimeField(blank=True, null=True)

    class Meta:
        abstract = True
