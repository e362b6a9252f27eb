"""Status callback endpoints that compute nodes call (Tethys's routes and answers)."""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .. import status as st
from ..models import TethysJob

logger = logging.getLogger("tethys_compute.callbacks")


def _job_or_none(job_id):
    try:
        return TethysJob.objects.get_subclass(pk=int(job_id))
    except (TethysJob.DoesNotExist, ValueError, TypeError):
        return None


def update_job_status(request, job_id):
    """Ask for a refresh of job ``job_id`` from its engine. Takes no state from the
    caller; rate-limited by the job's ``update_status_interval``.

    Answers ``{"success": true}``, or 404 ``{"success": false, "error": "no such job"}``.
    """
    job = _job_or_none(job_id)
    if job is None:
        return JsonResponse({"success": False, "error": "no such job"}, status=404)
    try:
        job.update_status()
    except Exception:  # noqa: BLE001 - the caller only asked for a refresh
        logger.exception("Job %s: refresh requested by callback failed", job.pk)
        return JsonResponse({"success": False})
    return JsonResponse({"success": True})


@csrf_exempt
def report_job_status(request, job_id):
    """Accept a status reported by a compute node holding the job's token.

    Answers as Tethys 4.6: 403 bad token, 400 bad status, 404 no job, 409 job already
    finished, else ``{"success": true}``.
    """
    params = request.POST if request.method == "POST" else request.GET
    token = params.get("token", "")
    if TethysJob.id_from_status_report_token(token) != str(job_id):
        return JsonResponse({"success": False, "error": "invalid token"}, status=403)
    reported = params.get("status", "")
    if reported not in st.VALID_STATUSES and reported not in st.DISPLAY_STATUSES:
        return JsonResponse({"success": False, "error": f"invalid status: {reported}"}, status=400)
    job = _job_or_none(job_id)
    if job is None:
        return JsonResponse({"success": False, "error": "no such job"}, status=404)
    code = st.to_code(reported)[0]
    if job.is_terminal and code not in st.TERMINAL_STATUS_CODES:
        return JsonResponse({"success": False, "error": "job has already finished"}, status=409)
    job.update_status(status=reported, reason="reported by compute node")
    return JsonResponse({"success": True, "post_processing": not job.post_processing_incomplete})
