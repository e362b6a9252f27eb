from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from model_utils.managers import InheritanceManager

from .condor_py_job import condorpy_name
from .condor_py_workflow import CondorPyWorkflow

#: Words DAGMan reads as commands, so not usable as node names.
RESERVED_NAMES = {"PARENT", "CHILD", "JOB", "DATA", "SUBDAG", "SPLICE", "FINAL", "ALL_NODES"}


class CondorWorkflowNode(models.Model):
    """A node of an HTCondor DAG (table ``tethys_compute_condorworkflownode``).

    The options are DAGMan's node commands, all written to the DAG file: SCRIPT PRE/POST
    (``pre_script``/``post_script`` with their args), VARS (``variables``), PRIORITY,
    CATEGORY, RETRY with UNLESS-EXIT (``retry``, ``retry_unless_exit_value``), PRE_SKIP,
    ABORT-DAG-ON with RETURN (``abort_dag_on``, ``abort_dag_on_return_value``), DIR, NOOP
    and DONE.

    Names are unique within a workflow (also once spaces become ``_``); parents must be
    nodes of the same workflow and may not form a cycle. Breaking these rules raises
    ``ValidationError`` when saving the node or adding the parent.
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
    def job(self):
        """The node's condorpy job (subclasses)."""
        raise NotImplementedError

    @property
    def condorpy_name(self):
        """The node's name in the DAG file (spaces and unsafe characters as ``_``)."""
        return condorpy_name(self.name)

    @property
    def parents(self):
        """The node's parents as their own classes."""
        return self.parent_nodes.select_subclasses()

    def add_parent(self, parent):
        """Make ``parent`` (a saved node of the same workflow) run before this node.

        :raises ValidationError: if the parent is in another workflow, is this node, or
            would close a cycle.
        """
        if self.pk is not None and getattr(parent, "pk", None) is not None:
            validate_edges([(self.pk, parent.pk)])
        self.parent_nodes.add(parent)

    def update_database_fields(self):
        """Tethys's hook (nothing to copy back for the DAG options)."""

    @property
    def condorpy_node(self):
        """A condorpy ``Node`` carrying this node's job and every DAG option (one per
        instance, so parents can be linked to it)."""
        node = self.__dict__.get("_condorpy_node")
        if node is None:
            node = self.__dict__["_condorpy_node"] = self._build_condorpy_node()
        return node

    def _build_condorpy_node(self):
        import condorpy

        return condorpy.Node(
            job=self.job,
            pre_script=self.pre_script,
            pre_script_args=self.pre_script_args,
            post_script=self.post_script,
            post_script_args=self.post_script_args,
            variables=dict(self.variables or {}),
            priority=self.priority,
            category=self.category,
            retry=self.retry,
            retry_unless_exit_value=self.retry_unless_exit_value,
            pre_skip=self.pre_skip,
            abort_dag_on=self.abort_dag_on,
            abort_dag_on_return_value=self.abort_dag_on_return_value,
            dir=self.dir,
            noop=self.noop,
            done=self.done,
        )

    def clean(self):
        super().clean()
        self.validate_name()

    def validate_name(self):
        """:raises ValidationError: for an empty, reserved or repeated node name."""
        name = (self.name or "").strip()
        if not name:
            raise ValidationError({"name": "A workflow node needs a name."})
        if "+" in name or name.upper() in RESERVED_NAMES:
            raise ValidationError(
                {"name": f'"{name}" cannot name a DAG node (DAGMan reserves it or its "+").'})
        if self.workflow_id is None:
            return
        mine = condorpy_name(name)
        others = (CondorWorkflowNode.objects.filter(workflow_id=self.workflow_id)
                  .exclude(pk=self.pk).values_list("name", flat=True))
        for other in others:
            if condorpy_name(other) == mine:
                raise ValidationError({"name": (
                    f'The workflow already has a node named "{other}"; node names must be '
                    "unique within a workflow (spaces count as underscores).")})

    def save(self, *args, **kwargs):
        self.validate_name()
        self.update_database_fields()
        if hasattr(self, "normalise_attributes"):  # a JOB node (CondorPyJob)
            self.normalise_attributes()
        return super().save(*args, **kwargs)


Edge = CondorWorkflowNode.parent_nodes.through


@receiver(m2m_changed, sender=Edge, dispatch_uid="tethys_compute.condor_node_parents")
def _check_parents(sender, instance, action, reverse, pk_set, **kwargs):
    """Parents added directly through ``parent_nodes``/``children_nodes`` are checked too."""
    if action != "pre_add" or not pk_set:
        return
    validate_edges([(pk, instance.pk) for pk in pk_set] if reverse
                   else [(instance.pk, pk) for pk in pk_set])


def validate_edges(pairs):
    """Check new ``(child id, parent id)`` edges: same workflow, not a node's own parent,
    no cycle.

    :raises ValidationError: naming the nodes.
    """
    ids = {pk for pair in pairs for pk in pair}
    rows = CondorWorkflowNode.objects.filter(pk__in=ids).values_list("pk", "workflow_id", "name")
    info = {pk: workflow for pk, workflow, _ in rows}
    names = {pk: name for pk, _, name in rows}
    for child, parent in pairs:
        if child == parent:
            raise ValidationError(f'Node "{names.get(child)}" cannot be its own parent.')
        if info.get(child) != info.get(parent):
            raise ValidationError(
                f'Node "{names.get(parent)}" cannot be a parent of "{names.get(child)}": it '
                "belongs to another workflow.")
    workflows = {info.get(child) for child, _ in pairs}
    edges = {}
    for child, parent in Edge.objects.filter(
        from_condorworkflownode__workflow_id__in=workflows
    ).values_list("from_condorworkflownode_id", "to_condorworkflownode_id"):
        edges.setdefault(parent, set()).add(child)
    for child, parent in pairs:
        edges.setdefault(parent, set()).add(child)
    cycle = _find_cycle(edges)
    if cycle:
        all_names = dict(CondorWorkflowNode.objects.filter(pk__in=cycle).values_list("pk", "name"))
        path = " -> ".join(all_names.get(pk, str(pk)) for pk in cycle)
        raise ValidationError(f"Adding this parent would make a cycle in the workflow: {path}.")


def _find_cycle(children_of):
    """A list of node ids forming a cycle (first repeated at the end), or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for child in children_of.get(node, ()):
            if state.get(child) == 1:
                return stack[stack.index(child):] + [child]
            if state.get(child) is None:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in list(children_of):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None
