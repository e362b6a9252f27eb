from .condor_py_job import CondorPyJob
from .condor_workflow_node import CondorWorkflowNode


class CondorWorkflowJobNode(CondorWorkflowNode, CondorPyJob):
    """A JOB node of a workflow: a submit description plus the node's DAG options."""

    @property
    def type(self):
        return "JOB"

    @property
    def workspace(self):
        """Node paths are relative to the DAG's directory (Tethys)."""
        return "."
