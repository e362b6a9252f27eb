"""Admin of HTCondor and Dask schedulers: write-only secrets, a connection test action,
and a Dask dashboard page behind the admin login."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .connection import check_connection
from .forms import CondorSchedulerForm, DaskSchedulerForm, dashboard_base_url
from .secrets import auth_summary

#: Pages of the Dask dashboard offered on the dashboard page (path under the dashboard
#: address, label), as Tethys links them.
DASHBOARD_PAGES = {
    "status": "Status",
    "workers": "Workers",
    "tasks": "Tasks",
    "system": "System",
    "profile": "Profile",
    "graph": "Graph",
    "groups": "Groups",
}


if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin
else:
    _AdminBase = object


class SchedulerAdminMixin(_AdminBase):
    """The "Test connection" action shared by both scheduler admins."""

    actions = ("test_connection",)
    search_fields: ClassVar[tuple[str, ...]] = ("name", "host")
    ordering = ("name", "pk")

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(self, request, queryset):
        for scheduler in queryset:
            result = check_connection(scheduler)
            if result.ok:
                level, text = messages.SUCCESS, f'"{scheduler}": {result.message}'
            elif not result.supported:
                level, text = messages.WARNING, f'"{scheduler}": {result.message}'
            else:
                level, text = messages.ERROR, f'"{scheduler}": connection failed: {result.message}'
            self.message_user(request, text, level)


class CondorSchedulerAdmin(SchedulerAdminMixin, admin.ModelAdmin):
    form = CondorSchedulerForm
    list_display = ("name", "host", "port", "username", "private_key_path", "authentication")
    search_fields = ("name", "host", "username")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            secrets = ("new_password", "private_key_path", "new_private_key_pass")
        else:
            secrets = (
                ("new_password", "clear_password"),
                "private_key_path",
                ("new_private_key_pass", "clear_private_key_pass"),
            )
        return (
            (None, {"fields": ("name", "host", "port", "username")}),
            (
                "Authentication",
                {
                    "fields": secrets,
                    "description": "A password, or a private key (with its passphrase if "
                    "it has one). Secrets are stored encrypted and are never shown again.",
                },
            ),
            ("Fair share", {"fields": ("accounting_group",)}),
            ("Limits", {"fields": ("max_request_memory",)}),
        )

    @admin.display(description="authentication")
    def authentication(self, obj):
        return auth_summary(obj)


class DaskSchedulerAdmin(SchedulerAdminMixin, admin.ModelAdmin):
    form = DaskSchedulerForm
    list_display = ("name", "host", "timeout", "heartbeat_interval", "dashboard_link")
    list_display_links = ("name",)

    @admin.display(description="dashboard")
    def dashboard_link(self, obj):
        if not obj.dashboard:
            return ""
        url = reverse(
            f"{self.admin_site.name}:dask_dashboard",
            kwargs={"dask_scheduler_id": obj.pk, "page": "status"},
        )
        return format_html('<a href="{}">Open dashboard</a>', url)

    def get_urls(self):
        view = self.admin_site.admin_view(self.dashboard_view)
        return [
            path("<str:dask_scheduler_id>/dashboard/", view,
                 name="tethys_compute_daskscheduler_dashboard"),
            # Tethys's URL name and keyword arguments, now behind the admin login.
            path("<str:dask_scheduler_id>/dashboard/<slug:page>/", view, name="dask_dashboard"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request, dask_scheduler_id, page="status"):
        """The scheduler's Dask dashboard (one of :data:`DASHBOARD_PAGES`) in a frame, for
        staff who may view the scheduler. The dashboard itself is served by the Dask
        scheduler; this page only links and frames it."""
        scheduler = self.get_object(request, unquote(dask_scheduler_id))
        if scheduler is None:
            raise Http404("No such Dask scheduler.")
        if not self.has_view_permission(request, scheduler):
            raise PermissionDenied
        if page not in DASHBOARD_PAGES:
            raise Http404("No such dashboard page.")
        try:
            base = dashboard_base_url(scheduler.dashboard)
        except ValueError:
            base = None
        pages = [
            {
                "name": name,
                "label": label,
                "url": reverse(
                    f"{self.admin_site.name}:dask_dashboard",
                    kwargs={"dask_scheduler_id": scheduler.pk, "page": name},
                ),
            }
            for name, label in DASHBOARD_PAGES.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dask dashboard of {scheduler}",
            "subtitle": DASHBOARD_PAGES[page],
            "opts": self.opts,
            "original": scheduler,
            "scheduler": scheduler,
            "pages": pages,
            "page": page,
            "dashboard_url": f"{base}{page}" if base else None,
            "has_view_permission": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/tethys_compute/daskscheduler/dashboard.html", context
        )
