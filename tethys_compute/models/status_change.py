from django.db import models
from django.utils import timezone

from .. import status as st
from .lean_insert import LeanInsert


class JobStatusChange(LeanInsert, models.Model):
    """One change of a job's status: from, to, when and why (newest last). Its INSERT
    (one per change) is built once and reused (:mod:`.lean_insert`)."""

    # No index of its own: tc_statuschange_job_time (job, time) serves every lookup by job
    # (one index fewer to write for each status change).
    job = models.ForeignKey(
        "tethys_compute.TethysJob", on_delete=models.CASCADE, related_name="status_history",
        db_index=False,
    )
    old_status = models.CharField(max_length=3, choices=st.STATUSES, blank=True, default="")
    new_status = models.CharField(max_length=3, choices=st.STATUSES)
    other_status = models.CharField(max_length=1024, blank=True, default="")
    time = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=2048, blank=True, default="")
    #: The job's run this change belongs to (``TethysJob.attempt``; null on older rows).
    attempt = models.PositiveIntegerField(blank=True, null=True)
    #: The kind of the failure that made this change, when a run failed (see
    #: ``tethys_compute.failure_kinds``).
    failure_kind = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        verbose_name = "job status change"
        ordering = ("time", "id")
        indexes = [models.Index(fields=("job", "time"), name="tc_statuschange_job_time")]

    def __str__(self):
        old = st.STATUS_DISPLAY.get(self.old_status, "-")
        new = self.other_status or st.STATUS_DISPLAY.get(self.new_status, self.new_status)
        return f"{old} -> {new}"
