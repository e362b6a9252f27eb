"""URLs of the showcase-shaped app, mounted as Tethys mounts an app (namespace
``gizmo_showcase``), next to tethys_compute's own."""

from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

from . import controllers

showcase = ([
    path("jobs-table/", controllers.jobs_table, name="jobs_table"),
    path("jobs-table/results/<int:job_id>/", controllers.jobs_table_results,
         name="jobs_table_results"),
    path("jobs-table/sample-jobs/", controllers.create_sample_jobs,
         name="jobs_table_sample_jobs"),
], "gizmo_showcase")

urlpatterns = [
    path("", include("tethys_compute.urls")),
    path("apps/gizmo-showcase/", include(showcase)),
    path("login-for-tests/", controllers.login_for_tests),
    # runserver serves no static files with DEBUG off; the browser test needs the script.
    re_path(r"^static/(?P<path>.*)$", serve, kwargs={"insecure": True}),
]
