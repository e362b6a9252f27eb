from django.db import models


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
        return self._max_jobs

    @max_jobs.setter
    def max_jobs(self, value):
        if not isinstance(value, dict):
            raise ValueError(f"max_jobs must be a dict of category -> int, not {value!r}.")
        self._max_jobs = {str(k): int(v) for k, v in value.items()}

    @property
    def config(self):
        return self._config

    @config.setter
    def config(self, value):
        self._config = value

    def add_max_jobs_throttle(self, category, max_jobs):
        """Limit nodes of ``category`` to ``max_jobs`` running at once (DAGMan MAXJOBS)."""
        throttles = dict(self._max_jobs or {})
        throttles[str(category)] = int(max_jobs)
        self._max_jobs = throttles

    @property
    def nodes(self):
        """The workflow's nodes as their own classes (empty before the first save)."""
        if self.pk is None:
            return []
        return self.node_set.select_subclasses()
