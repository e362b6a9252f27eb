"""The interface models use to talk to HTCondor, and its command-line implementation.

:class:`CondorEngine` is what ``CondorJob``/``CondorWorkflow`` call: submit a condorpy job
or workflow, query many clusters at once, hold/release/remove, read and sync job files,
test the connection. :class:`CliEngine` does it with HTCondor's command-line tools
through a transport: this machine's tools, or a remote submit host's over SSH.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import re

from ...exceptions import EngineUnavailable
from ...log_files import CALL_MAX_BYTES, listdir_within, open_within
from .errors import CondorError, NotInQueue
from .queue import ATTRIBUTES, QUERY_SLACK, QueueSnapshot, constraint, merge, parse_json
from .transport import Transport

logger = logging.getLogger("tethys_compute.condor")

HOLD, RELEASE, REMOVE = "hold", "release", "remove"
#: condor_submit's "N job(s) submitted to cluster C." (condorpy's pattern, plus -terse).
_CLUSTER = re.compile(r"(?:submitted to cluster |\*\* Proc )(\d+)")
_TOOLS = {HOLD: "condor_hold", RELEASE: "condor_release", REMOVE: "condor_rm"}


class CondorEngine:
    """Base of the HTCondor engines. ``transport`` holds the job files."""

    kind = "base"

    def __init__(self, transport: Transport):
        self.transport = transport

    @property
    def remote(self) -> bool:
        """True when the submit host is another machine (files are copied over SSH)."""
        return self.transport.remote

    def describe(self) -> str:
        return self.transport.describe()

    # --- directories ------------------------------------------------------------------------
    def workdir(self, workspace: str, remote_id: str | None) -> str:
        """Where a job's files live on the submit host."""
        if self.remote:
            if not remote_id:
                raise CondorError("A remote job has no remote directory (remote_id) yet.")
            return remote_id
        return workspace

    def bind(self, condor_object, workspace, remote_id):
        """Attach a condorpy object to this engine's transport and the job's directories."""
        return condor_object.bind(self.transport, self.workdir(workspace, remote_id), workspace)

    def _path(self, workspace, remote_id, relative):
        base = self.workdir(workspace, remote_id)
        return posixpath.join(base, relative) if self.remote else os.path.join(base, relative)

    # --- submission and queue (implemented per engine) ------------------------------------------
    def submit_job(self, job, *, queue: int, options: list[str]) -> int:
        """Submit a bound condorpy ``Job``; returns its ClusterId.

        :raises CondorError: with HTCondor's message when the submit is refused.
        :raises EngineUnavailable: when the submit host cannot be reached.
        """
        raise NotImplementedError

    def submit_workflow(self, workflow, *, options: list[str]) -> int:
        """Submit a bound condorpy ``Workflow`` (DAGMan); returns the DAGMan ClusterId."""
        raise NotImplementedError

    def query(self, clusters=(), dags=()) -> QueueSnapshot:
        """State of ``clusters`` and of the node jobs of ``dags`` (DAGMan ClusterIds), in
        one queue query plus at most one history query (asked only for clusters with
        fewer procs in the queue than expected, and for DAG nodes).

        :param clusters: ClusterIds, or a dict ClusterId -> number of procs expected.

        :raises EngineUnavailable: when the schedd cannot be asked.
        """
        raise NotImplementedError

    def act(self, action: str, cluster_ids) -> str:
        """``"hold"``, ``"release"`` or ``"remove"`` the given clusters.

        :raises NotInQueue: when a cluster is not in the queue (it already left).
        :raises EngineUnavailable: when the schedd cannot be asked.
        """
        raise NotImplementedError

    def test_connection(self) -> str:
        """Log in and ask the schedd for its queue; returns a short message.

        :raises EngineUnavailable: naming what failed.
        """
        raise NotImplementedError

    # --- files ------------------------------------------------------------------------------------
    def open_log(self, workspace, remote_id, relative, prefer_local=True):
        """Open a job file (``relative`` to the job's directory) for reading: the local
        copy when there is one (synced outputs), else the submit host's. Only files
        inside the job's directory (locally ``workspace``, on the submit host
        ``remote_id``), symlinks resolved, are opened.

        :returns: ``(binary file object, size in bytes)``.
        :raises OutsideDirectory: if the path leads outside the job's directory.
        :raises FileNotFoundError: if the file exists in neither place.
        :raises EngineUnavailable: when the submit host cannot be reached.
        """
        if prefer_local or not self.remote:
            try:
                return open_within(workspace, relative)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                if not self.remote:
                    raise
        if not remote_id:
            raise FileNotFoundError(relative)
        return self.transport.open_within(remote_id, relative)

    def read_text(self, workspace, remote_id, relative, prefer_local=True) -> str | None:
        """Text of a job file (its last ``CALL_MAX_BYTES``), from where
        :meth:`open_log` finds it; ``None`` if it does not exist.

        :raises OutsideDirectory: if the path leads outside the job's directory.
        """
        try:
            handle, size = self.open_log(workspace, remote_id, relative, prefer_local)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        with handle:
            handle.seek(max(0, size - CALL_MAX_BYTES))
            return handle.read(CALL_MAX_BYTES).decode("utf-8", "replace")

    def glob(self, workspace, remote_id, pattern) -> list[str]:
        """Relative paths matching ``pattern`` (wildcards in the last part only), locally
        and, for a remote job, on the submit host; sorted, without duplicates. Only
        folders inside the job's directory (symlinks resolved) are listed.

        :raises OutsideDirectory: if the pattern's folder leads outside the job's
            directory.
        """
        folder, name = os.path.split(pattern)
        found: set[str] = set()
        try:
            found.update(n for n in listdir_within(workspace, folder or ".")
                         if fnmatch.fnmatchcase(n, name))
        except (FileNotFoundError, NotADirectoryError):
            pass
        if self.remote and remote_id:
            try:
                names = self.transport.listdir_within(remote_id, folder or ".")
            except (FileNotFoundError, NotADirectoryError):
                names = []
            found.update(n for n in names if fnmatch.fnmatchcase(n, name))
        return sorted(os.path.join(folder, n) if folder else n for n in found)

    def sync_outputs(self, condor_object):
        """Copy a remote job's directory back into its local directory (nothing to do
        locally). :raises EngineUnavailable: when the copy fails; retry later."""
        if not self.remote:
            return
        try:
            condor_object.sync_remote_output()
        except EngineUnavailable:
            raise
        except OSError as exc:
            raise EngineUnavailable(
                f"Copying the job's files back from {self.describe()} failed: {exc}") from exc

    def remove_workdir(self, remote_id):
        """Delete a remote job's directory on the submit host (nothing locally)."""
        if self.remote and remote_id:
            self.transport.remove_tree(remote_id)


class CliEngine(CondorEngine):
    """HTCondor's command-line tools, run through a transport (local or SSH).

    condorpy writes the submit description (and DAG) files through the transport; the
    engine runs ``condor_submit``/``condor_submit_dag`` itself, so submit options (which
    may hold a status-report token) never reach condorpy's INFO logging.
    """

    kind = "cli"

    def _submit(self, tool, options, path, cwd):
        result = self.transport.run([tool, *options, path], cwd=cwd)
        message = _condor_message(result.stderr)
        if not result.ok:
            raise CondorError(message or _condor_message(result.stdout)
                              or f"{tool} exited with status {result.exit_code}.")
        if message:
            logger.warning("%s on %s: %s", tool, self.describe(), message)
        match = _CLUSTER.search(result.stdout)
        if not match:
            raise CondorError(f"{tool} did not report a cluster id: "
                              f"{_condor_message(result.stdout) or 'no output'}")
        return int(match.group(1))

    def submit_job(self, job, *, queue, options):
        from condorpy.exceptions import NoExecutable

        if not job.executable:
            raise CondorError(str(NoExecutable("You cannot submit a job without an executable")))
        self.transport.makedirs(job._cwd)
        job.num_jobs = queue
        job._write_job_file()
        cluster = self._submit("condor_submit", list(options), job.job_file, job._cwd)
        object.__setattr__(job, "_cluster_id", cluster)
        return cluster

    def submit_workflow(self, workflow, *, options):
        from condorpy.exceptions import CircularDependency

        self.transport.makedirs(workflow._cwd)
        try:
            workflow.complete_node_set()
            workflow._write_job_file()
        except CircularDependency as exc:
            raise CondorError(str(exc)) from None
        cluster = self._submit("condor_submit_dag", list(options), workflow.dag_file,
                               workflow._cwd)
        object.__setattr__(workflow, "_cluster_id", cluster)
        return cluster

    def _run_query(self, tool, clusters, dags, in_queue):
        # condor_q: ranges may take in a few other clusters (ignored); the history exactly.
        slack = QUERY_SLACK if in_queue else 0.0
        result = self.transport.run([tool, "-constraint", constraint(clusters, dags, slack=slack),
                                     "-json", "-attributes", ",".join(ATTRIBUTES)])
        if not result.ok:
            message = _condor_message(result.stderr or result.stdout)
            raise EngineUnavailable(
                f"{tool} failed on {self.describe()}: "
                f"{message or f'exit status {result.exit_code}'}"
            )
        try:
            return parse_json(result.stdout, in_queue)
        except ValueError as exc:
            raise EngineUnavailable(
                f"{tool} on {self.describe()} answered with output that is not -json ads "
                f"({exc}): {_condor_message(result.stdout)[:200]}"
            ) from None

    def query(self, clusters=(), dags=()):
        expected, dags = expected_procs(clusters, dags)
        if not expected:
            return QueueSnapshot()
        queued = self._run_query("condor_q", set(expected), dags, True)
        missing = incomplete(expected, queued)
        history = []
        if missing or dags:
            history = self._run_query("condor_history", missing, dags, False)
        return merge(queued, history)

    def act(self, action, cluster_ids):
        ids = [str(int(c)) for c in cluster_ids]
        result = self.transport.run([_TOOLS[action], *ids])
        if result.ok:
            return result.stdout.strip()
        message = _condor_message(result.stderr or result.stdout)
        if result.exit_code != 127 and "Couldn't find" in message:
            raise NotInQueue(message)
        raise EngineUnavailable(f"{_TOOLS[action]} failed on {self.describe()}: {message}")

    def test_connection(self):
        result = self.transport.run(["condor_q", "-totals"])
        where = self.describe()
        if result.exit_code == 127 or "not found" in result.stderr:
            raise EngineUnavailable(
                f"HTCondor's condor_q is not on the PATH of {where} "
                f"({_condor_message(result.stderr)}).")
        if not result.ok:
            raise EngineUnavailable(
                f"condor_q failed on {where}: {_condor_message(result.stderr or result.stdout)}")
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        summary = next((line for line in lines if line.startswith("Total for query")),
                       lines[-1] if lines else "no answer")
        return f"Connected to {where}; condor_q answered: {summary}"


def expected_procs(clusters, dags):
    """``({ClusterId: procs expected}, {DAGMan ClusterId})`` from query arguments."""
    if isinstance(clusters, dict):
        expected = {int(c): max(int(n or 1), 1) for c, n in clusters.items()}
    else:
        expected = {int(c): 1 for c in clusters}
    dags = {int(d) for d in dags}
    for dag in dags:
        expected.setdefault(dag, 1)
    return expected, dags


def incomplete(expected, queued):
    """Clusters with fewer procs in the queue than expected (the rest are in the history)."""
    seen = {}
    for state in queued:
        seen[state.cluster] = seen.get(state.cluster, 0) + 1
    return {cluster for cluster, count in expected.items() if seen.get(cluster, 0) < count}


def _condor_message(text: str) -> str:
    """HTCondor's message without blank lines (e.g. ``ERROR: Executable file ...``)."""
    return " ".join(line.strip() for line in (text or "").splitlines() if line.strip())
