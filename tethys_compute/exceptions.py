"""Exceptions raised by tethys_compute."""


class TethysComputeError(Exception):
    """Base class of every error tethys_compute raises on its own behalf."""


class EngineUnavailable(TethysComputeError):
    """An engine (HTCondor schedd, SSH host, Dask scheduler) could not be reached or
    answered with a transient failure.

    Never terminal: the job keeps its status, the message is recorded in
    ``status_message`` and the next refresh tries again.
    """


class JobUnknownToEngine(TethysComputeError):
    """The engine answered, and it does not know the job: HTCondor has its ClusterId in
    neither ``condor_q`` nor ``condor_history``; the Dask scheduler has no task with its key.

    Raised by an engine's ``_update_status``. Not terminal at once: the job keeps its
    status (the reason goes to ``status_message``) until it has been unknown for
    ``TETHYS_COMPUTE["LOST_JOB_GRACE"]`` seconds, counted from the last time the engine
    answered about it; the next such answer moves it to Error with the reason.
    """


class JobStateError(TethysComputeError):
    """The operation does not apply to the job in its current status (for example
    ``execute()`` on a job that already ran; use ``resubmit()``)."""


class RemoteWorkNotStopped(JobStateError):
    """Deleting a job was refused because its engine-side work could not be stopped
    (``condor_rm`` failed, the submit host or Dask scheduler could not be reached).

    Nothing of the deletion happened: the row (of every job of that delete call), the
    job's directory and its remote work are kept, so no work runs on with no row to
    show or stop it. Delete again once the engine answers; ``job.delete(
    keep_remote_work=True)`` deletes the row anyway and leaves the remote work as it is.
    """


class TethysAppSettingDoesNotExist(TethysComputeError):
    """An app asked for a scheduler setting it does not declare (Tethys's name)."""

    def __init__(self, setting_type: str, setting_name: str, app_name: str) -> None:
        self.setting_type = setting_type
        self.setting_name = setting_name
        self.app_name = app_name
        super().__init__(
            f'A {setting_type} named "{setting_name}" does not exist in the app "{app_name}".'
        )


class TethysAppSettingNotAssigned(TethysComputeError):
    """A declared scheduler setting has no scheduler assigned yet (Tethys's name)."""
