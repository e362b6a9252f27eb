"""condorpy's ``Job`` and ``Workflow``, driven through a transport.

condorpy runs every command and file operation under a decorator that calls
``os.chdir`` (process-wide, unsafe with threads), and over SSH it loads only RSA keys and
checks no host key. These subclasses keep condorpy's submit-description model, templates
and output parsing, but send commands and file operations through a
:class:`~.transport.Transport` with an explicit working directory: no ``os.chdir``, so
jobs in different directories can be handled side by side in threads.

``bind(transport, workdir, local_dir)`` attaches a transport: ``workdir`` is where the
job's files live on the submit host (the job's directory locally; ``<remote_id>`` under
the login directory over SSH); ``local_dir`` is the job's local directory (source of
``remote_input_files``, destination of synced outputs).
"""

from __future__ import annotations

import os
import posixpath

import condorpy

from ...exceptions import TethysComputeError
from .dag import dag_text


class _Bound:
    def bind(self, transport, workdir, local_dir):
        object.__setattr__(self, "_transport", transport)
        object.__setattr__(self, "_cwd", workdir)
        object.__setattr__(self, "_local_dir", local_dir)
        object.__setattr__(self, "_remote", transport if transport.remote else None)
        return self

    def _require_transport(self):
        transport = self.__dict__.get("_transport")
        if transport is None:
            raise TethysComputeError(
                f"{self!r} is not connected to a submit host; use the job's condor_object."
            )
        return transport

    def _path(self, name):
        if self.__dict__.get("_transport") is not None and self._transport.remote:
            return posixpath.join(self._cwd, name)
        return os.path.join(self._cwd, name)

    # --- condorpy's I/O hooks, without os.chdir ---------------------------------------------
    def _execute(self, args, shell=False, run_in_job_dir=True):
        transport = self._require_transport()
        command = args[0] if shell else list(args)
        result = transport.run(command, cwd=self._cwd if run_in_job_dir else None)
        err = result.stderr
        if not result.ok and not err.strip():
            err = f"{'command' if shell else args[0]} exited with status {result.exit_code}"
        return result.stdout, err

    def _open(self, file_name, mode="w"):
        return self._require_transport().open(self._path(file_name), mode)

    def _make_dir(self, dir_name):
        self._require_transport().makedirs(self._path(dir_name))

    def _copy_input_files_to_remote(self):
        transport = self._require_transport()
        for name in self.remote_input_files or ():
            local = name if os.path.isabs(name) else os.path.join(self._local_dir, name)
            if not os.path.exists(local):
                raise TethysComputeError(f"remote_input_files: {local} does not exist.")
            transport.upload(local, self._path(os.path.basename(os.path.normpath(name))))

    def _copy_output_from_remote(self):
        transport = self._require_transport()
        if transport.remote:
            initial = self.initial_dir or "."
            transport.download(self._path(initial), os.path.join(self._local_dir, initial))

    def set_extra_commands(self, commands):
        """Submit commands (name -> value text) written after the job's attributes
        (replacing any of the same name), never stored in them: the accounting commands
        of :mod:`.accounting`. A workflow passes them on to each node's description."""
        object.__setattr__(self, "_extra_commands", dict(commands or {}))
        return self

    @property
    def extra_commands(self) -> dict:
        return dict(self.__dict__.get("_extra_commands") or {})

    def _list_attributes(self):
        extra = self.extra_commands
        names = {name.lower() for name in extra}
        lines = [line for line in super()._list_attributes()
                 if line.split(" = ", 1)[0].strip().lower() not in names]
        return lines + [f"{name} = {value}" for name, value in extra.items()]

    def set_scheduler(self, *args, **kwargs):
        raise TethysComputeError(
            "tethys_compute connects condorpy objects to the submit host itself: set the "
            "job's scheduler (a CondorScheduler) instead of calling set_scheduler()."
        )

    def close_remote(self):
        """Remove the job from the queue if it has not completed, then its remote
        directory (condorpy's API; models call their engine instead)."""
        transport = self._require_transport()
        if not transport.remote:
            return
        if self.cluster_id and self.status != "Completed":
            self.remove()
        transport.remove_tree(self._cwd)


class TransportJob(_Bound, condorpy.Job):
    """A condorpy ``Job`` whose commands and files go through a transport."""

    def wait(self, options=None, sub_job_num=None):
        args = ["condor_wait", *(options or [])]
        job_id = f"{self.cluster_id}.{sub_job_num}" if sub_job_num else str(self.cluster_id)
        args.extend([self._path(self.log_file), job_id])
        return self._execute(args)


class TransportWorkflow(_Bound, condorpy.Workflow):
    """A condorpy ``Workflow`` whose DAG file lists every node option and whose commands
    and files go through a transport."""

    def __str__(self):
        self.complete_node_set()
        return dag_text(self)

    def _write_job_file(self):
        transport = self._require_transport()
        dag_file = self._open(self.dag_file, "w")
        dag_file.write(str(self))
        dag_file.close()
        if self._remote and self.remote_input_files:
            self._copy_input_files_to_remote()
        for node in self._node_set:
            job = node.job
            sub = node.dir or ""
            job.bind(transport,
                     self._path(sub) if sub else self._cwd,
                     os.path.join(self._local_dir, sub) if sub else self._local_dir)
            object.__setattr__(job, "_remote_id", self._remote_id)
            job.set_extra_commands(self.extra_commands)
            job._write_job_file()

    def _copy_output_from_remote(self):
        transport = self._require_transport()
        if transport.remote:
            transport.download(self._cwd, self._local_dir)

    def wait(self, options=None):
        return self._execute(["condor_wait", *(options or []), f"{self.dag_file}.dagman.log"])
