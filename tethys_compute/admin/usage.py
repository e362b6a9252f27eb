"""The job admin's usage (issue 15, item 6): a job's usage per run and in total on its
page, and totals per user or per app over a period (``.../tethysjob/usage/``)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from ..jobs_table.usage_column import memory_text
from ..models.usage import GROUPINGS, parse_period, usage_totals

HEADERS = ("run", "wall s", "CPU s", "peak memory", "requested memory", "CPUs", "disk")
PERIODS = ("1d", "7d", "30d", "90d", "365d")


def _row(name, figures):
    def number(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    disk = figures.get("disk_kb")
    return (name, number(figures.get("wall_seconds")), number(figures.get("cpu_seconds")),
            memory_text(figures.get("peak_memory_mb"), None) or "-",
            memory_text(figures.get("requested_memory_mb"), None) or "-",
            figures.get("requested_cpus") or "-",
            memory_text(disk / 1024, None) if disk is not None else "-")


class JobUsageSection:
    """Mixed into the job admin: the job's usage table and the totals page."""

    @admin.display(description="usage")
    def usage_table(self, obj):
        usage = obj.usage
        attempts = usage["attempts"]
        if not attempts:
            return "Not reported by the engine (yet)."
        rows = [_row(f"attempt {key}", attempts[key]) for key in sorted(attempts, key=int)]
        rows.append(_row("total", usage["total"]))
        cells = "<td>{}</td>" * len(HEADERS)
        head = format_html_join("", "<th>{}</th>", ((h,) for h in HEADERS))
        body = format_html_join("", "<tr>" + cells + "</tr>", rows)
        link = reverse(f"{self.admin_site.name}:tethys_compute_tethysjob_usage")
        return format_html('<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
                           '<p><a href="{}">Totals per user and per app</a></p>',
                           head, body, link)

    def usage_urls(self):
        return [path("usage/", self.admin_site.admin_view(self.usage_view),
                     name="tethys_compute_tethysjob_usage")]

    def usage_view(self, request):
        """Usage totals per user or app (``?by=user|app&since=30d``) of the jobs created
        in the period; staff who may view jobs."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        by = request.GET.get("by", "user")
        by = by if by in GROUPINGS else "user"
        since = request.GET.get("since", "30d")
        try:
            start = timezone.now() - parse_period(since)
            error = None
        except ValueError as exc:
            since, start, error = "30d", timezone.now() - parse_period("30d"), str(exc)
        rows = [(row[by], row["jobs"], row["measured_jobs"], f"{row['wall_seconds'] / 3600:.2f}",
                 f"{row['cpu_seconds'] / 3600:.2f}",
                 memory_text(row["peak_memory_mb"], row["requested_memory_mb"]) or "-",
                 memory_text(row["disk_kb"] / 1024, None) if row["disk_kb"] is not None else "-")
                for row in usage_totals(by, since=start)]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Job usage per {by}, jobs created in the last {since}",
            "subtitle": None,
            "opts": self.opts,
            "by": by, "since": since, "error": error, "rows": rows,
            "groupings": GROUPINGS, "periods": PERIODS,
            "headers": (by, "jobs", "measured", "wall hours", "CPU hours",
                        "peak memory (of requested)", "disk"),
        }
        return TemplateResponse(request, "admin/tethys_compute/tethysjob/usage.html", context)


__all__ = ["JobUsageSection"]
