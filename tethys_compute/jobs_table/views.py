"""The endpoints a jobs table calls (routes in ``jobs_table/urls.py``).

Every endpoint answers JSON (the log download excepted) and takes the table's signed
configuration (``config``). Answers: 401 when not logged in (and anonymous use is off),
400 for a bad request (bad token, unknown action, malformed body), 404 ``{"success":
false, "error": "No such job."}`` for a job that does not exist *or* that the user may
not act on (the two are indistinguishable), 405 for a wrong method, 409 when the action
does not apply to the job's current status or type, 500 when the action itself failed.
State changes are POST only and protected by Django's CSRF middleware.
"""

from __future__ import annotations

import json
import logging
import re

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ..conf import get_config
from ..exceptions import EngineUnavailable, JobStateError
from ..functions import call
from . import graph
from . import logs as log_tools
from .access import anonymous_allowed, get_jobs_user, table_jobs
from .actions import BUILTIN_ACTIONS, perform_builtin
from .custom import ActionUnavailable
from .pages import digest, load_jobs, page_of
from .refresh import refresh_due
from .rows import RowBuilder, fingerprint, is_active
from .tokens import BadTableToken, TableConfig, load_ids
from .waiting import mark_places

logger = logging.getLogger("tethys_compute.jobs_table")

NO_SUCH_JOB = "No such job."
#: Largest job id (a 64-bit primary key); larger ones exist nowhere.
MAX_JOB_ID = 2**63 - 1


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status, message):
    return JsonResponse({"success": False, "error": message}, status=status)


def endpoint(view):
    """Turn :class:`Refused` into its JSON answer; never cache the answers."""

    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Refused as refused:
            return _error(refused.status, refused.message)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return never_cache(wrapped)


def _user(request):
    """The acting user, ``None`` for an anonymous visitor without a shadow user yet.

    :raises Refused: 401 when anonymous use is off and nobody is logged in.
    """
    user = get_jobs_user(request, create=False)
    if user is None and not anonymous_allowed():
        raise Refused(401, "Authentication required.")
    return user


def _config(value) -> TableConfig:
    try:
        return TableConfig.loads(value)
    except BadTableToken as exc:
        raise Refused(400, "Invalid table token.") from exc


def _job_id(value) -> int:
    try:
        job_id = int(str(value))
    except (TypeError, ValueError):
        raise Refused(404, NO_SUCH_JOB) from None
    if not 1 <= job_id <= MAX_JOB_ID:
        raise Refused(404, NO_SUCH_JOB)
    return job_id


def _job(user, config, job_id):
    """The job, as its own class, if ``user`` may act on it through this table.

    :raises Refused: 404 "No such job." otherwise (also for jobs that do not exist).
    """
    job = table_jobs(user, config).filter(pk=_job_id(job_id)).select_subclasses().first()
    if job is None:
        raise Refused(404, NO_SUCH_JOB)
    return job


def _find_action(builder: RowBuilder, key):
    for kind, action in builder.menu:
        if kind == "builtin" and action.key == key:
            return kind, action
        if kind == "custom" and action.name == key:
            return kind, action
    raise Refused(400, "Unknown action.")


def _row_answer(builder, job):
    row = builder.row(job)
    return {"fp": row["fp"], "active": row["active"], "status": row["status"],
            "html": builder.render([row])}


# --- live updates --------------------------------------------------------------------------
@endpoint
@require_POST
def poll(request):
    """Live update of a table: ``{"config": token, "rows": {"<id>": "<fingerprint>"},
    "acts": {"<id>": "<row's signed enabled states>"}, "view": {...}}`` in (``acts`` and
    ``view`` optional), ``{"success": true, "rows": {"<id>": {"fp", "active", "status",
    "html"}}, "gone": [ids], "active": n}`` out, with only the rows whose fingerprint
    changed. Stale jobs among them are refreshed from their engines first, bounded
    (``refresh``). For a table built from a query, ``view`` (the page, sort, direction,
    search and ``digest`` the browser shows) makes the answer carry ``"page"`` (as the
    ``rows`` endpoint answers it) when the page's jobs, order or counts changed.
    """
    try:
        body = json.loads(request.body or b"{}")
        asked = {int(key): str(value) for key, value in dict(body.get("rows") or {}).items()}
        carried = {int(key): str(value) for key, value in dict(body.get("acts") or {}).items()
                   if int(key) in asked}
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
        return _error(400, "Malformed request.")
    if any(not 1 <= key <= MAX_JOB_ID for key in asked):
        return _error(400, f"Malformed request: row ids are from 1 to {MAX_JOB_ID}.")
    user = _user(request)
    config = _config(body.get("config"))
    if len(asked) > int(get_config()["JOBS_TABLE_POLL_MAX_ROWS"]):
        return _error(400, "Too many rows in one request.")
    view = body.get("view") if config.source is not None else None
    if view is not None and not isinstance(view, dict):
        return _error(400, "Malformed request.")
    jobs = list(table_jobs(user, config, among=asked).select_subclasses()) if asked else []
    refreshed = {job.pk: job for job in refresh_due(jobs)}
    jobs = [refreshed.get(job.pk, job) for job in jobs]
    builder = RowBuilder(config, carried)
    graph.prefetch_nodes(jobs, parents=config.show_detailed_status)
    mark_places(jobs)  # a waiting job's place in line is part of its fingerprint
    changed = []
    for job in jobs:
        counts = graph.status_counts(job)
        drawn = graph.workflow_graph(job) if config.show_detailed_status else None
        if fingerprint(job, counts, drawn) != asked.get(job.pk):
            changed.append(job)
    builder.prepare(changed)
    answer = {str(job.pk): _row_answer(builder, job) for job in changed}
    found = {job.pk for job in jobs}
    result = {
        "success": True,
        "rows": answer,
        "gone": sorted(set(asked) - found),
        "active": sum(1 for job in jobs if is_active(job)),
    }
    if view is not None:
        shown = _view_page(user, config, view, {job.pk: job for job in jobs})
        if shown is not None:
            result["page"] = shown
    return JsonResponse(result)


def _view_page(user, config, view, known):
    """For a table built from a query: the page the browser shows (``view``: ``page``,
    ``sort``, ``dir``, ``q``, ``digest``) re-run now; ``None`` when it still shows the
    same jobs in the same order with the same counts, else the page as the ``rows``
    endpoint answers it (its HTML, pager, ``digest``), so new matching jobs appear and
    deleted ones go within the same poll. Rows just loaded (``known``, refreshed) are
    reused."""
    try:
        number = int(view.get("page") or 1)
        sort = view.get("sort")
        sort = int(sort) if sort not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        raise Refused(400, "Malformed request.") from None
    shown = view.get("shown")
    if shown is not None:
        try:
            shown = {int(str(pk)) for pk in list(shown)}
        except (TypeError, ValueError):
            raise Refused(400, "Malformed request.") from None
        if len(shown) > int(get_config()["JOBS_TABLE_POLL_MAX_ROWS"]):
            shown = None  # then the whole page is sent
    page = page_of(user, config, None, number, sort, view.get("dir") == "desc",
                   str(view.get("q") or ""), known=known)
    if digest(page) == view.get("digest"):
        return None
    if shown is None:
        return _page_answer(config, page)
    # The browser keeps the rows it holds: only the others are rendered, with the order.
    page["jobs"] = load_jobs([pk for pk in page["ids"] if pk not in shown], known)
    return {**_page_answer(config, page, partial=True), "order": page["ids"]}


def _page_answer(config, page, partial=False):
    page["jobs"] = list(page["jobs"])
    builder = RowBuilder(config)
    graph.prefetch_nodes(page["jobs"], parents=config.show_detailed_status)
    builder.prepare(page["jobs"])
    rows = [builder.row(job) for job in page["jobs"]]
    return {
        "html": builder.render(rows) if rows or not partial else "",
        "pager": render_to_string("tethys_compute/jobs_table/pager.html", {"page": page}),
        "page": page["number"],
        "pages": page["pages"],
        "total": page["total"],
        "more": bool(page.get("more")),
        "digest": digest(page),
    }


@endpoint
@require_POST
def rows(request):
    """A page of a table (``enable_data_table``): form fields ``config``, ``rows`` (the
    ids token), ``page``, ``sort`` (column index), ``dir`` (``asc``/``desc``), ``q``.
    Answers ``{"success", "html", "pager", "page", "pages", "total", "more"}`` (``more``:
    the count stopped at ``COUNT_LIMIT``, see ``tethys_compute.bounded``)."""
    user = _user(request)
    config = _config(request.POST.get("config"))
    ids = None
    if config.source is None:  # a fixed list: its ids; a query is re-run
        try:
            ids = load_ids(request.POST.get("rows"))
        except BadTableToken:
            return _error(400, "Invalid table token.")
    try:
        number = int(request.POST.get("page") or 1)
        sort = request.POST.get("sort")
        sort = int(sort) if sort not in (None, "") else None
    except ValueError:
        return _error(400, "Malformed request.")
    page = page_of(user, config, ids, number, sort, request.POST.get("dir") == "desc",
                   request.POST.get("q", ""))
    return JsonResponse({"success": True, **_page_answer(config, page)})


# --- actions ---------------------------------------------------------------------------------
@endpoint
@require_POST
def action(request):
    """Run one action of the table's menu on one job: form fields ``config``,
    ``job_id``, ``action`` (a built-in key or a custom action's name), and ``acts`` (the
    row's signed enabled states, optional). Answers
    ``{"success": true, "message", "html", "fp", "active"}`` with the new row, or
    ``{"success": true, "removed": true}`` after a delete."""
    user = _user(request)
    config = _config(request.POST.get("config"))
    builder = RowBuilder(config, {request.POST.get("job_id"): request.POST.get("acts", "")})
    kind, chosen = _find_action(builder, request.POST.get("action"))
    if kind == "builtin" and chosen.kind != "method":
        return _error(400, "Unknown action.")
    if kind == "custom" and chosen.kind != "callback":
        return _error(400, "Unknown action.")
    job = _job(user, config, request.POST.get("job_id"))
    enabled = chosen.is_enabled(job, config.links) if kind == "builtin" else \
        builder._custom_enabled(chosen, job)
    if not enabled:
        return _error(409, f'"{chosen.label}" is not available for this job '
                           f"(status: {job.cached_status}).")
    job_id = job.pk
    try:
        if kind == "builtin":
            message = perform_builtin(chosen, job)
        else:
            result = chosen.perform(job)
            message = result if isinstance(result, str) else ""
        if type(job).safe_close is not _base_safe_close():
            call(job.safe_close)
    except (JobStateError, NotImplementedError) as exc:
        return _error(409, str(exc) or f'"{chosen.label}" does not apply to this job.')
    except ActionUnavailable:
        return _error(500, f"Unable to {chosen.label.lower()} job {job_id}: this server "
                           "process cannot run this action (see the server log).")
    except EngineUnavailable as exc:
        # The engine did not answer (within its timeout): the job keeps its status; say why.
        logger.warning("Jobs table: %s of job %s: %s", chosen.label, job_id, exc)
        return _error(503, f"Unable to {chosen.label.lower()} job {job_id}: {exc}")
    except Exception:  # noqa: BLE001 - reported to the user, logged with its traceback
        logger.exception("Jobs table: %s of job %s failed", chosen.label, job_id)
        return _error(500, f"Unable to {chosen.label.lower()} job {job_id}.")
    fresh = table_jobs(user, config).filter(pk=job_id).select_subclasses().first()
    if fresh is None:
        return JsonResponse({"success": True, "removed": True, "message": message})
    builder.prepare([fresh])
    return JsonResponse({"success": True, "message": message, **_row_answer(builder, fresh)})


def _base_safe_close():
    from ..models import TethysJob

    return TethysJob.safe_close


# --- logs ------------------------------------------------------------------------------------
def _logs_job(request):
    user = _user(request)
    config = _config(request.GET.get("config"))
    if "logs" not in config.actions:
        raise Refused(400, "This table does not show logs.")
    job = _job(user, config, request.GET.get("job_id"))
    if not BUILTIN_ACTIONS["logs"].is_enabled(job):
        raise Refused(409, f"No logs yet (status: {job.cached_status}).")
    try:
        logs = call(job.get_logs)
    except Exception:  # noqa: BLE001 - an engine failure is shown as a message
        logger.exception("Jobs table: reading the logs of job %s failed", job.pk)
        raise Refused(500, f"Unable to read the logs of job {job.pk}.") from None
    return config, job, logs


def _log_path(request):
    try:
        path = json.loads(request.GET.get("path") or "null")
    except (ValueError, RecursionError):
        raise Refused(400, "Malformed log path.") from None
    if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
        raise Refused(400, "Malformed log path.")
    return path


def _download_url(request, job, path):
    query = urlencode({"config": request.GET.get("config"), "job_id": job.pk,
                       "path": json.dumps(path)})
    return f"{reverse('jobs_table_log_download')}?{query}"


@endpoint
@require_GET
def logs(request):
    """The names of a job's logs (``config``, ``job_id``): ``{"success", "name", "logs":
    [entries], "names"}`` (see :func:`.logs.tree`), each leaf with its ``download`` URL;
    ``names`` is the digest of the names (:func:`.logs.names`)."""
    config, job, data = _logs_job(request)
    entries = log_tools.tree(data)
    stack = list(entries)
    while stack:
        entry = stack.pop()
        stack.extend(entry.get("children", ()))
        if "children" not in entry:
            entry["download"] = _download_url(request, job, entry["path"])
    return JsonResponse({"success": True, "name": job.name, "logs": entries,
                         "names": log_tools.names(data)})


@endpoint
@require_GET
def log_content(request):
    """One log's text (``config``, ``job_id``, ``path`` as a JSON list of keys), cut to
    ``JOBS_TABLE_LOG_MAX_BYTES``: ``{"success", "content", "truncated", "size", "offset",
    "download"}`` (``offset``: where following the log starts, see :mod:`.follow`)."""
    path = _log_path(request)
    config, job, data = _logs_job(request)
    try:
        answer = log_tools.content(data, path)
    except log_tools.NoSuchLog:
        return _error(404, "No such log.")
    except Exception:  # noqa: BLE001 - a failing lazy read is shown as a message
        logger.exception("Jobs table: reading log %s of job %s failed", path, job.pk)
        return _error(500, f"Unable to read this log of job {job.pk}.")
    return JsonResponse({"success": True, **answer, "download": _download_url(request, job, path)})


@endpoint
@require_GET
def log_download(request):
    """One log's whole text as a ``text/plain`` attachment; a log file is streamed
    (its size when opened), so a huge log costs no memory."""
    path = _log_path(request)
    config, job, data = _logs_job(request)
    try:
        body, size = log_tools.download(data, path)
    except log_tools.NoSuchLog:
        return _error(404, "No such log.")
    except Exception:  # noqa: BLE001
        logger.exception("Jobs table: reading log %s of job %s failed", path, job.pk)
        return _error(500, f"Unable to read this log of job {job.pk}.")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(path))[:100] or "log"
    if isinstance(body, bytes):
        response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    else:  # a log file: streamed, never held whole in memory
        response = StreamingHttpResponse(body, content_type="text/plain; charset=utf-8")
        response["Content-Length"] = str(size)
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-{name}.log"'
    return response
