from django.urls import path

from . import views

urlpatterns = [
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/new-dask/", views.new_dask_job, name="new_dask_job"),
    path("jobs/new-basic/", views.new_basic_job, name="new_basic_job"),
]
