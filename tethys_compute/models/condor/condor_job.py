import os

from django.db.models.signals import post_delete
from django.dispatch import receiver

from ...engines.condor.accounting import submit_commands, walltime_commands
from . import condor_status as cs
from .condor_base import CondorBase
from .condor_py_job import CondorPyJob


class CondorJob(CondorBase, CondorPyJob):
    """An HTCondor job: one cluster of ``num_jobs`` procs from one submit description.

    Create it with ``JobManager.create_job(..., job_type="CONDORJOB",
    condorpy_template_name=..., attributes={...}, remote_input_files=[...],
    scheduler=...)`` and run it with ``execute()``. Files are relative to the job's own
    directory (``workspace``): ``executable`` and ``initialdir`` as ``condor_submit`` reads
    them, logs relative to ``initialdir``.
    """

    #: HTCondor enforces ``max_run_time`` (``allowed_execute_duration`` in the submit).
    ENGINE_ENFORCES_MAX_RUN_TIME = True

    @property
    def _condor_object(self):
        return self.condorpy_job

    def save(self, *args, **kwargs):
        self.normalise_attributes()
        return super().save(*args, **kwargs)

    def update_database_fields(self):
        """Copy changes made on the condorpy object back into the fields (Tethys)."""
        CondorPyJob.update_database_fields(self)

    def _execute(self, queue=None, options=None):
        """Write the submit description into the job's directory (on the submit host)
        and run ``condor_submit``; records ``cluster_id``.

        :param queue: number of procs (sets ``num_jobs``).
        :param options: extra ``condor_submit`` arguments, as a list (each one is passed
            as one argument, locally and over SSH).
        :raises CondorError: with HTCondor's message when the submit is refused.
        """
        if queue:
            self.num_jobs = queue
        self.ensure_workspace()
        engine = self._engine()
        self._ensure_remote_id(engine)
        job = self.condor_object.set_extra_commands(
            {**submit_commands(self), **walltime_commands(self)})
        self.cluster_id = engine.submit_job(job, queue=self.num_jobs, options=list(options or []))
        self.update_database_fields()

    def _query_ids(self):
        return {self.cluster_id: self.num_jobs}, []

    #: ``extended_properties`` key of the per-proc state counts of a multi-proc job.
    PROC_STATUSES_KEY = "__condor_proc_statuses__"

    def _outcome(self, snapshot):
        procs = snapshot.cluster(self.cluster_id)
        if not procs:
            return self._not_found()
        if self.num_jobs > 1:
            counts = {}
            for proc in procs:
                state = cs.node_status([proc])
                counts[state] = counts.get(state, 0) + 1
            self._store_proc_statuses(counts)
        return cs.job_outcome(procs)

    @property
    def cached_statuses(self):
        """``{state: count}`` of a multi-proc job's procs at the last refresh (states as
        node statuses: Idle, Running, Held, Completed, Error, Removed), or ``None``.
        Read by the jobs table's progress bar; never asks HTCondor."""
        counts = (self.extended_properties or {}).get(self.PROC_STATUSES_KEY)
        return dict(counts) if isinstance(counts, dict) else None

    def _store_proc_statuses(self, counts):
        if self.cached_statuses == counts:
            return
        props = self.merge_extended_properties({self.PROC_STATUSES_KEY: counts})
        self.extended_properties = props
        self._take_snapshot({"extended_properties"})

    def _status_counts(self, snapshot):
        from ...engines.condor.queue import CONDOR_STATUS_NAMES

        counts = {}
        for proc in snapshot.cluster(self.cluster_id):
            name = CONDOR_STATUS_NAMES.get(proc.status, "Running")
            counts[name] = counts.get(name, 0) + 1
        return counts

    def _log_files(self):
        """``{"log": ..., "output": ..., "error": ...}``; with several procs, output and
        error are ``{"<proc>": path}``."""
        from ...engines.condor.submit_macros import expand

        attributes = dict(self.condorpy_job.attributes)
        initial = self.condorpy_job.initial_dir or "."
        cluster = self.cluster_id or "*"

        def path(name, proc):
            value = attributes.get(name)
            if not value:
                return None
            text = expand(value, attributes, cluster, proc)
            return os.path.normpath(text if os.path.isabs(text) else os.path.join(initial, text))

        logs = {}
        default_log = os.path.join(initial, f"{self.condorpy_job.name}.log")
        log = path("log", 0) or os.path.normpath(default_log)
        logs["log"] = log
        for name in ("output", "error"):
            if self.num_jobs > 1:
                per_proc = {str(p): path(name, p) for p in range(self.num_jobs)}
                if any(per_proc.values()):
                    logs[name] = {p: v for p, v in per_proc.items() if v}
            elif path(name, 0):
                logs[name] = path(name, 0)
        return logs


@receiver(post_delete, sender=CondorJob, dispatch_uid="tethys_compute.condorjob_parent_rows")
def _delete_condorpy_row(sender, instance, **kwargs):
    """A job deleted through ``TethysJob`` leaves its ``CondorPyJob`` row behind (multi-table
    inheritance deletes one parent chain); remove it."""
    CondorPyJob.objects.filter(pk=instance.condorpyjob_ptr_id).delete()
