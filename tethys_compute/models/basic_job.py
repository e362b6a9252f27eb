import os

from .. import status as st
from ..log_files import LogFile, LogNotAvailable, OutsideDirectory, open_within
from .tethys_job import TethysJob


class BasicJob(TethysJob):
    """A job run by the app itself, with no engine: the app moves its status.

    ``execute()`` marks it Submitted; set ``job.status = "Running"`` and
    ``job.status = "Complete"`` (or report them through the status URL) as the work goes,
    or run a local program with :func:`tethys_compute.local_commands.run_command`, which
    does both and keeps the program's stdout and stderr as the job's logs. An app that
    runs its work otherwise may override ``get_logs()``.
    """

    def _get_logs(self):
        """``{"stdout": LogFile, "stderr": LogFile}`` when :func:`run_command` ran for the
        job (read from the job's directory only when shown), else ``{}``."""
        from ..local_commands import STDERR_LOG, STDOUT_LOG

        if not self.workspace or not os.path.exists(os.path.join(self.workspace, STDOUT_LOG)):
            return {}
        return {name: LogFile(file, lambda file=file: self._open_log(file))
                for name, file in (("stdout", STDOUT_LOG), ("stderr", STDERR_LOG))}

    def _run_log_files(self):
        """The files :func:`run_command` writes, kept per run (:mod:`..run_logs`)."""
        from ..local_commands import STDERR_LOG, STDOUT_LOG

        return {"stdout": STDOUT_LOG, "stderr": STDERR_LOG}

    def _open_log(self, file):
        try:
            return open_within(self.workspace, file)
        except (FileNotFoundError, IsADirectoryError, OutsideDirectory):
            raise LogNotAvailable(f"{file} does not exist (yet).") from None
        except OSError as exc:
            raise LogNotAvailable(f"There was an error while reading {file}: {exc}") from None

    def stop(self):
        """Mark the job Aborted, and end the command :func:`run_command` runs for it, if
        any (``SIGTERM`` to its process group)."""
        from ..local_commands import stop_command

        self.update_status(st.ABORTED, reason="stopped")
        stop_command(self)

    def _stop_overdue_run(self, attempt):
        """The run went over ``max_run_time``: end its command, if it has one."""
        from ..local_commands import stop_command

        stop_command(self, attempt)

    def _stop_remote_work(self):
        """Before the row is deleted: end the command of an active job, if it has one."""
        from ..local_commands import stop_command

        if not self.is_terminal:
            stop_command(self)

    def pause(self):
        """Mark the job Paused."""
        self.update_status(st.PAUSED, reason="paused")

    def resume(self):
        """Mark the job Running again."""
        self.update_status(st.RUNNING, reason="resumed")

    def _resubmit(self, *args, **kwargs):
        self.update_status(st.RUNNING, reason="resubmitted")
