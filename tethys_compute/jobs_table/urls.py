"""Routes of the jobs table's endpoints (included at the root of ``tethys_compute.urls``).

The table writes each route's reversed URL into its HTML (``data-*-url``), so a project
may mount ``tethys_compute.urls`` under any prefix.
"""

from django.urls import path

from . import follow, views

urlpatterns = [
    path("jobs-table/poll/", views.poll, name="jobs_table_poll"),
    path("jobs-table/rows/", views.rows, name="jobs_table_rows"),
    path("jobs-table/action/", views.action, name="jobs_table_action"),
    path("jobs-table/logs/", views.logs, name="jobs_table_logs"),
    path("jobs-table/logs/content/", views.log_content, name="jobs_table_log_content"),
    path("jobs-table/logs/follow/", follow.log_follow, name="jobs_table_log_follow"),
    path("jobs-table/logs/download/", views.log_download, name="jobs_table_log_download"),
]
