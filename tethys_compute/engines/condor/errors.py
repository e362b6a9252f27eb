"""Errors of the HTCondor engine."""

from ...exceptions import EngineUnavailable, TethysComputeError


class CondorError(TethysComputeError):
    """HTCondor refused a request (a submit description it rejects, a job it does not
    have). The message is HTCondor's own."""


class NotInQueue(CondorError):
    """A hold, release or remove named a cluster that is no longer in the queue."""


__all__ = ["CondorError", "EngineUnavailable", "NotInQueue"]
