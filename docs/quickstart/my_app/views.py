import dask
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tethys_compute.gizmos import JobsTable

from . import tasks
from .app import MyApp


@login_required
def jobs(request):
    job_manager = MyApp.get_job_manager()
    table = JobsTable(
        jobs=job_manager.list_jobs(request.user),
        column_fields=("id", "name", "creation_time", "run_time"),
        actions=["resubmit", "|", "logs", "|", "terminate", "delete"],
    )
    return render(request, "my_app/jobs.html", {"table": table})


@require_POST
@login_required
def new_dask_job(request):
    """A Dask job: the cluster runs the work; its status follows by itself."""
    job = MyApp.get_job_manager().create_job(
        "simulate_{id}",
        request.user,
        job_type="DASK",
        scheduler=MyApp.get_scheduler("dask_primary"),
    )
    job.execute(dask.delayed(tasks.simulate)(5))  # saves the job, submits the task
    return redirect("jobs")


@require_POST
@login_required
def new_basic_job(request):
    """A Basic job: no engine; the app does the (short) work and moves the status."""
    job = MyApp.get_job_manager().create_job("quick_{id}", request.user, job_type="BASIC")
    job.execute()  # saves the job: Submitted
    job.status = "Running"
    job.extended_properties = {"result": tasks.simulate(1)}
    job.save()
    job.status = "Complete"
    return redirect("jobs")
