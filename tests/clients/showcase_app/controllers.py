"""The Gizmo Showcase's jobs-table controllers, as that app writes them (only the imports
changed to tethys_compute's): a JobsTable built in the controller, with custom actions
whose ``enabled_callback`` is a lambda made on each request, plus an app service whose
bound method is a custom action callback, registered when this module loads."""

import os

from django.contrib.auth import get_user_model, login
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template import RequestContext, Template
from django.urls import reverse

from tethys_compute.gizmos import JobsTable
from tethys_compute.jobs_table import register_action_callable

PAGE = Template("""{% load tethys_compute %}<!doctype html><html lang="en"><head>
<meta charset="utf-8"><title>Jobs Table</title></head><body>
<h1>Jobs Table</h1>{% gizmo jobs_table %}</body></html>""")


class ReportService:
    """An app service; its bound method cannot be imported by a path, so the app
    registers it for custom actions when this module loads."""

    def __init__(self, prefix):
        self.prefix = prefix

    def file_report(self, job):
        props = dict(job.extended_properties or {})
        props["report"] = f"{self.prefix}-{job.pk}"
        job.extended_properties = props
        job.save()
        return f"Report {props['report']} filed by process {os.getpid()}."


reports = ReportService("RPT")
register_action_callable(reports.file_report, name="gizmo_showcase.file_report")


def jobs_table(request):
    """Controller for the Jobs Table page."""
    from tethys_compute.models import TethysJob

    jobs = TethysJob.objects.filter(label="gizmo_showcase").order_by("id").select_subclasses()

    jobs_table_options = JobsTable(
        jobs=jobs,
        column_fields=("id", "name", "description", ("Created At", "creation_time"),
                       "extended_properties.parity"),
        hover=True,
        striped=False,
        bordered=False,
        condensed=False,
        monitor_url="gizmo_showcase:jobs_table_results",
        results_url="gizmo_showcase:jobs_table_results",
        refresh_interval=10000,
        show_detailed_status=True,
        delay_loading_status=True,
        actions=[
            "run", "pause", "resume", "resubmit", "|", "logs", "monitor", "results", "|",
            "terminate", "delete", "|",
            dict(
                label="Custom Action",
                callback_or_url=custom_action,
                enabled_callback=lambda self, job_status:
                    self.extended_properties["parity"] == "even",
                confirmation_message="Custom actions run user-defined custom code. "
                                     "Are you sure you want to perform a custom action?",
                show_overlay=True,
            ),
            dict(
                label="File Report",
                callback_or_url=reports.file_report,
                enabled_callback=lambda self, job_status: job_status == "Complete",
            ),
            dict(
                label="Quick Note",
                callback_or_url=lambda self: f"noted {self.name}",
            ),
        ],
    )

    context = {"jobs_table": jobs_table_options}
    return HttpResponse(PAGE.render(RequestContext(request, context)))


def jobs_table_results(request, job_id):
    """Controller for the Jobs Table demo results links."""
    return redirect(reverse("gizmo_showcase:jobs_table"))


def create_sample_jobs(request):
    """Controller that creates sample Jobs for the Jobs Table demo."""
    from tethys_compute.models import BasicJob, CondorWorkflow

    def create_job(job_id, description, status, status_msg=None, workflow=False):
        Job = CondorWorkflow if workflow else BasicJob  # noqa: N806 - the app's spelling
        job = Job(
            name=f"job_{job_id}",
            user=request.user,
            description=description,
            label="gizmo_showcase",
            status_message=status_msg,
            _status=status,
            extended_properties={"parity": "even" if job_id % 2 == 0 else "odd"},
        )
        job.save()

    for i, (desc, status) in enumerate((
            ("Pending job", "PEN"),
            ("Submitted job", "SUB"),
            ("Running job", "RUN"),
            ("Job error", "ERR"),
            ("Aborted job", "ABT"),
            ("Completed job", "COM"),
    )):
        create_job(i, desc, status)
        create_job(i + 10, desc, status, status_msg=f"{desc} status message")

    create_job(20, "Running multi-process job with various statuses", "VAR")
    create_job(21, "Completed multi-process job with some errors", "VCP")
    create_job(22, "Workflow job with multiple nodes.", "VAR", workflow=True)

    return redirect(reverse("gizmo_showcase:jobs_table"))


def custom_action(self):
    self.status = "My Custom Status"


def login_for_tests(request):
    """Not the showcase's: logs the test's browser in (Tethys's portal would)."""
    user, _ = get_user_model().objects.get_or_create(username="alice")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("ok")
