import logging
import os
from datetime import timedelta

from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from ...engines.condor.accounting import append_options, submit_commands
from ...exceptions import JobStateError
from . import condor_status as cs
from .condor_base import CondorBase
from .condor_py_workflow import CondorPyWorkflow

logger = logging.getLogger("tethys_compute.condor")


class CondorWorkflow(CondorBase, CondorPyWorkflow):
    """An HTCondor DAG (run by DAGMan) of ``CondorWorkflowJobNode`` nodes.

    Its status follows the DAGMan job and its nodes: Submitted until a node job exists,
    Various while DAGMan runs (a held node included), Complete when DAGMan exited 0,
    Error when it ended with failed nodes, Aborted when removed. Node statuses are cached
    on the nodes (``cached_node_status``) for the jobs table.
    """

    JOB_ID_AD = "TethysJobId"
    JOB_TOKEN_AD = "TethysJobToken"

    node_statuses_updated = models.DateTimeField(blank=True, null=True)

    @property
    def _condor_object(self):
        return self.condorpy_workflow

    def get_job(self, job_name):
        """Return the node named ``job_name`` as its own class, or ``None``."""
        from .condor_workflow_node import CondorWorkflowNode

        try:
            return self.node_set.get_subclass(name=job_name)
        except CondorWorkflowNode.DoesNotExist:
            return None

    # --- submission ---------------------------------------------------------------------------
    @property
    def status_report_options(self):
        """``condor_submit_dag`` options adding the job's id and status-report token as
        ClassAd attributes of the DAGMan job (``TethysJobId``, ``TethysJobToken``). Each
        item is one argument; the transport quotes it for the shell when needed."""
        return ["-append", f'+{self.JOB_ID_AD} = "{self.pk}"',
                "-append", f'+{self.JOB_TOKEN_AD} = "{self.status_report_token}"']

    def validate_nodes(self):
        """:raises JobStateError: if the workflow has no node."""
        if not self.node_set.exists():
            raise JobStateError(f'Workflow "{self.name}" has no nodes to run.')

    def _execute(self, options=None):
        """Write the DAG file and one submit description per node into the workflow's
        directory (on the submit host) and run ``condor_submit_dag -force`` (every run
        starts the whole DAG; no rescue DAG is used). Records the DAGMan ``cluster_id``.

        :param options: extra ``condor_submit_dag`` arguments, as a list.
        """
        self.validate_nodes()
        self.ensure_workspace()
        engine = self._engine()
        self._ensure_remote_id(engine)
        commands = submit_commands(self)
        own = {k: v for k, v in commands.items() if k != f"+{self.JOB_ID_AD}"}
        arguments = ["-force", *(options or []), *self.status_report_options,
                     *append_options(own)]
        workflow = self.condor_object.set_extra_commands(commands)  # for each node
        self.cluster_id = engine.submit_workflow(workflow, options=arguments)

    def _reset_for_resubmit(self):
        self.node_set.update(cached_node_status=None)
        type(self).objects.filter(pk=self.pk).update(node_statuses_updated=None)
        self.node_statuses_updated = None

    # --- status -------------------------------------------------------------------------------
    def _query_ids(self):
        return {self.cluster_id: 1}, [self.cluster_id]

    def _usage_procs(self, snapshot):
        return [proc for procs in snapshot.dag_nodes(self.cluster_id).values() for proc in procs]

    def _outcome(self, snapshot):
        dag = snapshot.cluster(self.cluster_id)
        if not dag:
            return self._not_found()
        nodes = {node.condorpy_name: node for node in self.node_set.all()}
        seen = snapshot.dag_nodes(self.cluster_id)
        current = {
            name: (cs.node_status(seen[name]) if name in seen
                   else node.cached_node_status or "Unexpanded")
            for name, node in nodes.items()
        }
        status, message, settled = cs.workflow_outcome(dag[0], current)
        self._store_node_statuses(nodes, settled)
        return status, message

    def _store_node_statuses(self, nodes, statuses):
        changed = []
        for name, status in statuses.items():
            node = nodes.get(name)
            if node is not None and node.cached_node_status != status:
                node.cached_node_status = status
                changed.append(node)
        now = timezone.now()
        with transaction.atomic():
            if changed:
                type(changed[0]).objects.bulk_update(changed, ["cached_node_status"])
            CondorWorkflow.objects.filter(pk=self.pk).update(node_statuses_updated=now)
        self.node_statuses_updated = now
        self._take_snapshot({"node_statuses_updated"})

    def _status_counts(self, snapshot):
        self._outcome(snapshot)
        return self.cached_node_statuses

    # --- cached node statuses (Tethys 4.6) -------------------------------------------------------
    @property
    def node_statuses_max_age(self):
        """How long cached node statuses count as current (``timedelta``, default 60 s)."""
        return self.__dict__.get("_node_statuses_max_age") or timedelta(seconds=60)

    @node_statuses_max_age.setter
    def node_statuses_max_age(self, value):
        if not isinstance(value, timedelta):
            value = timedelta(seconds=value)
        self._node_statuses_max_age = value

    @property
    def node_statuses_are_current(self):
        """True when node statuses were stored less than ``node_statuses_max_age`` ago."""
        return bool(self.node_statuses_updated) and (
            timezone.now() - self.node_statuses_updated < self.node_statuses_max_age)

    @property
    def cached_node_statuses(self):
        """``{status: count}`` over the nodes from their cached statuses (never asks
        HTCondor); a node with no status counts as ``"Unexpanded"``. Every HTCondor
        status name (condorpy's) is a key, with 0 where no node is in it (Tethys)."""
        counts = dict.fromkeys(cs.CONDORPY_NODE_STATUSES, 0)
        for status in self.node_set.values_list("cached_node_status", flat=True):
            key = status or "Unexpanded"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def apply_node_statuses(self, status_by_name):
        """Store reported node statuses (``{condorpy node name: status}``), as Tethys 4.6.

        Unknown names and statuses are ignored (logged). Nothing changes once the workflow
        has finished: a late report cannot set nodes running again.

        :returns: ``{node name: status}`` of the nodes updated.
        """
        if not isinstance(status_by_name, dict) or self.is_terminal:
            return {}
        nodes = {node.condorpy_name: node for node in self.node_set.all()}
        applied = {}
        for name, status in status_by_name.items():
            node = nodes.get(name)
            if node is None:
                continue
            if status not in cs.NODE_STATUSES:
                logger.warning("Workflow %s: ignoring unknown node status %r for %s.",
                               self.pk, status, name)
                continue
            applied[node.condorpy_name] = status
        if applied:
            self._store_node_statuses(nodes, applied)
        return {nodes[name].name: status for name, status in applied.items()}

    # --- logs ---------------------------------------------------------------------------------
    def _log_files(self):
        """``{"workflow": {"out", "log", "error"}, <node name>: {"log", "error", "output"}}``;
        node paths may contain ``*`` (the newest retry's file is read)."""
        from ...engines.condor.submit_macros import expand

        dag = self.condorpy_workflow.dag_file
        logs = {"workflow": {"out": f"{dag}.dagman.out", "log": f"{dag}.dagman.log",
                             "error": f"{dag}.lib.err"}}
        for node in self.nodes:
            job = node.job
            attributes = dict(job.attributes)
            base = os.path.join(node.dir or "", job.initial_dir or ".")
            entry = {}
            for key, attr in (("log", "log"), ("error", "error"), ("output", "output")):
                value = attributes.get(attr)
                if value:
                    text = expand(value, attributes, "*", "*")
                    entry[key] = os.path.normpath(os.path.join(base, text))
            logs[node.name] = entry
        return logs


@receiver(post_delete, sender=CondorWorkflow,
          dispatch_uid="tethys_compute.condorworkflow_parent_rows")
def _delete_condorpy_row(sender, instance, **kwargs):
    """A workflow deleted through ``TethysJob`` leaves its ``CondorPyWorkflow`` row (and its
    nodes) behind; remove them."""
    CondorPyWorkflow.objects.filter(pk=instance.condorpyworkflow_ptr_id).delete()
