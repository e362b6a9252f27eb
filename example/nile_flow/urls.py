from django.urls import path

from . import controllers

app_name = "nile_flow"

urlpatterns = [
    path("", controllers.home, name="home"),
    path("run/frequency/", controllers.run_frequency, name="run_frequency"),
    path("run/batch/", controllers.run_batch, name="run_batch"),
    path("run/change-point/", controllers.run_change_point, name="run_change_point"),
    path("run/workflow/", controllers.run_workflow, name="run_workflow"),
    path("comparison/", controllers.comparison, name="comparison"),
    path("jobs/<int:job_id>/result/", controllers.result, name="result"),
]
