"""Run a local command for a job: :func:`run_command`.

A ``BasicJob`` has no engine: the app moves its status. When the app's work is a local
program, :func:`run_command` does the bookkeeping: it starts the program with its stdout
and stderr written to ``stdout.log`` and ``stderr.log`` in the job's directory (which the
job's logs then show), moves the job to Running, and when the program exits, to Complete
(exit code 0) or Error (the exit code, or the signal that killed it, in
``status_message``), through the job's normal status rules (so result processing and
``job_status_changed`` happen as for any job).

The program is a child of the calling process, followed by a thread of that process:
call it where the process outlives the program (a ``django.tasks`` worker, a management
command, ``wait=True``), not in a web request of a process that may be restarted while
the program runs (the job would stay Running). ``BasicJob.stop()``, the monitor (for a
run over its ``max_run_time``) and deleting an active job end the program with
:func:`stop_command`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import status as st
from .exceptions import JobStateError

logger = logging.getLogger("tethys_compute.jobs")

#: File names, in the job's directory, of the command's output.
STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"
#: File, in the job's directory, naming the running command's process (for stopping it).
COMMAND_RECORD = "command.json"


class LocalCommand:
    """A command started by :func:`run_command`.

    :ivar job: the job.
    :ivar args: the command's argument list.
    :ivar process: the ``subprocess.Popen``, or ``None`` when it could not start.
    :ivar error: why it could not start (``None`` when it started).
    :ivar stdout_path, stderr_path: where its output goes (``pathlib.Path``).
    """

    def __init__(self, job, args, stdout_path, stderr_path):
        self.job = job
        self.args = list(args)
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.process = None
        self.error = None
        self.attempt = None
        self._reported = threading.Event()

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: the signal that killed it), ``None`` while it runs
        or when it could not start."""
        return None if self.process is None else self.process.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the command has exited and its status has been written; return
        :attr:`returncode`.

        :param timeout: seconds (``None``: no limit).
        :raises TimeoutError: it was still running after ``timeout`` seconds.
        """
        if not self._reported.wait(timeout):
            raise TimeoutError(f"{self.args[0]} still runs after {timeout} s")
        return self.returncode


def run_command(job, args: Sequence[str], *, cwd: str | os.PathLike | None = None,
                env: Mapping[str, str] | None = None, wait: bool = False) -> LocalCommand:
    """Run the program ``args`` for ``job`` (usually a ``BasicJob``); see the module docs.

    :param job: a saved job with a directory (``job.workspace``; created if missing).
        A Pending job is executed first (Submitted); the job is then Running.
    :param args: the program and its arguments (a list of strings; no shell).
    :param cwd: the working directory (default: the job's directory).
    :param env: the program's environment (default: this process's).
    :param wait: True to return only once the program has exited and the job's status
        was written; False to return at once (a thread follows the program).
    :returns: a :class:`LocalCommand`. A program that cannot be started (not found, not
        executable) leaves the job in Error with the reason; nothing is raised then. A
        Pending job over its user's limit of active jobs (``MAX_ACTIVE_JOBS_PER_USER``)
        stays Pending, waiting for a free slot, and the program is not started
        (``process`` is ``None``, ``error`` says why): once the monitor has submitted the
        job (``job_submitted`` signal), call ``run_command`` again to run it.
    :raises ValueError: ``args`` is not a non-empty list of strings.
    :raises JobStateError: the job has finished (``resubmit()`` it first) or has no
        directory.

    Source: ours (Tethys leaves Basic jobs to the app); exit codes and signals as
    ``subprocess.Popen.returncode`` reports them.
    """
    if isinstance(args, (str, bytes)) or not args or not all(
            isinstance(a, (str, os.PathLike)) for a in args):
        raise ValueError("args must be a non-empty list of strings: the program and its "
                         f"arguments (no shell), not {args!r}.")
    args = [os.fspath(a) for a in args]
    if job.is_terminal:
        raise JobStateError(f"Job {job.pk} has finished ({job.cached_status}); "
                            "resubmit() it before running a command for it again.")
    directory = job.ensure_workspace()
    run = LocalCommand(job, args, directory / STDOUT_LOG, directory / STDERR_LOG)
    if job._status == st.PENDING:
        job.execute()
        if job._status == st.PENDING:
            # Over its user's limit of active jobs (models/quotas.py): the job waits for
            # a free slot and the program is not started (it would run past the limit).
            run.error = (f"The command {args[0]} was not started: {job.status_message}"
                         if job.status_message else
                         f"The command {args[0]} was not started: the job is still Pending.")
            run._reported.set()
            return run
    try:
        with open(run.stdout_path, "wb") as out, open(run.stderr_path, "wb") as err:
            run.process = subprocess.Popen(
                args, cwd=cwd or directory, env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
            )
    except OSError as exc:
        run.error = f"The command {args[0]} could not be started: {exc}"
        _failed(job, run.error, {"exception_type": type(exc).__name__})
        run._reported.set()
        return run
    run.attempt = job.attempt
    _record(directory, run)
    job.update_status(st.RUNNING, reason=f"command started: {Path(args[0]).name} "
                                         f"(pid {run.process.pid})")
    if wait:
        _follow(run)
    else:
        threading.Thread(target=_follow, args=(run, True), daemon=True,
                         name=f"tethys_compute job {job.pk} command").start()
    return run


def _start_time(pid):
    """When process ``pid`` started (seconds; comparable between calls only), or
    ``None`` when there is no such process: its identity, so that a pid used again by
    another process is never taken for the command."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return psutil.Process(pid).create_time()
        except psutil.Error:
            return None
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return float(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _record(directory, run):
    import json

    data = {"pid": run.process.pid, "attempt": run.attempt, "args": run.args,
            "started": _start_time(run.process.pid)}
    temp = directory / f".{COMMAND_RECORD}.tmp"
    temp.write_text(json.dumps(data))
    os.replace(temp, directory / COMMAND_RECORD)


def stop_command(job, attempt: int | None = None) -> bool:
    """End the command :func:`run_command` started for ``job`` (of run ``attempt``, when
    given) if it still runs: ``SIGTERM`` to its process group. Used by
    ``BasicJob.stop()``, by the monitor for a run over its ``max_run_time``, and before a
    job is deleted.

    :returns: True when the signal was sent; False when there is no such command, it has
        exited, it belongs to another run, or its pid now names another process (the
        process's start time is recorded and compared, so that one is never signalled).
    """
    import json

    if not job.workspace:
        return False
    try:
        data = json.loads(Path(job.workspace, COMMAND_RECORD).read_text())
        pid, started = int(data["pid"]), data.get("started")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if attempt is not None and data.get("attempt") != attempt:
        return False
    now = _start_time(pid)
    if started is None or now is None or abs(now - float(started)) > 0.05:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)  # its own session: the group is its pid
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _follow(run: LocalCommand, own_thread=False):
    from django.db import connections

    try:
        code = run.process.wait()
        if not type(run.job)._base_manager.filter(pk=run.job.pk, attempt=run.attempt).exists():
            return  # the job was resubmitted meanwhile: this run's end is not its news
        if code == 0:
            run.job.update_status(st.COMPLETE, reason="command exited with code 0")
        else:
            _failed(run.job, describe_exit(code), {"exit_code": code} if code > 0
                    else {"exit_signal": -code}, attempt=run.attempt)
    except Exception:  # noqa: BLE001 - a thread has nobody to raise to
        logger.exception("Job %s: reporting the end of its command failed", run.job.pk)
    finally:
        if own_thread:  # the thread's own database connections
            connections.close_all()
        run._reported.set()


def describe_exit(code: int) -> str:
    """``"The command failed with exit code 3"`` or ``"The command was killed by signal
    SIGKILL (9)"`` for a ``Popen.returncode``."""
    if code >= 0:
        return f"The command failed with exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "?"
    return f"The command was killed by signal {name} ({-code})"


def _failed(job, message, details, attempt=None):
    """End the run in Error: through ``job.run_failed`` (kind ``exit``, fenced to the
    run; the job's retry policy decides what follows) where the job has it, else as an
    Error with ``message`` as its reason."""
    run_failed = getattr(job, "run_failed", None)
    if run_failed is not None:
        from .failure_kinds import EXIT, Failure

        run_failed(Failure(EXIT, message, details), attempt=attempt)
        return
    job._write_fields(status_message=message[:2048])
    job.update_status(st.ERROR, reason=message)
