"""URLs of tethys_compute. Mount at the project root to get Tethys's routes::

    path("", include("tethys_compute.urls"))

The routes are not namespaced (Tethys reverses ``update_job_status`` and friends by bare
name); a prefix in the project's ``path()`` is honoured by ``reverse()``.
"""

from django.urls import include, path

from .views import dask_status, update_status

urlpatterns = [
    path(
        "update-job-status/<str:job_id>/",
        update_status.update_job_status,
        name="update_job_status",
    ),
    path(
        "report-job-status/<str:job_id>/",
        update_status.report_job_status,
        name="report_job_status",
    ),
    path(
        "update-dask-job-status/<str:key>/",
        dask_status.update_dask_job_status,
        name="update_dask_job_status",
    ),
    path("", include("tethys_compute.jobs_table.urls")),
]
