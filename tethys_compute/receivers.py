"""Signal receivers: stop remote work before a job row goes (or refuse the deletion),
remove its own directory and its files on a remote host after the deletion commits, and
send ``job_deleted``.

Connected for ``TethysJob`` only: deleting any job (one object or a queryset, any
subclass) deletes exactly one ``TethysJob`` row, so each job is handled once.

The rule: a job whose remote work cannot be stopped is not deleted. ``pre_delete`` runs
inside the deletion's transaction, so raising
:class:`~tethys_compute.exceptions.RemoteWorkNotStopped` there rolls the whole delete
call back; files are removed only after the deletion committed, so a refused deletion
loses nothing.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver
from django.utils import timezone

from . import signals
from . import status as st
from .conf import get_config
from .exceptions import RemoteWorkNotStopped
from .models import TethysJob
from .models.tethys_job import KEEP_REMOTE_WORK
from .workspaces import remove_job_workspace

logger = logging.getLogger("tethys_compute.jobs")


@receiver(pre_delete, sender=TethysJob, dispatch_uid="tethys_compute.job_pre_delete")
def _stop_remote_work(sender, instance, **kwargs):
    job = instance
    if type(job) is TethysJob:
        job = TethysJob.objects.get_subclass(pk=instance.pk)
    keep = instance.pk in KEEP_REMOTE_WORK.get()
    if not keep:
        _refuse_while_submitting(job)
        try:
            job._stop_remote_work()
        except Exception as exc:  # noqa: BLE001 - any failure refuses the deletion
            logger.warning("Job %s: not deleted, its remote work could not be stopped: %s",
                           job.pk, exc)
            raise RemoteWorkNotStopped(
                f'Job {job.pk} ("{job.name}") was not deleted: its remote work could not '
                f"be stopped ({exc}). The job and its files are kept; delete it again "
                "once its engine answers."
            ) from exc
    job._keep_remote_files = keep
    instance._deleted_job = job


def _refuse_while_submitting(job):
    """A job claimed by an execute() or resubmit() that has not submitted yet (Pending with
    an ``execute_time``) is not deleted: the engine job being made would have no row. A
    claim older than ``RESULTS_LEASE`` (its holder presumed dead) does not hold it."""
    row = TethysJob._base_manager.filter(pk=job.pk).values_list("_status", "execute_time")
    status, claimed = row.first() or (None, None)
    lease = timedelta(seconds=get_config()["RESULTS_LEASE"])
    if status == st.PENDING and claimed is not None and timezone.now() - claimed < lease:
        raise RemoteWorkNotStopped(
            f'Job {job.pk} ("{job.name}") was not deleted: it is being submitted. Delete it '
            "again once it has been submitted."
        )


@receiver(post_delete, sender=TethysJob, dispatch_uid="tethys_compute.job_post_delete")
def _after_delete(sender, instance, **kwargs):
    job = getattr(instance, "_deleted_job", instance)

    def cleanup():
        if not getattr(job, "_keep_remote_files", False):
            try:
                job._remove_remote_files()
            except Exception:  # noqa: BLE001 - the row is gone; the leftover is logged
                logger.exception("Job %s: removing its files on the remote host failed",
                                 job.pk)
        remove_job_workspace(job)
        signals.job_deleted.send(sender=type(job), job=job)

    transaction.on_commit(cleanup)
