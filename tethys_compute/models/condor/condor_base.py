"""``CondorBase``: what HTCondor jobs and workflows share (Tethys's API, our rules).

Every call to HTCondor goes through the engine (:mod:`tethys_compute.engines.condor`);
this module holds state and rules. See :mod:`.condor_status` for the status mapping.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import defaultdict

from django.db import models
from django.utils import timezone

from ... import status as st
from ...engines.condor.queue import usage_of
from ...exceptions import EngineUnavailable, JobStateError, JobUnknownToEngine
from ...log_files import LogFile, LogNotAvailable, OutsideDirectory
from ..tethys_job import TethysJob
from . import condor_failures
from . import condor_status as cs
from .condor_scheduler import CondorScheduler

logger = logging.getLogger("tethys_compute.condor")


class CondorBase(TethysJob):
    """Common base of HTCondor jobs and workflows (table ``tethys_compute_condorbase``).

    ``cluster_id`` is HTCondor's ClusterId of the submitted job (for a workflow, the
    DAGMan job); ``remote_id`` names the job's directory on a remote submit host (under
    the SSH login directory). Without a ``scheduler`` the job runs on this machine.
    """

    #: condorpy status name -> status (Tethys's table, with our corrections: Held is its
    #: own state, a failed node is Error).
    STATUS_MAP = {
        "Unexpanded": "SUB",
        "Idle": "SUB",
        "Running": "RUN",
        "Removed": "ABT",
        "Completed": "COM",
        "Held": cs.HELD_STATUS,
        "Submission_err": "ERR",
        "Various": "VAR",
        "Various-Complete": "VCP",
        cs.NODE_ERROR: "ERR",
    }

    cluster_id = models.IntegerField(blank=True, default=0)
    remote_id = models.CharField(max_length=32, blank=True, null=True)
    scheduler = models.ForeignKey(
        CondorScheduler, on_delete=models.SET_NULL, blank=True, null=True
    )

    # --- engine -------------------------------------------------------------------------------
    def _engine(self):
        from ...engines.condor import engine_for

        return engine_for(self.scheduler)

    def _ensure_remote_id(self, engine):
        if engine.remote and not self.remote_id:
            self.remote_id = uuid.uuid4().hex
        return self.remote_id

    @property
    def condor_object(self):
        """The job's condorpy ``Job`` or ``Workflow``, connected to its submit host
        (commands run in the job's directory there, without ``os.chdir``)."""
        engine = self._engine()
        self._ensure_remote_id(engine)
        obj = self._condor_object
        object.__setattr__(obj, "_cluster_id", self.cluster_id or 0)
        object.__setattr__(obj, "_remote_id", self.remote_id)
        return engine.bind(obj, self.workspace, self.remote_id)

    @property
    def _condor_object(self):
        raise NotImplementedError

    def update_database_fields(self):
        """Tethys's hook, called before saving (nothing to copy back here)."""

    # --- status -------------------------------------------------------------------------------
    def _query_ids(self):
        """``({ClusterId: procs expected}, [DAGMan ClusterIds])`` to ask the schedd about."""
        return {self.cluster_id: 1}, []

    def _snapshot(self, engine=None):
        prefetched = self.__dict__.pop("_prefetched_snapshot", None)
        if isinstance(prefetched, Exception):
            raise prefetched
        if prefetched is not None:
            return prefetched
        clusters, dags = self._query_ids()
        return (engine or self._engine()).query(clusters=clusters, dags=dags)

    def _usage_procs(self, snapshot):
        """The procs whose usage is the job's (its cluster's; a workflow's node jobs)."""
        return snapshot.cluster(self.cluster_id)

    def _outcome(self, snapshot):
        """``(status, message)`` from a queue snapshot; subclasses implement it."""
        raise NotImplementedError

    def _update_status(self, *args, **kwargs):
        if not self.execute_time or not self.cluster_id:
            return None
        engine = self._engine()
        snapshot = self._snapshot(engine)
        status, message = self._outcome(snapshot)
        self.record_usage(usage_of(self._usage_procs(snapshot)))  # same answer, no new call
        settled = condor_failures.settle(self, engine, snapshot, status, message)
        if settled is None:
            return None  # a failed run, recorded by run_failed (retry or Error)
        status, message = settled
        if message != self.status_message:
            self._write_fields(status_message=message)
        return status

    def _not_found(self):
        """HTCondor answered and has no such cluster: not terminal at once; the core moves
        the job to Error once it stays unknown for ``LOST_JOB_GRACE`` seconds."""
        raise JobUnknownToEngine(
            f"HTCondor has no record of cluster {self.cluster_id}: it is in neither "
            "condor_q nor condor_history")

    def _sync_after_failure(self, engine, message):
        """Copy a failed remote job's files back so its logs stay readable."""
        try:
            engine.sync_outputs(self.condor_object)
        except EngineUnavailable as exc:
            return f"{message} Its files are still on the submit host ({exc})."
        return message

    def _refresh_now(self):
        """Refresh from the engine now, whatever ``update_status_interval`` says."""
        if self.is_terminal or not self.cluster_id:
            return False
        return self._refresh_from_engine()

    @property
    def statuses(self):
        """Counts of HTCondor states: per proc for a job, per node for a workflow, keyed
        by condorpy's names (``{"Idle": 0, "Running": 2, ...}``). Asks the engine at
        most once per ``update_status_interval``."""
        cached = self.__dict__.get("_statuses")
        if cached is not None and timezone.now() - cached[0] < self.update_status_interval:
            return cached[1]
        counts = dict.fromkeys(cs.NODE_STATUSES[:7], 0)
        if self.cluster_id:
            for name, count in self._status_counts(self._snapshot()).items():
                counts[name] = counts.get(name, 0) + count
        self._statuses = (timezone.now(), counts)
        return counts

    def _status_counts(self, snapshot):
        raise NotImplementedError

    def status_batch_key(self):
        """Jobs of one scheduler are refreshed with one query (see bulk_update_status)."""
        return self.scheduler_id

    @classmethod
    def bulk_update_status(cls, jobs):
        """Refresh many jobs with one ``condor_q`` and at most one ``condor_history`` per
        scheduler (or one bindings query), then apply each job's answer through the
        normal status rules. Jobs not due for a refresh are left alone; finished jobs
        whose result processing is incomplete get it retried (no HTCondor query).

        :param jobs: jobs of this class (e.g. one scheduler's, as the monitor groups them).
        :returns: the number of jobs whose status changed.
        """
        by_scheduler, retries = defaultdict(list), []
        for job in jobs:
            if job.is_terminal:
                if job.post_processing_incomplete:
                    retries.append(job)
            elif job.execute_time and job.cluster_id and job.is_time_to_update():
                by_scheduler[job.scheduler_id].append(job)
        changed = 0
        for group in by_scheduler.values():
            scheduler = group[0].scheduler  # loaded once for the group, not per job
            for job in group:
                job.scheduler = scheduler
            clusters, dags = {}, set()
            for job in group:
                job_clusters, job_dags = job._query_ids()
                clusters.update(job_clusters)
                dags.update(job_dags)
            try:
                snapshot = group[0]._engine().query(clusters=clusters, dags=dags)
            except EngineUnavailable as exc:
                snapshot = exc
            for job in group:
                job._prefetched_snapshot = snapshot
                try:
                    # Refreshed now whatever time passed since the query was planned.
                    changed += bool(job._refresh_from_engine())
                finally:
                    job.__dict__.pop("_prefetched_snapshot", None)
        for job in retries:
            changed += bool(job.update_status())
        return changed

    def _report_is_provisional(self, code):
        """A results status (Complete, Various-Complete, Results-Ready) reported by a compute
        node is provisional while HTCondor may still have the job: its script may report
        Complete as its last step and still write files that HTCondor transfers when it
        exits, and its exit code may still fail it. So the report is not written; a
        refresh is requested at once (carried out by the monitor's next cycle, or the
        next poll), and the status follows the schedd: Complete (then the results are
        fetched) or Error from the exit code, once the job has left the queue."""
        if code not in st.RESULTS_STATUS_CODES or not self.cluster_id:
            return False
        from ... import leases

        leases.request_refresh(self, 0)
        logger.info("Job %s: %s reported by the compute node; it is final once HTCondor "
                    "reports that cluster %s has left the queue", self.pk,
                    st.display_name(code), self.cluster_id)
        return True

    # --- results ------------------------------------------------------------------------------
    def _process_results(self, *args, **kwargs):
        """Copy a remote job's outputs back into its directory, then remove the remote
        directory. A failed copy raises ``EngineUnavailable``: the job stays waiting and
        the copy is retried at the next refresh; nothing is dropped."""
        engine = self._engine()
        if not engine.remote or not self.remote_id:
            return None
        engine.sync_outputs(self.condor_object)
        try:
            engine.remove_workdir(self.remote_id)
        except EngineUnavailable:
            logger.warning("Job %s: outputs copied back, but %s could not be removed from the "
                           "submit host; it is removed when the job is deleted.", self.pk,
                           self.remote_id)
        return None

    # --- control ------------------------------------------------------------------------------
    def _act(self, action):
        from ...engines.condor import NotInQueue

        if not self.cluster_id or self._status == "PEN":
            raise JobStateError(f"Job {self.pk} has not been submitted to HTCondor.")
        try:
            self._engine().act(action, [self.cluster_id])
        except NotInQueue:
            self._refresh_now()
            return False
        self._refresh_now()
        return True

    def stop(self):
        """Remove the job from HTCondor's queue (``condor_rm``); its status settles to
        Aborted (or stays Complete if it finished first). A job never submitted becomes
        Aborted.

        :raises EngineUnavailable: when the submit host cannot be reached.
        """
        if not self.cluster_id or self._status == "PEN":
            self.update_status("ABT", reason="stopped before it was submitted")
            return
        from ...engines.condor import REMOVE

        self._act(REMOVE)

    def pause(self):
        """Hold the job in HTCondor (``condor_hold``); its status becomes Paused.

        :raises JobStateError: when the job is not in HTCondor's queue.
        :raises EngineUnavailable: when the submit host cannot be reached.
        """
        from ...engines.condor import HOLD

        if not self._act(HOLD):
            raise JobStateError(f"Job {self.pk} is no longer in HTCondor's queue.")

    def resume(self):
        """Release a held job (``condor_release``); it becomes Submitted, then Running.

        :raises JobStateError: when the job is not held in HTCondor's queue.
        :raises EngineUnavailable: when the submit host cannot be reached.
        """
        from ...engines.condor import RELEASE

        if not self._act(RELEASE):
            raise JobStateError(f"Job {self.pk} is not held in HTCondor's queue.")

    def _stop_overdue_run(self, attempt):
        """The run went over ``max_run_time`` (a workflow: the monitor enforces it):
        remove its cluster from the queue."""
        from ...engines.condor import REMOVE, NotInQueue

        if self.cluster_id:
            try:
                self._engine().act(REMOVE, [self.cluster_id])
            except NotInQueue:
                pass

    def _resubmit(self, *args, **kwargs):
        """Remove the previous run from the queue if it is still there, then submit again
        (a new cluster; the remote directory is reused)."""
        from ...engines.condor import REMOVE, NotInQueue

        if self.cluster_id:
            try:
                self._engine().act(REMOVE, [self.cluster_id])
            except NotInQueue:
                pass
        from ...run_logs import keep_deferred

        keep_deferred(self)
        self.cluster_id = 0
        self._reset_for_resubmit()
        return self.execute(*args, **kwargs)

    def _keep_run_logs(self, attempt):
        # After the previous cluster left the queue (``_resubmit``): its removal's event
        # is then in the kept user log, not in the next run's; or when resubmit() ends
        # without ``_resubmit`` (the run waits for a free slot).
        self.__dict__["_logs_to_keep"] = attempt

    def _run_log_files(self):
        """The local log files of the ending run (:mod:`tethys_compute.run_logs`); a
        ``*`` wildcard is resolved to its matches in the job's directory."""
        import glob

        cluster = self.cluster_id
        self.cluster_id = (cluster or 0) + 1
        try:  # the names the next cluster would write: a per-cluster name is not moved
            following = self._log_files()
        finally:
            self.cluster_id = cluster

        def resolve(spec, other):
            files = {}
            for name, value in spec.items():
                if isinstance(value, dict):
                    files[name] = resolve(value, other.get(name) or {})
                elif value and value != other.get(name) and "*" not in value:
                    files[name] = (value,)
                elif value and "*" in value:
                    for match in glob.glob(os.path.join(self.workspace, value)):
                        files[f"{name} {os.path.basename(match)}"] = os.path.relpath(
                            match, self.workspace)
                else:
                    files[name] = value
            return files

        return resolve(self._log_files(), following)

    def _reset_for_resubmit(self):
        """Hook for workflows (cached node statuses)."""

    def _stop_remote_work(self):
        """Before the row is deleted: remove the job from HTCondor's queue (``condor_rm``),
        whatever its stored status (a reported Error or Complete does not prove that the
        schedd let the job go); a cluster no longer in the queue is fine.

        :raises EngineUnavailable: when ``condor_rm`` fails or the submit host cannot be
            reached; the deletion is then refused.
        """
        from ...engines.condor import REMOVE, NotInQueue

        if not self.cluster_id:
            return
        try:
            self._engine().act(REMOVE, [self.cluster_id])
        except NotInQueue:
            pass

    def _remove_remote_files(self):
        """After the deletion committed: delete the job's directory on the remote submit
        host (the local directory is removed by the core, when it is the job's own)."""
        if self.remote_id:
            self._engine().remove_workdir(self.remote_id)

    # --- logs ---------------------------------------------------------------------------------
    def _log_files(self):
        """Nested dict of log names -> paths relative to the job's directory (a path may
        hold ``*`` wildcards: the newest match is read)."""
        return {}

    def _get_logs(self):
        """``{name: LogFile}`` (nested for groups): each log is opened only when read,
        and only from inside the job's directory (see :mod:`tethys_compute.log_files`)."""
        engine = self._engine()

        def build(spec):
            if isinstance(spec, dict):
                return {name: build(value) for name, value in spec.items()}
            return LogFile(spec, lambda path=spec: self._open_log(engine, path))

        return _with_events(build(self._log_files()))

    def _read_log(self, engine, path):
        """The text of the log at ``path`` (its end), or the reason it cannot be read."""
        return LogFile(path, lambda: self._open_log(engine, path))()

    def _open_log(self, engine, path):
        """``(file object, size)`` of the log at ``path`` (relative to the job's
        directory; ``*`` wildcards pick the newest match).

        :raises LogNotAvailable: with the reason, shown in place of the log.
        """
        try:
            if "*" in path:
                matches = engine.glob(self.workspace, self.remote_id, path)
                if not matches:
                    raise FileNotFoundError(path)
                path = max(matches, key=_natural_key)
            # A running remote job's files are read where they are written; once the job
            # has finished they have been copied back (a resubmitted job's old copies are
            # not shown while it runs again).
            return engine.open_log(self.workspace, self.remote_id, path,
                                   prefer_local=self.is_terminal)
        except OutsideDirectory:
            raise LogNotAvailable(
                f"{path} is not available: logs are read only from inside the job's "
                "directory.") from None
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise LogNotAvailable(f"{path} does not exist (yet).") from None
        except EngineUnavailable as exc:
            raise LogNotAvailable(f"{path} cannot be read now: {exc}") from None
        except OSError as exc:
            raise LogNotAvailable(f"There was an error while reading {path}: {exc}") from None

    @staticmethod
    def read_file(file_name):
        """Text of a local file, or a message saying it does not exist (Tethys's helper)."""
        try:
            with open(file_name, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return f"{file_name} does not exist"
        except OSError:
            return f"There was an error while reading {file_name}"


CondorBase.add_custom_active_status(cs.HELD_STATUS)


def _with_events(logs):
    """Beside each user log (``"log"``), an ``"events"`` tab: its events one per line
    (:mod:`tethys_compute.engines.condor.user_log`), read when shown."""
    from ...engines.condor.user_log import events_of
    from ...log_files import CALL_MAX_BYTES

    for value in list(logs.values()):
        if isinstance(value, dict):
            _with_events(value)
    log = logs.get("log")
    if isinstance(log, LogFile):
        logs["events"] = lambda: events_of(log, CALL_MAX_BYTES)
    return logs


def _natural_key(text):
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
