"""Signal receivers: stop remote work before a job row goes, remove its own directory
after the deletion commits, and send ``job_deleted``.

Connected for ``TethysJob`` only: deleting any job (one object or a queryset, any
subclass) deletes exactly one ``TethysJob`` row, so each job is handled once.
"""

import logging

from django.db import transaction
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from . import signals
from .models import TethysJob
from .workspaces import remove_job_workspace

logger = logging.getLogger("tethys_compute.jobs")


@receiver(pre_delete, sender=TethysJob, dispatch_uid="tethys_compute.job_pre_delete")
def _stop_remote_work(sender, instance, **kwargs):
    job = instance
    if type(job) is TethysJob:
        job = TethysJob.objects.get_subclass(pk=instance.pk)
    try:
        job._stop_remote_work()
    except Exception:  # noqa: BLE001 - deletion goes on; the failure is logged
        logger.exception("Job %s: stopping remote work before deletion failed", job.pk)
    instance._deleted_job = job


@receiver(post_delete, sender=TethysJob, dispatch_uid="tethys_compute.job_post_delete")
def _after_delete(sender, instance, **kwargs):
    job = getattr(instance, "_deleted_job", instance)

    def cleanup():
        remove_job_workspace(job)
        signals.job_deleted.send(sender=type(job), job=job)

    transaction.on_commit(cleanup)
