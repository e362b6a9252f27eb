"""Django admin of tethys_compute: schedulers, app scheduler settings and jobs.

Importing this package registers the ModelAdmins on the default admin site when
``django.contrib.admin`` is installed (Django's admin autodiscovery imports it). Its
modules hold no admin-site state, so the management commands use their helpers (forms,
connection tests, log reading, job filters) in projects without the admin too.
"""

from django.apps import apps

from ..models import CondorScheduler, DaskScheduler, SchedulerSetting, TethysJob
from ..notifications.admin import JobNotificationAdmin, NotificationPreferenceAdmin
from ..notifications.models import JobNotification, NotificationPreference
from .jobs import JobAdmin
from .scheduler_settings import SchedulerSettingAdmin
from .schedulers import CondorSchedulerAdmin, DaskSchedulerAdmin

__all__ = ["CondorSchedulerAdmin", "DaskSchedulerAdmin", "JobAdmin", "SchedulerSettingAdmin"]

if apps.is_installed("django.contrib.admin"):
    from django.contrib import admin

    admin.site.register(CondorScheduler, CondorSchedulerAdmin)
    admin.site.register(DaskScheduler, DaskSchedulerAdmin)
    admin.site.register(SchedulerSetting, SchedulerSettingAdmin)
    admin.site.register(TethysJob, JobAdmin)
    admin.site.register(JobNotification, JobNotificationAdmin)
    admin.site.register(NotificationPreference, NotificationPreferenceAdmin)
