"""Django admin of tethys_compute: schedulers, app scheduler settings and jobs.

Importing this package registers the ModelAdmins on the default admin site (Django's
admin autodiscovery does that).
"""

from .jobs import JobAdmin
from .scheduler_settings import SchedulerSettingAdmin
from .schedulers import CondorSchedulerAdmin, DaskSchedulerAdmin

__all__ = ["CondorSchedulerAdmin", "DaskSchedulerAdmin", "JobAdmin", "SchedulerSettingAdmin"]
