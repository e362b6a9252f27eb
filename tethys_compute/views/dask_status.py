"""``update-dask-job-status/<key>/``: where the scheduler plugin reports task transitions.

Tethys lets anyone who knows a key set a job's status here and blocks on ``gather``
(see "Differences from Tethys" in the docs). Here:

* a transition is applied only with a valid token for that key
  (``Authorization: Bearer <token>``, or a ``token`` POST field, never the query string):
  a token signed for the job and its current key, handed to the scheduler when the task
  was submitted (:mod:`tethys_compute.models.dask.dask_token`);
* without a token (Tethys's own ``tethys_dask_scheduler`` plugin sends none) the call
  only asks for a re-check from the scheduler, and only when the job's status was last
  checked ``DASK_CALLBACK_MIN_INTERVAL`` seconds ago or more; nothing the caller says is
  taken;
* reports about a job that has ended change nothing (409);
* engine work (a re-check; gathering a finished task's result) runs as for
  update-job-status: the request waits for it at most ``CALLBACK_REFRESH_TIMEOUT``
  seconds, then it goes on in the background.

Answers (JSON): 200 ``{"success": true, "status": <display name>, "work": W}`` (``W``:
``"done"``, ``"running"``, ``"queued"``, or ``"skipped"`` for a re-check not due yet);
400 unknown transition; 403 bad token; 404 no job with that key (tokenless); 409 job
finished, or report stale (the job runs another task now); 425 the job is being
submitted or its row is not visible yet (the plugin retries).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from .. import status as st
from ..conf import get_config
from .limits import json_request_limits
from .update_status import run_bounded

logger = logging.getLogger("tethys_compute.callbacks")


def _answer(http_status, **data):
    return JsonResponse(data, status=http_status)


@sensitive_variables("header", "value")
def _token(request):
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method == "POST":
        return request.POST.get("token") or None
    return None


@csrf_exempt
@never_cache
@json_request_limits
@transaction.non_atomic_requests
@sensitive_post_parameters("token")
@require_http_methods(["GET", "POST"])
def update_dask_job_status(request, key):
    """Apply a token-authenticated task transition, or re-check the job (see module)."""
    from ..models.dask.dask_status_map import parse_transition

    params = request.POST if request.method == "POST" else request.GET
    token = _token(request)
    if token is None:
        return _recheck(key)
    start, finish = parse_transition(
        params.get("status"), params.get("start"), params.get("finish")
    )
    return _apply(key, token, start, finish, params)


@sensitive_variables("token")
def _apply(key, token, start, finish, params):
    from ..models import DaskJob
    from ..models.dask.dask_token import read_token

    identity = read_token(token)
    if identity is None or identity[1] != key:
        return _answer(403, success=False, error="invalid token")
    job = DaskJob.objects.select_related("scheduler").filter(pk=identity[0]).first()
    if job is None:
        # The token was made for this job: its row is not committed yet (a quick task
        # reports before execute() finished), or it was deleted. Ask for a retry.
        return _answer(425, success=False, error="no such job (yet)")
    if job.key != key:
        if not job.key:
            return _answer(425, success=False, error="job is being submitted")
        return _answer(409, success=False, error="stale report: the job runs another task")
    if job.is_terminal:
        return _answer(409, success=False, error="job has already finished")
    if job._status == st.PENDING:
        return _answer(425, success=False, error="job is being submitted")
    if finish is None:
        return _answer(400, success=False, error=f"invalid status: {params.get('status', '')}")
    exception = params.get("exception") or None
    cancelled = params.get("cancelled") == "1"

    def apply_reported_transition(job):
        job.apply_reported_transition(start, finish, exception=exception, cancelled=cancelled)

    work = run_bounded(apply_reported_transition, job)
    return _answer(200, success=True, status=job.cached_status, work=work)


def _recheck(key):
    from ..models import DaskJob

    max_length = DaskJob._meta.get_field("key").max_length
    job = None
    if "\x00" not in key and len(key) <= max_length:  # else no job has it
        job = DaskJob.objects.select_related("scheduler").filter(key=key).first()
    if job is None:
        return _answer(404, success=False, error="no such job")
    if job.is_terminal:
        return _answer(409, success=False, error="job has already finished")
    interval = timedelta(seconds=get_config()["DASK_CALLBACK_MIN_INTERVAL"])
    last = job._last_status_update or job.execute_time
    if job._status == st.PENDING or (last and timezone.now() - last < interval):
        return _answer(200, success=True, status=job.cached_status, work="skipped")
    work = run_bounded(_refresh_from_scheduler, job)
    return _answer(200, success=True, status=job.cached_status, work=work)


def _refresh_from_scheduler(job):
    from ..monitor import refresh_jobs

    # Under the job's lease, as every refresh: never two at once for one job.
    job.update_status_interval = 0
    refresh_jobs([job])
