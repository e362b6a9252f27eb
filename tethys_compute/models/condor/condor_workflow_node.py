from django.db import models
from model_utils.managers import InheritanceManager

from .condor_py_workflow import CondorPyWorkflow


class CondorWorkflowNode(models.Model):
    """A node of an HTCondor DAG (table ``tethys_compute_condorworkflownode``).

    The options are DAGMan's node commands: SCRIPT PRE/POST, VARS, PRIORITY, CATEGORY,
    RETRY (with UNLESS-EXIT), PRE_SKIP, ABORT-DAG-ON, DIR, NOOP and DONE.
    """

    TYPES = (
        ("JOB", "JOB"), ("DAT", "DATA"), ("SUB", "SUBDAG"), ("SPL", "SPLICE"), ("FIN", "FINAL"),
    )
    TYPE_DICT = {display: code for code, display in TYPES}

    name = models.CharField(max_length=1024)
    workflow = models.ForeignKey(
        CondorPyWorkflow, on_delete=models.CASCADE, related_name="node_set"
    )
    parent_nodes = models.ManyToManyField(
        "self", related_name="children_nodes", symmetrical=False
    )
    pre_script = models.CharField(max_length=1024, null=True, blank=True)
    pre_script_args = models.CharField(max_length=1024, null=True, blank=True)
    post_script = models.CharField(max_length=1024, null=True, blank=True)
    post_script_args = models.CharField(max_length=1024, null=True, blank=True)
    variables = models.JSONField(default=dict, null=True, blank=True)
    priority = models.IntegerField(null=True, blank=True)
    category = models.CharField(max_length=128, null=True, blank=True)
    retry = models.PositiveSmallIntegerField(null=True, blank=True)
    retry_unless_exit_value = models.IntegerField(null=True, blank=True)
    pre_skip = models.IntegerField(null=True, blank=True)
    abort_dag_on = models.IntegerField(null=True, blank=True)
    abort_dag_on_return_value = models.IntegerField(null=True, blank=True)
    dir = models.CharField(max_length=1024, null=True, blank=True)
    noop = models.BooleanField(default=False)
    done = models.BooleanField(default=False)
    cached_node_status = models.CharField(max_length=32, null=True, blank=True)

    objects = InheritanceManager()

    def __str__(self):
        return self.name

    @property
    def type(self):
        raise NotImplementedError

    @property
    def parents(self):
        """The node's parents as their own classes."""
        return self.parent_nodes.select_subclasses()

    def add_parent(self, parent):
        """Make ``parent`` (a saved node of the same workflow) run before this node."""
        self.parent_nodes.add(parent)
