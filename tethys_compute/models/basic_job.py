from .. import status as st
from .tethys_job import TethysJob


class BasicJob(TethysJob):
    """A job run by the app itself, with no engine: the app moves its status.

    ``execute()`` marks it Submitted; set ``job.status = "Running"`` and
    ``job.status = "Complete"`` (or report them through the status URL) as the work goes.
    """

    def stop(self):
        """Mark the job Aborted."""
        self.update_status(st.ABORTED, reason="stopped")

    def pause(self):
        """Mark the job Paused."""
        self.update_status(st.PAUSED, reason="paused")

    def resume(self):
        """Mark the job Running again."""
        self.update_status(st.RUNNING, reason="resumed")

    def _resubmit(self, *args, **kwargs):
        self.update_status(st.RUNNING, reason="resubmitted")
