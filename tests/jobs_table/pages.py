"""Pages of the jobs table tests: a Bootstrap 5 page showing the visitor's jobs in a
JobsTable (options chosen by ``?preset=``), and the pages its links open."""

import time
from pathlib import Path

from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.template import RequestContext, Template
from django.views.decorators.http import require_POST

from tests.testapp.app import TestApp
from tethys_compute.gizmos import CustomJobAction, JobsTable
from tethys_compute.jobs_table import get_jobs_user
from tethys_compute.models import TethysJob

from . import actions_for_tests as acts

PAGE = Template("""{% load tethys_compute %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Jobs</title>
<link rel="stylesheet" href="/bootstrap.css">{% jobs_table_media %}</head>
<body><main class="container py-4"><h1 class="h3 mb-3">My jobs</h1>
{% jobs_table table %}</main></body></html>""")

COLUMNS = ["id", "name", ("Created", "creation_time"), "run_time", ("Stage", "extended_properties.stage")]


def presets():
    archive = CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived,
                              confirmation_message="Archive this job?")
    broken = CustomJobAction("Explode", acts.explode)
    details = CustomJobAction("Details", modal_url="job_details")
    return {
        "default": {"monitor_url": "job_monitor", "results_url": "/results/{job_id}/",
                    "hover": True, "striped": True},
        "all": {"actions": ["run", "pause", "resume", "resubmit", "|", "logs", "monitor",
                            "results", "|", "terminate", "delete", "|", archive, broken, details],
                "monitor_url": "job_monitor", "results_url": "/results/{job_id}/"},
        "fast": {"refresh_interval": 300},
        "workflow": {"show_detailed_status": True, "refresh_interval": 300},
        "paged": {"enable_data_table": True,
                  "data_table_options": {"paging": True, "pageLength": 3, "searching": True}},
    }


def table_page(request):
    user = get_jobs_user(request)
    options = dict(presets()[request.GET.get("preset", "default")])
    if "refresh" in request.GET:
        options["refresh_interval"] = int(request.GET["refresh"])
    if "length" in request.GET:  # rows per page of the paged preset
        options["data_table_options"] = {**options["data_table_options"],
                                         "pageLength": int(request.GET["length"])}
    jobs = TestApp.get_job_manager().list_jobs(user) if user else []
    if "fixed" in request.GET:  # a table of a fixed list, not of a query
        jobs = list(jobs)
    table = JobsTable(jobs=jobs, column_fields=COLUMNS, **options)
    return HttpResponse(PAGE.render(RequestContext(request, {"table": table})))


@require_POST
def new_job(request):
    """What an app's view does for a visitor: create a job owned by get_jobs_user()."""
    user = get_jobs_user(request)
    job = TestApp.get_job_manager().create_job(request.POST["name"], user, job_type="BASIC")
    job.save()
    return JsonResponse({"id": job.pk})


def bootstrap_css(request):
    """Bootstrap 5's CSS from the django-bootstrap-static package (no CDN)."""
    import bootstrap

    path = Path(bootstrap.__file__).parent / "static" / "bootstrap" / "css" / "bootstrap.min.css"
    if not path.exists():
        raise Http404
    return FileResponse(path.open("rb"), content_type="text/css")


def job_page(kind):
    def view(request, job_id):
        response = HttpResponse(
            f"<h1 id='page' class='h4 text-primary'>{kind} of job {job_id}</h1>"
            "<script>try { window.top.__modal_script = 1 } catch (e) {}</script>"
        )
        response["X-Frame-Options"] = "DENY"  # Django's default; the table must cope
        return response

    return view


def details_page(request, job_id):
    """A custom action's modal page; a job named "slow" answers after 1.5 s, one named
    "hidden" answers 404."""
    name = TethysJob.objects.filter(pk=job_id).values_list("name", flat=True).first()
    if name == "hidden":
        raise Http404
    if name == "slow":
        time.sleep(1.5)
    return job_page("Details")(request, job_id)


#: A strict Content Security Policy: nothing inline (no 'unsafe-inline', no nonces), every
#: script and stylesheet from the site itself; data: images for Bootstrap's CSS icons.
STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")


def strict_csp_page(request):
    """The table page under :data:`STRICT_CSP`: by Django 6's CSP middleware
    (``csp_override``) where Django has it, otherwise as a plain header."""
    try:
        from django.utils.csp import CSP
        from django.views.decorators.csp import csp_override
    except ImportError:
        response = table_page(request)
        response["Content-Security-Policy"] = STRICT_CSP
        return response
    policy = {
        "default-src": [CSP.SELF], "script-src": [CSP.SELF], "style-src": [CSP.SELF],
        "img-src": [CSP.SELF, "data:"], "object-src": [CSP.NONE], "base-uri": [CSP.SELF],
        "form-action": [CSP.SELF], "frame-ancestors": [CSP.SELF],
    }
    return csp_override(policy)(table_page)(request)
