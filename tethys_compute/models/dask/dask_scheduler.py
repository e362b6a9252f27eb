from django.db import models

from ..scheduler import Scheduler


class DaskScheduler(Scheduler):
    """A ``distributed`` scheduler; ``host`` is its address (``tcp://127.0.0.1:8786``).

    ``timeout`` and ``heartbeat_interval`` are seconds; 0 means distributed's default, as
    in Tethys. ``dashboard`` is the dashboard's base URL, if any.
    """

    ENGINE = "dask"

    timeout = models.IntegerField(blank=True, default=0)
    heartbeat_interval = models.IntegerField(blank=True, default=0)
    dashboard = models.CharField(max_length=255, blank=True, null=True)

    class Meta:
        verbose_name = "Dask Scheduler"
        verbose_name_plural = "Dask Schedulers"
