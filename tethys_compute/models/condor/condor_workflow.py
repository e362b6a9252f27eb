from django.db import models

from .condor_base import CondorBase
from .condor_py_workflow import CondorPyWorkflow


class CondorWorkflow(CondorBase, CondorPyWorkflow):
    """An HTCondor DAG (DAGMan) of ``CondorWorkflowJobNode`` nodes."""

    JOB_ID_AD = "TethysJobId"
    JOB_TOKEN_AD = "TethysJobToken"

    node_statuses_updated = models.DateTimeField(blank=True, null=True)

    def get_job(self, job_name):
        """Return the node named ``job_name`` as its own class, or ``None``."""
        from .condor_workflow_node import CondorWorkflowNode

        try:
            return self.node_set.get_subclass(name=job_name)
        except CondorWorkflowNode.DoesNotExist:
            return None
