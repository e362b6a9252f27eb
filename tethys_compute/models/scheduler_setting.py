from django.core.exceptions import ValidationError
from django.db import models

from ..exceptions import TethysAppSettingNotAssigned
from .scheduler import Scheduler


class SchedulerSetting(models.Model):
    """A scheduler an app needs, declared by the app and assigned by an operator.

    Apps return unsaved instances from ``TethysAppBase.scheduler_settings()``; they are
    synced to this table per app (``app_package``). In Tethys this model lives in
    ``tethys_apps``; deleting a scheduler there deletes the setting row, here it only
    unassigns it.
    """

    HTCONDOR = "htcondor"
    DASK = "dask"
    ENGINE_CHOICES = ((HTCONDOR, "HTCondor"), (DASK, "Dask"))

    app_package = models.CharField(max_length=200, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    required = models.BooleanField(default=True)
    engine = models.CharField(max_length=200, choices=ENGINE_CHOICES, default=HTCONDOR)
    scheduler_service = models.ForeignKey(
        Scheduler, on_delete=models.SET_NULL, blank=True, null=True, related_name="settings"
    )

    class Meta:
        verbose_name = "Scheduler Setting"
        constraints = [
            models.UniqueConstraint(fields=("app_package", "name"), name="tc_setting_unique"),
        ]
        ordering = ("app_package", "name")

    def __str__(self):
        return f"{self.app_package}:{self.name}"

    def clean(self):
        """Check the assignment: required settings need a scheduler, and the scheduler's
        engine must match (Tethys's messages).

        :raises ValidationError: on a missing required scheduler or an engine mismatch.
        """
        if self.scheduler_service_id is None:
            if self.required:
                raise ValidationError({"scheduler_service": "Required."})
            return
        scheduler = Scheduler.objects.get_subclass(pk=self.scheduler_service_id)
        if getattr(scheduler, "ENGINE", "") != self.engine:
            message = (
                "Please select a Dask Scheduler."
                if self.engine == self.DASK
                else "Please select a Condor Scheduler."
            )
            raise ValidationError({"scheduler_service": message})

    def get_value(self) -> Scheduler:
        """Return the assigned scheduler as its subclass (``CondorScheduler`` or
        ``DaskScheduler``).

        :raises TethysAppSettingNotAssigned: if no scheduler is assigned.
        """
        if self.scheduler_service_id is None:
            raise TethysAppSettingNotAssigned(
                f'Cannot find Scheduler for SchedulerSetting "{self.name}" for app '
                f'"{self.app_package}": no Scheduler assigned.'
            )
        return Scheduler.objects.get_subclass(pk=self.scheduler_service_id)
