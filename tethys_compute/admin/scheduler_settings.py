"""Admin of app scheduler settings: which scheduler serves each setting an app declares.

Settings are declared by apps (``TethysAppBase.scheduler_settings()``) and synced to the
database, so they cannot be added or deleted here; only their scheduler is chosen, among
schedulers of the setting's engine.
"""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.utils.html import format_html

from ..app_base import registered_apps
from ..models import SchedulerSetting
from .forms import SchedulerSettingForm
from .job_filters import app_lookups

logger = logging.getLogger("tethys_compute.admin")


class AssignmentFilter(admin.SimpleListFilter):
    title = "assignment"
    parameter_name = "assignment"

    def lookups(self, request, model_admin):
        return (
            ("missing", "Required, not assigned"),
            ("unassigned", "Not assigned"),
            ("assigned", "Assigned"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value == "missing":
            return queryset.filter(required=True, scheduler_service__isnull=True)
        if value == "unassigned":
            return queryset.filter(scheduler_service__isnull=True)
        if value == "assigned":
            return queryset.filter(scheduler_service__isnull=False)
        return queryset


class AppFilter(admin.SimpleListFilter):
    title = "app"
    parameter_name = "app"

    def lookups(self, request, model_admin):
        return app_lookups(SchedulerSetting.objects.order_by("app_package")
                           .values_list("app_package", flat=True).distinct())

    def queryset(self, request, queryset):
        return queryset.filter(app_package=self.value()) if self.value() else queryset


class SchedulerSettingAdmin(admin.ModelAdmin):
    form = SchedulerSettingForm
    list_display = ("setting", "app_package", "engine", "required", "scheduler",
                    "assignment")
    list_filter = (AssignmentFilter, AppFilter, "engine", "required")
    list_select_related = ("scheduler_service",)
    search_fields = ("app_package", "name", "description")
    ordering = ("app_package", "name")
    fields = ("app_package", "name", "description", "engine", "required", "scheduler_service")
    readonly_fields = ("app_package", "name", "description", "engine", "required")

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        # Show every setting the apps declare, even one added since the last migrate.
        for app in registered_apps().values():
            try:
                app._ensure_synced()
            except Exception:  # noqa: BLE001 - a broken declaration must not hide the rest
                logger.exception("Syncing the scheduler settings of %s failed", app.package)
        missing = [str(s) for s in SchedulerSetting.objects.filter(
            required=True, scheduler_service__isnull=True)]
        if missing and request.method == "GET":
            self.message_user(
                request,
                f"{len(missing)} required setting(s) have no scheduler: {', '.join(missing)}. "
                "The apps cannot get a scheduler for them until one is assigned.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="setting", ordering="name")
    def setting(self, obj):
        return obj.name

    @admin.display(description="scheduler", ordering="scheduler_service__name")
    def scheduler(self, obj):
        return obj.scheduler_service or "-"

    @admin.display(description="status")
    def assignment(self, obj):
        if obj.scheduler_service_id is not None:
            return "Assigned"
        if obj.required:
            return format_html('<strong class="errornote" style="padding:2px 6px">{}</strong>',
                               "Required: not assigned")
        return "Optional: not assigned"
