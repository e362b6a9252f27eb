"""The job admin: one changelist for every job type, read-only job pages, logs, and
actions (refresh status, terminate, resubmit, delete).

The changelist shows each row as its own class (``select_subclasses``) and only its
cached status: it never asks an engine per row (Tethys's ``JobAdmin`` read ``status``, an
engine query and a write per row). Its number of queries
does not depend on how many jobs there are or which page is shown.
"""

from __future__ import annotations

import json
from html import escape

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.db.models import JSONField, OuterRef, Subquery
from django.forms import ModelForm, modelform_factory
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .. import status as st
from ..exceptions import RemoteWorkNotStopped
from ..failure_kinds import KIND_NAMES
from ..models import CondorPyWorkflow, DaskSerializedField, TethysJob
from ..monitor import refresh_jobs
from ..notifications.admin import JobNotificationsSection
from .bounded import BoundedChangelist
from .job_filters import (
    AppFilter,
    CompletionTimeFilter,
    JobTypeFilter,
    OwnerFilter,
    StatusFilter,
    added_fields,
)
from .logs import resolve_logs
from .usage import JobUsageSection

#: Failures listed one by one in an action's message; the rest are counted.
MAX_LISTED = 10


def _json_display(name, label):
    """A read-only field callable showing JSON field ``name`` pretty-printed."""

    def display(obj):
        value = getattr(obj, name, None)
        if value in (None, "", {}, []):
            return "-"
        try:
            text = json.dumps(value, indent=2, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = repr(value)
        return format_html("<pre>{}</pre>", text)

    display.short_description = label
    display.__name__ = f"json_{name.strip('_')}"
    return display


def _own_fields(model):
    """Read-only entries for the fields ``model`` adds to ``TethysJob`` (JSON pretty-printed;
    an underscored field shown through its public property, e.g. ``num_jobs``)."""
    entries = []
    for f in added_fields(model):
        if isinstance(f, (JSONField, DaskSerializedField)):
            entries.append(_json_display(f.attname, f.name.strip("_").replace("_", " ")))
        elif f.name.startswith("_") and isinstance(getattr(model, f.name[1:], None), property):
            entries.append(f.name[1:])
        else:
            entries.append(f.name)
    return entries


def workflow_nodes(workflow):
    """The nodes of a workflow as dicts (name, cached status, parents' names), in two
    queries."""
    nodes = workflow.node_set.order_by("name", "pk").prefetch_related("parent_nodes")
    for node in nodes:
        yield {
            "name": node.name,
            "status": node.cached_node_status,
            "parents": sorted(parent.name for parent in node.parent_nodes.all()),
        }


def owner_name():
    """An expression for a job's owner's user name (any user model): a subquery by the
    user's primary key, not a join, so that the count and the search of the changelist
    (``tethys_compute.bounded``) read no user row and SQLite's choice of index for them
    is not swayed by a join."""
    user_model = get_user_model()
    return Subquery(user_model._default_manager.filter(pk=OuterRef("user_id"))
                    .values(user_model.USERNAME_FIELD)[:1])


def _status_label(code, other=""):
    if not code:
        return "-"
    if code == st.OTHER and other:
        return other
    return st.STATUS_DISPLAY.get(code, code)


def _html_table(headers, rows, empty):
    """An escaped HTML table of ``rows`` (tuples of text), or ``empty`` when none."""
    rows = list(rows)
    if not rows:
        return empty
    cells = "".join("<td>{}</td>" for _ in headers)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join("", "<tr>" + cells + "</tr>", rows)
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def _listed(items):
    shown = "; ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown}; and {more} more" if more > 0 else shown


class JobAdmin(BoundedChangelist, JobNotificationsSection, JobUsageSection, admin.ModelAdmin):
    list_display = ("name", "job_type", "label", "owner", "status_display", "failure_kind",
                    "creation_time", "execute_time", "completion_time")
    list_display_links = ("name",)
    # The fields each column that is not a field reads: a changelist page loads only
    # these and list_display's fields (admin/page_fields.py).
    list_display_reads = {
        "action_checkbox": ("name",),  # str(job)
        "job_type": (),  # the row's class
        "owner": ("user_id",),  # and the owner_username annotation
        "status_display": ("_status", "_other_status", "extended_properties", "progress",
                           "status_message"),
    }
    list_filter = (
        StatusFilter,
        JobTypeFilter,
        ("failure_kind", admin.ChoicesFieldListFilter),
        AppFilter,
        OwnerFilter,
        ("creation_time", admin.DateFieldListFilter),
        ("completion_time", CompletionTimeFilter),
    )
    # Searched by tethys_compute.bounded (BoundedChangelist): id, start of the name, and
    # words of name or description among the newest SEARCH_WINDOW jobs.
    search_fields = ("name", "description")
    date_hierarchy = "creation_time"
    # Newest first, read backwards from tc_job_created (ties by id, also in that index):
    # a date range (the drill-down, "This year") then needs no sort of its rows.
    ordering = ("-creation_time", "-id")
    list_per_page = 100
    # One COUNT per page, not two: a filtered page says "N results", without the
    # "(M total)" that is a second count over every row (issue 17: 1,000,000 jobs);
    # that count stops at COUNT_LIMIT (BoundedChangelist).
    show_full_result_count = False
    actions = ("refresh_status", "terminate", "resubmit", "delete_selected")

    # --- queryset and columns --------------------------------------------------------
    def get_queryset(self, request):
        # Rows as their own classes; the owner's name annotated (model_utils copies
        # annotations onto the subclass instances, a select_related cache it would not).
        return (
            TethysJob.objects.select_subclasses()
            .annotate(owner_username=owner_name())
            .order_by(*self.get_ordering(request))
        )

    def has_add_permission(self, request):
        return False  # jobs are created by apps, through their JobManager

    def has_change_permission(self, request, obj=None):
        # Job pages are read-only (their fields belong to the status rules and the
        # engines); "change" permission grants the actions on the changelist.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="type")
    def job_type(self, obj):
        return obj.type

    @admin.display(description="user", ordering="owner_username")
    def owner(self, obj):
        # A link to the user's jobs: the user filter lists only the first owners by name.
        # format_html's markup, escaped directly (it runs once per row of a page).
        name = escape(str(getattr(obj, "owner_username", None) or obj.user_id))
        return SafeString(f'<a href="?{OwnerFilter.parameter_name}={escape(str(obj.user_id))}" '
                         f'title="Show only the jobs of {name}">{name}</a>')

    @admin.display(description="status", ordering="_status")
    def status_display(self, obj):
        text = obj.cached_status
        if obj.progress is not None and not obj.is_terminal:
            text = f"{text} ({obj.progress}%)"
        if obj.status_message:
            return SafeString(f'<span title="{escape(str(obj.status_message))}">'
                             f'{escape(text)}</span>')
        return text

    # --- the job page ----------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("name",)}),)
        own = _own_fields(type(obj))
        fieldsets = [
            (None, {"fields": ("name", "description", "job_type", "label", "user", "groups",
                               "workspace")}),
            ("Status", {"fields": ("status_display", "status_message", "progress",
                                   "progress_message", "creation_time", "execute_time",
                                   "start_time", "completion_time", "run_time_display",
                                   "last_checked", "process_results_path")}),
        ]
        fieldsets.append(("Failed runs and retries", {"fields": (
            "attempt", "failure_kind", _json_display("failure_reason", "failure reason"),
            "max_attempts", "retry_delay", "retry_on", "retry_due_at", "max_run_time")}))
        if own:
            fieldsets.append((f"{obj.type} fields", {"fields": own}))
        if isinstance(obj, CondorPyWorkflow):
            fieldsets.append(("Workflow nodes", {"fields": ("workflow_nodes_table",)}))
        fieldsets += [
            ("Extended properties", {"fields": (
                _json_display("extended_properties", "extended properties"),)}),
            ("Usage", {"fields": ("usage_table",)}),
            ("Status history", {"fields": ("status_history_table",)}),
            ("Notifications", {"fields": ("notifications_table",)}),
            ("Logs", {"fields": ("logs_link",)}),
        ]
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Every field is read-only; the form is built on the job's own class so that its
        # type-specific fields get their labels.
        return modelform_factory(type(obj) if obj is not None else self.model,
                                 form=ModelForm, fields=())

    @admin.display(description="run time")
    def run_time_display(self, obj):
        value = obj.run_time
        if not value:
            return "-"
        return str(value).split(".")[0]

    @admin.display(description="status last checked")
    def last_checked(self, obj):
        return obj._last_status_update or "-"

    @admin.display(description="results function")
    def process_results_path(self, obj):
        return obj._process_results_function or "-"

    @admin.display(description="status changes")
    def status_history_table(self, obj):
        return _html_table(
            ("When", "Run", "From", "To", "Failure", "Reason"),
            (
                (date_format(timezone.localtime(row.time), "DATETIME_FORMAT"),
                 "-" if row.attempt is None else row.attempt,
                 _status_label(row.old_status),
                 _status_label(row.new_status, row.other_status),
                 KIND_NAMES.get(row.failure_kind, row.failure_kind) or "-",
                 row.reason)
                for row in obj.status_history.all()
            ),
            empty="No status change recorded.",
        )

    @admin.display(description="nodes")
    def workflow_nodes_table(self, obj):
        return _html_table(
            ("Node", "Last known status", "Parents"),
            ((node["name"], node["status"] or "-", ", ".join(node["parents"]) or "-")
             for node in workflow_nodes(obj)),
            empty="No nodes.",
        )

    @admin.display(description="logs")
    def logs_link(self, obj):
        url = reverse(f"{self.admin_site.name}:tethys_compute_tethysjob_logs", args=[obj.pk])
        return format_html('<a href="{}">View logs</a>', url)

    # --- logs --------------------------------------------------------------------------
    def get_urls(self):
        return [
            *self.usage_urls(),
            path("<path:object_id>/logs/", self.admin_site.admin_view(self.logs_view),
                 name="tethys_compute_tethysjob_logs"),
            *super().get_urls(),
        ]

    def logs_view(self, request, object_id):
        """The job's logs (``job.get_logs()``), every text escaped, for staff who may view
        the job. Reading logs may contact the job's engine."""
        job = self.get_object(request, unquote(object_id))
        if job is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        error = None
        try:
            sections = resolve_logs(job.get_logs())
        except Exception as exc:  # noqa: BLE001 - shown on the page
            sections, error = [], str(exc) or type(exc).__name__
        context = {
            **self.admin_site.each_context(request),
            "title": f"Logs of {job}",
            "subtitle": None,
            "opts": self.opts,
            "original": job,
            "job": job,
            "sections": sections,
            "error": error,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tethys_compute/tethysjob/logs.html", context)

    # --- actions -------------------------------------------------------------------------
    @admin.action(description="Refresh status of selected jobs", permissions=["change"])
    def refresh_status(self, request, queryset):
        jobs = list(queryset)
        active = [job for job in jobs if not job.is_terminal]
        stats = refresh_jobs(active)
        text = f"Checked {stats.checked} active job(s): {stats.changed} changed status."
        finished = len(jobs) - len(active)
        if finished:
            text += f" {finished} finished job(s) left as they are."
        if stats.errors:
            self.message_user(
                request,
                f"{text} {stats.errors} check(s) failed (engine unreachable or job unknown "
                "to it); those statuses are unchanged and the failures are logged.",
                messages.WARNING,
            )
        else:
            self.message_user(request, text, messages.SUCCESS)

    @admin.action(description="Terminate selected jobs", permissions=["change"])
    def terminate(self, request, queryset):
        self._each(request, queryset, "terminated", lambda job: job.stop(),
                   skip=lambda job: "already finished" if job.is_terminal else None)

    @admin.action(description="Resubmit selected jobs", permissions=["change"])
    def resubmit(self, request, queryset):
        self._each(request, queryset, "resubmitted", lambda job: job.resubmit(),
                   skip=lambda job: None if job.is_terminal else "still active; terminate first")

    def _each(self, request, queryset, done_word, operation, skip):
        done, skipped, unsupported, failed = 0, [], [], []
        for job in queryset:
            reason = skip(job)
            if reason:
                skipped.append(f'"{job}" ({reason})')
                continue
            try:
                operation(job)
            except NotImplementedError:
                unsupported.append(f'"{job}" ({job.type})')
            except Exception as exc:  # noqa: BLE001 - reported per job, the others go on
                failed.append(f'"{job}": {exc}')
            else:
                done += 1
                self.log_change(request, job, f"{done_word.capitalize()} from the admin.")
        if done:
            self.message_user(request, f"{done} job(s) {done_word}.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Skipped: {_listed(skipped)}.", messages.WARNING)
        if unsupported:
            self.message_user(request, f"Not supported for: {_listed(unsupported)}.",
                              messages.WARNING)
        if failed:
            self.message_user(request, f"Failed: {_listed(failed)}.", messages.ERROR)

    @admin.action(description="Delete selected jobs (stops their remote work)",
                  permissions=["delete"])
    def delete_selected(self, request, queryset):
        # Django's confirmation page and deletion, on base rows: deleting them sends the
        # pre/post_delete signals the core's receivers use to stop each job's remote work
        # and remove its own directory.
        rows = TethysJob.objects.filter(pk__in=queryset.values("pk")).order_by("pk")
        try:
            with transaction.atomic(using=router.db_for_write(TethysJob)):
                return django_delete_selected(self, request, rows)
        except RemoteWorkNotStopped as exc:  # nothing was deleted, nor logged as deleted
            self.message_user(request, str(exc), messages.ERROR)
            return None

    def delete_view(self, request, object_id, extra_context=None):
        """Django's delete page; a job whose remote work cannot be stopped is kept, with
        the reason shown on its page."""
        try:
            return super().delete_view(request, object_id, extra_context)
        except RemoteWorkNotStopped as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:tethys_compute_tethysjob_change", args=[unquote(object_id)]))
