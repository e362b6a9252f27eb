from django.db import models

from ..tethys_job import TethysJob
from .condor_scheduler import CondorScheduler


class CondorBase(TethysJob):
    """Common base of HTCondor jobs and workflows (table ``tethys_compute_condorbase``).

    ``cluster_id`` is HTCondor's ClusterId of the submitted job (for a workflow, the DAGMan
    job); ``remote_id`` the name of the job's working directory on a remote submit host.
    """

    cluster_id = models.IntegerField(blank=True, default=0)
    remote_id = models.CharField(max_length=32, blank=True, null=True)
    scheduler = models.ForeignKey(
        CondorScheduler, on_delete=models.SET_NULL, blank=True, null=True
    )
