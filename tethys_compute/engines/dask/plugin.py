"""Scheduler plugin that reports the task transitions of tethys_compute jobs.

Load it into a scheduler as Tethys's ``tethys_dask_scheduler`` is loaded::

    dask scheduler --preload tethys_compute.engines.dask.plugin \\
        --tethys-host https://portal.example.org

``--tethys-host`` is the URL under which the project mounts ``tethys_compute.urls``. The
scheduler needs tethys_compute importable, but neither Django nor the project's settings:
this module imports only distributed, tornado and the standard library.

What it reports: when ``DaskJob.execute()`` submits a task it annotates it
(``dask.annotate``) with the job's task key and a signed per-job token. For each
transition of such a task to ``processing``, ``no-worker``, ``memory`` or ``erred``, and
for a running task that is released or cancelled, the plugin POSTs to
``<tethys-host>/update-dask-job-status/<key>/`` the form fields ``status``
(``"<start>-<finish>"``, Tethys's format), ``start``, ``finish``, ``exception`` (erred
tasks) and ``cancelled`` (``"1"`` when a client cancelled the task), with the token in an
``Authorization: Bearer`` header (never in the URL, so it stays out of access logs).
Tasks without the annotation (other clients' work) are never reported.

Reports for one key are sent in order; a report of an intermediate state
(``processing``, ``no-worker``, a release) waits ``settle`` seconds and is dropped if a
newer report for the same key supersedes it (a quick task then costs one request, not
two); at most ``max_concurrent`` requests run at once; a report is retried with backoff
on connection errors, 5xx, 425 and 429. Sending never blocks the scheduler's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, urlencode, urlsplit

import click
from distributed.diagnostics.plugin import SchedulerPlugin

logger = logging.getLogger("tethys_compute.dask.plugin")

#: Must equal ``tethys_compute.engines.dask.tasks.ANNOTATION`` (not imported: that module
#: needs Django).
ANNOTATION = "tethys_compute"

_REPORTED = frozenset({"processing", "no-worker", "memory", "erred"})
_ACTIVE = frozenset({"waiting", "queued", "processing", "no-worker"})
_RETRY_CODES = frozenset({425, 429})


class TethysJobStatusPlugin(SchedulerPlugin):
    """Reports the transitions of annotated tasks to a tethys_compute site.

    :param tethys_host: base URL of the site (``http://`` or ``https://``).
    :param scheduler: the scheduler, when adding the plugin to a running scheduler
        (``start()`` sets it otherwise).
    :param request_timeout: seconds per HTTP request.
    :param max_attempts: tries per report (connection errors, 5xx, 425, 429 are retried).
    :param retry_delay: seconds before the first retry, doubled each time.
    :param max_concurrent: HTTP requests in flight at once.
    :param settle: seconds an intermediate report waits for a newer one to supersede it.
    :raises ValueError: if ``tethys_host`` is not an http(s) URL.
    """

    name = "tethys-compute-job-status"

    def __init__(self, tethys_host, scheduler=None, request_timeout=30.0, max_attempts=7,
                 retry_delay=0.1, max_concurrent=8, settle=0.05):
        parts = urlsplit(str(tethys_host or ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"--tethys-host must be an http:// or https:// URL, not {tethys_host!r}."
            )
        self.tethys_host = str(tethys_host).rstrip("/")
        self.scheduler = scheduler
        self.request_timeout = float(request_timeout)
        self.max_attempts = int(max_attempts)
        self.retry_delay = float(retry_delay)
        self.max_concurrent = int(max_concurrent)
        self.settle = float(settle)
        self._tokens: dict[str, str] = {}
        self._latest: dict[str, int] = {}
        self._sequence = 0
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: set[asyncio.Task] = set()
        self._http = None
        #: Count of reports answered, by HTTP status code (599: no answer).
        self.sent: dict[int, int] = {}

    async def start(self, scheduler):
        self.scheduler = scheduler

    async def close(self):
        for task in list(self._pending):
            task.cancel()
        if self._http is not None:
            self._http.close()
            self._http = None

    # --- transitions ---------------------------------------------------------------------
    def transition(self, key, start, finish, *args, stimulus_id=None, **kwargs):
        token = self._tokens.get(key)
        if token is None:
            token = self._token_of(key)
            if token is None:
                return
            self._tokens[key] = token
        if finish == "forgotten":
            self._tokens.pop(key, None)
        cancelled = str(stimulus_id or "").startswith("cancel-key")
        if finish in _REPORTED:
            pass
        elif finish in ("released", "forgotten") and (cancelled or start in _ACTIVE):
            pass
        else:
            return
        fields = {"status": f"{start}-{finish}", "start": start, "finish": finish}
        if cancelled:
            fields["cancelled"] = "1"
        if finish == "erred":
            fields["exception"] = self._exception_text(key)
        self._schedule(key, token, fields)

    def _token_of(self, key):
        ts = self.scheduler.tasks.get(key) if self.scheduler is not None else None
        annotations = getattr(ts, "annotations", None) or {}
        info = annotations.get(ANNOTATION)
        if not isinstance(info, dict) or info.get("key") != key:
            return None
        token = info.get("token")
        return token if isinstance(token, str) and token else None

    def _exception_text(self, key):
        from .scheduler_side import exception_text

        ts = self.scheduler.tasks.get(key)
        text = exception_text(ts, getattr(self.scheduler, "allowed_failures", None)) if ts else None
        return (text or "the task raised an exception")[:2000]

    # --- sending -------------------------------------------------------------------------
    def _schedule(self, key, token, fields):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - transitions run on the scheduler's loop
            logger.warning("No event loop to report %s for %s", fields["status"], key)
            return
        self._sequence += 1
        self._latest[key] = self._sequence
        final = fields["finish"] in ("memory", "erred") or "cancelled" in fields
        task = loop.create_task(self._report(key, token, fields, self._sequence, final))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _client(self):
        if self._http is None:
            from tornado.httpclient import AsyncHTTPClient

            self._http = AsyncHTTPClient(force_instance=True, max_clients=self.max_concurrent)
        return self._http

    def url_for(self, key):
        """The URL reports about ``key`` go to."""
        return f"{self.tethys_host}/update-dask-job-status/{quote(str(key), safe='')}/"

    async def _report(self, key, token, fields, sequence=None, final=True):
        if not final and self.settle > 0:
            await asyncio.sleep(self.settle)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if sequence is not None and self._latest.get(key) != sequence and not final:
                    return None  # superseded by a newer report for this key
                return await self._post(key, token, fields)
        finally:
            if key not in self._tokens and not lock.locked():
                self._locks.pop(key, None)
                if self._latest.get(key) == sequence:
                    self._latest.pop(key, None)

    async def _post(self, key, token, fields):
        from tornado.httpclient import HTTPRequest

        delay = self.retry_delay
        code = 599
        for attempt in range(1, self.max_attempts + 1):
            request = HTTPRequest(
                self.url_for(key),
                method="POST",
                body=urlencode(fields),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                request_timeout=self.request_timeout,
            )
            try:
                response = await self._client().fetch(request, raise_error=False)
                code = response.code
            except Exception as exc:  # noqa: BLE001 - network failure: retried
                logger.debug("Reporting %s for %s failed: %s", fields["status"], key, exc)
                code = 599
            if not (code >= 500 or code in _RETRY_CODES) or attempt == self.max_attempts:
                break
            await asyncio.sleep(delay)
            delay *= 2
        self.sent[code] = self.sent.get(code, 0) + 1
        if code >= 400 and code != 409:
            logger.warning("Report %s for task %s answered %s", fields["status"], key, code)
        return code


@click.command()
@click.option(
    "--tethys-host",
    required=True,
    help="Base URL of the site that mounts tethys_compute.urls, e.g. https://portal.example.org",
)
def dask_setup(scheduler, tethys_host):
    """Preload entry point: ``dask scheduler --preload tethys_compute.engines.dask.plugin
    --tethys-host <url>``."""
    scheduler.add_plugin(TethysJobStatusPlugin(tethys_host, scheduler=scheduler))
    logger.info("tethys_compute job status plugin reports to %s", tethys_host)
