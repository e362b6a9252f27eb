"""URLconf of the jobs table tests: tethys_compute mounted under a prefix (the table must
take its endpoint URLs from the URLconf, not hard-code them) and the test pages."""

from django.urls import include, path

from . import pages

urlpatterns = [
    path("compute/", include("tethys_compute.urls")),
    path("jobs/", pages.table_page, name="jobs_page"),
    path("jobs/new/", pages.new_job, name="new_job"),
    path("jobs-csp/", pages.strict_csp_page, name="jobs_csp_page"),
    path("bootstrap.css", pages.bootstrap_css),
    path("monitor/<int:job_id>/", pages.job_page("Monitor"), name="job_monitor"),
    path("results/<int:job_id>/", pages.job_page("Results"), name="job_results"),
    path("details/<int:job_id>/", pages.details_page, name="job_details"),
]
