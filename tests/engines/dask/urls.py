"""URLs for the push-path tests: the project's URLs plus a read-only job view, so a test
can watch a job over HTTP (the live server serves one request at a time; on SQLite's
shared in-memory database the test thread then never queries at the same time)."""

from django.http import JsonResponse
from django.urls import path

from tests.urls import urlpatterns as project_urls


def job_state(request, job_id):
    from tethys_compute.models import DaskJob, JobStatusChange

    job = DaskJob.objects.filter(pk=job_id).first()
    if job is None:
        return JsonResponse({}, status=404)
    reasons = list(JobStatusChange.objects.filter(job_id=job.pk).order_by("id")
                   .values_list("new_status", "reason"))
    return JsonResponse({
        "status": job.cached_status,
        "result": job.result,
        "status_message": job.status_message,
        "key": job.key,
        "history": reasons,
    })


urlpatterns = [path("_test/dask-job/<int:job_id>/", job_state), *project_urls]
