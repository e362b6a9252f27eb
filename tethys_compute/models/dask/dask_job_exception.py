"""``DaskJobException`` (Tethys's module and name) and ``DaskSchedulerUnavailable``."""

from ...engines.dask.errors import DaskJobException, DaskSchedulerUnavailable

__all__ = ["DaskJobException", "DaskSchedulerUnavailable"]
