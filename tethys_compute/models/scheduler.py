from django.db import models
from model_utils.managers import InheritanceManager


class Scheduler(models.Model):
    """A compute scheduler (base of ``CondorScheduler`` and ``DaskScheduler``).

    Table ``tethys_compute_scheduler`` as in Tethys. ``name`` is not unique in Tethys's
    schema; :func:`tethys_compute.scheduler_manager.get_scheduler` returns the first match.
    """

    name = models.CharField(max_length=1024)
    host = models.CharField(max_length=1024)

    objects = InheritanceManager()

    class Meta:
        verbose_name = "Scheduler"
        verbose_name_plural = "Schedulers"

    def __str__(self):
        return self.name

    @property
    def engine(self) -> str:
        """``"htcondor"``, ``"dask"`` or ``""`` for a base-class row."""
        return getattr(self, "ENGINE", "")
