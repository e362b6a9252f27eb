"""Exceptions of the Dask engine, importable without Django's app registry (re-exported
as Tethys names them, from ``tethys_compute.models.dask.dask_job_exception``)."""

from ...exceptions import EngineUnavailable


class DaskJobException(Exception):
    """A Dask job or scheduler could not be used: bad scheduler, bad input, a result that
    cannot be stored, a computation that cannot be rebuilt (Tethys's name)."""


class DaskSchedulerUnavailable(DaskJobException, EngineUnavailable):
    """The Dask scheduler at :attr:`address` could not be reached or did not answer in
    time. Transient: a job's status is kept and the next refresh tries again."""

    def __init__(self, message, address=None):
        super().__init__(message)
        self.address = address
