from django.db.models.signals import post_delete
from django.dispatch import receiver

from .condor_py_job import CondorPyJob
from .condor_workflow_node import CondorWorkflowNode


class CondorWorkflowJobNode(CondorWorkflowNode, CondorPyJob):
    """A JOB node of a workflow: a submit description plus the node's DAG options.

    Create it with ``CondorWorkflowJobNode(name=..., workflow=wf,
    condorpy_template_name=..., attributes={...}, remote_input_files=[...])``, save it,
    then link it: ``node_b.add_parent(node_a)``. Its paths are relative to the workflow's
    directory (or the node's ``dir``), where DAGMan runs.
    """

    @property
    def type(self):
        return "JOB"

    @property
    def workspace(self):
        """Node paths are relative to the DAG's directory (Tethys)."""
        return "."

    @property
    def job(self):
        """The node's condorpy ``Job``."""
        return self.condorpy_job

    def update_database_fields(self):
        CondorPyJob.update_database_fields(self)


@receiver(post_delete, sender=CondorWorkflowJobNode,
          dispatch_uid="tethys_compute.condornode_parent_rows")
def _delete_condorpy_row(sender, instance, **kwargs):
    """Remove the node's ``CondorPyJob`` row with it (the other parent of the node)."""
    CondorPyJob.objects.filter(pk=instance.condorpyjob_ptr_id).delete()
