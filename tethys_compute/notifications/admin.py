"""Admin of notifications: each job page's "Notifications" section, the outbox, and the
per-user preferences (editable)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from .models import JobNotification, NotificationDelivery


class JobNotificationsSection:
    """Mixed into the job admin: a read-only table of the job's notifications."""

    @admin.display(description="notifications")
    def notifications_table(self, obj):
        rows = (NotificationDelivery.objects.filter(notification__job=obj)
                .select_related("notification").order_by("notification__created", "id"))
        events = JobNotification.objects.filter(job=obj, deliveries__isnull=True)
        lines = [(d.notification.created, d.notification.get_event_display(),
                  d.notification.attempt, d.channel, d.target or "-", d.state, d.tries,
                  d.last_error or "") for d in rows]
        lines += [(n.created, n.get_event_display(), n.attempt, "-", "-",
                   "recorded" if n.expanded else "new", 0, "") for n in events]
        if not lines:
            return "None"
        head = format_html_join("", "<th>{}</th>", ((h,) for h in (
            "time", "event", "attempt", "channel", "to", "state", "tries", "last error")))
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 8 + "</tr>", sorted(lines))
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
                           head, body)


class DeliveryInline(admin.TabularInline):
    model = NotificationDelivery
    extra = 0
    can_delete = False
    fields = ("channel", "target", "state", "tries", "next_try_at", "sent_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class JobNotificationAdmin(admin.ModelAdmin):
    list_display = ("job", "event", "attempt", "created", "expanded")
    list_filter = ("event", "deliveries__state")
    list_select_related = ("job",)
    search_fields = ("job__name",)
    readonly_fields = ("job", "event", "attempt", "created", "detail", "expanded")
    inlines = (DeliveryInline,)
    date_hierarchy = "created"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "enabled", "email", "webhook_url")
    list_filter = ("enabled", "email")
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)
