from django.db import models

from ..tethys_job import TethysJob
from .dask_field import DaskSerializedField
from .dask_scheduler import DaskScheduler


class DaskJob(TethysJob):
    """A job run as one task on a ``distributed`` cluster (table ``tethys_compute_daskjob``).

    ``key`` is the task's key; ``result`` the (processed) result once complete.
    """

    key = models.CharField(max_length=1024, null=True)
    scheduler = models.ForeignKey(DaskScheduler, on_delete=models.SET_NULL, blank=True, null=True)
    forget = models.BooleanField(default=False)
    result = DaskSerializedField(blank=True, null=True)
