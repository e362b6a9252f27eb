"""Following a running job's logs: the logs dialog of an active job asks, once per
refresh interval, for what was written to the logs it holds since the byte offsets it
holds (one request for all of them), and appends it.

Each log is read from its offset only (a log file by seeking, locally or over SFTP, with
the confinement of :mod:`tethys_compute.log_files`; see :func:`.logs.read_from`), at most
``JOBS_TABLE_LOG_MAX_BYTES`` of it: when more was written since the last read, the end is
sent with the number of bytes skipped, which the dialog shows as a gap. A log now shorter
than the offset (truncated, or rotated to a new file) is sent from its start again, marked
``reset``. Once the answer holds ``JOBS_TABLE_LOG_MAX_BYTES`` of text, the remaining logs
are left for the next request (the browser keeps their offsets), so an answer stays
bounded whatever the number of logs.
"""

from __future__ import annotations

import json
import logging

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from ..conf import get_config
from . import logs as log_tools
from .views import MAX_JOB_ID, Refused, _logs_job, endpoint

logger = logging.getLogger("tethys_compute.jobs_table")

#: At most this many logs are followed by one request.
MAX_FOLLOWED = 20


def _asked(request) -> list[tuple[list[str], int | None]]:
    """``[(path, offset), ...]`` from the ``logs`` parameter: a JSON list of
    ``{"path": [keys], "offset": bytes or null}``.

    :raises Refused: 400 naming what is wrong.
    """
    try:
        entries = json.loads(request.GET.get("logs") or "null")
    except (ValueError, RecursionError):
        raise Refused(400, "Malformed log list: not JSON.") from None
    if not isinstance(entries, list):
        raise Refused(400, 'Malformed log list: a JSON list of {"path", "offset"} is expected.')
    if len(entries) > MAX_FOLLOWED:
        raise Refused(400, f"Too many logs: at most {MAX_FOLLOWED} are followed at once.")
    asked = []
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
            raise Refused(400, "Malformed log list: each log's path is a list of its keys.")
        offset = entry.get("offset")
        if offset is not None and (type(offset) is not int or not 0 <= offset <= MAX_JOB_ID):
            raise Refused(400, f"Bad log offset {offset!r} for {'/'.join(path)}: an offset is "
                               f"a whole number of bytes from 0 to {MAX_JOB_ID}, or null.")
        asked.append((path, offset))
    return asked


@endpoint
@require_GET
def log_follow(request):
    """What was written to a job's logs since the offsets the dialog holds: ``config``,
    ``job_id``, ``logs`` (a JSON list of ``{"path": [keys], "offset": bytes or null}``).
    Answers ``{"success", "active", "status", "names", "logs": [{"path", "content",
    "offset", "size", "skipped", "reset", "truncated"}, ...]}``: ``active`` is false once
    the job reached a terminal status (the dialog stops following), ``names`` the digest
    of the job's log names (:func:`.logs.names`: when it differs from the list's, the list
    changed). A log
    the job does not have answers ``{"path", "missing": true}``; one that cannot be read
    has its reason as ``unavailable``; logs left for the next request are not in the
    answer. 400 for a malformed list or a bad offset."""
    asked = _asked(request)
    config, job, data = _logs_job(request)
    limit = int(get_config()["JOBS_TABLE_LOG_MAX_BYTES"])
    answers, budget = [], limit
    for path, offset in asked:
        if budget <= 0:
            break
        try:
            chunk = log_tools.read_from(log_tools.leaf(data, path), offset, limit)
        except log_tools.NoSuchLog:
            answers.append({"path": path, "missing": True})
            continue
        except Exception:  # noqa: BLE001 - a failing read is shown as the log's message
            logger.exception("Jobs table: following log %s of job %s failed", path, job.pk)
            answers.append({"path": path, "content": "", "offset": offset or 0, "size": 0,
                            "skipped": 0, "reset": False, "truncated": False,
                            "unavailable": f"Unable to read this log of job {job.pk}."})
            continue
        budget -= len(chunk["content"])
        answers.append({"path": path, **chunk})
    return JsonResponse({"success": True, "active": not job.is_terminal,
                         "status": job.cached_status, "names": log_tools.names(data),
                         "logs": answers})
