"""The endpoint the Dask scheduler plugin reports task transitions to."""

from django.http import JsonResponse


def update_dask_job_status(request, key):
    """Ask for a re-check of the Dask job whose task key is ``key`` (never sets a status
    on the caller's word)."""
    from ..models import DaskJob

    job = DaskJob.objects.filter(key=key).first()
    if job is None:
        return JsonResponse({"success": False, "error": "no such job"}, status=404)
    job.update_status()
    return JsonResponse({"success": True})
