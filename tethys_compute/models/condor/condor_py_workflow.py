from django.db import models

from .condor_py_job import condorpy_name


class CondorPyWorkflow(models.Model):
    """DAG-wide settings of an HTCondor workflow (table ``tethys_compute_condorpyworkflow``):
    ``max_jobs`` maps a node CATEGORY to its MAXJOBS throttle; ``config`` is a DAGMan
    configuration file."""

    condorpyworkflow_id = models.AutoField(primary_key=True)
    _max_jobs = models.JSONField(default=dict, null=True, blank=True)
    _config = models.CharField(max_length=1024, null=True, blank=True)

    def __str__(self):
        return getattr(self, "name", "") or f"CondorPyWorkflow {self.pk}"

    @property
    def max_jobs(self):
        """CATEGORY -> maximum number of its node jobs submitted at once."""
        return self._max_jobs

    @max_jobs.setter
    def max_jobs(self, value):
        if not isinstance(value, dict):
            raise ValueError(f"max_jobs must be a dict of category -> int, not {value!r}.")
        self._max_jobs = {str(k): int(v) for k, v in value.items()}

    @property
    def config(self):
        """Path of a DAGMan configuration file (``CONFIG`` in the DAG file), or ``None``."""
        return self._config

    @config.setter
    def config(self, value):
        self._config = value

    def add_max_jobs_throttle(self, category, max_jobs):
        """Limit nodes of ``category`` to ``max_jobs`` submitted at once (DAGMan MAXJOBS)."""
        throttles = dict(self._max_jobs or {})
        throttles[str(category)] = int(max_jobs)
        self._max_jobs = throttles

    @property
    def nodes(self):
        """The workflow's nodes as their own classes (empty before the first save)."""
        if self.pk is None:
            return []
        return self.node_set.select_subclasses()

    @property
    def num_jobs(self):
        """Number of nodes."""
        return 0 if self.pk is None else self.node_set.count()

    @property
    def condorpy_workflow(self):
        """A condorpy ``Workflow`` with every node and edge loaded (two queries)."""
        from ...engines.condor.condorpy_objects import TransportWorkflow

        workflow = TransportWorkflow(
            name=condorpy_name(self.name),
            config=self._config or None,
            max_jobs=dict(self._max_jobs or {}),
            working_directory=self.workspace,
        )
        self.load_nodes(workflow)
        return workflow

    def load_nodes(self, workflow=None):
        """Add the workflow's nodes, with their parents, to a condorpy ``Workflow``."""
        if workflow is None:
            return self.condorpy_workflow
        if workflow._node_set:
            return workflow
        nodes = list(self.node_set.select_subclasses().prefetch_related("parent_nodes"))
        by_id = {node.pk: node for node in nodes}
        for node in nodes:
            condorpy_node = node.condorpy_node
            for parent in node.parent_nodes.all():
                condorpy_node.add_parent(by_id[parent.pk].condorpy_node)
            workflow.add_node(condorpy_node)
        return workflow
