"""The ``TETHYS_COMPUTE`` settings dict: defaults, merged view and cache reset.

Projects set only the keys they want to change::

    TETHYS_COMPUTE = {"UPDATE_STATUS_INTERVAL": 30}

Read settings with :func:`get_config`; the merged dict is cached and rebuilt when
``TETHYS_COMPUTE`` or ``TETHYS_WORKSPACES_ROOT`` change (``override_settings`` in tests).
Every key is documented in ``docs/settings.rst``.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .failure_kinds import DEFAULT_RETRYABLE

#: Defaults of every key. Times are in seconds.
DEFAULTS: dict = {
    # Root of all job directories. None: Tethys's TETHYS_WORKSPACES_ROOT setting when set,
    # otherwise <BASE_DIR>/workspaces (or ./workspaces without BASE_DIR).
    "WORKSPACES_ROOT": None,
    # Minimum seconds between two engine queries for one job (Tethys: 10 s).
    "UPDATE_STATUS_INTERVAL": 10,
    # Seconds a status-report token stays valid (Tethys: 30 days).
    "STATUS_REPORT_MAX_AGE": 30 * 24 * 3600,
    # Seconds a result-processing claim holds before another process may retry it.
    "RESULTS_LEASE": 600,
    # Seconds resubmit() waits for the previous run's result processing (still going on)
    # to end before it gives up with JobStateError.
    "RESUBMIT_WAIT": 10,
    # Engines the project means to use ("condor", "dask"); a listed engine whose Python
    # package is missing is reported by `manage.py check` (tethys_compute.E003).
    "ENGINES": [],
    # Fernet keys (newest first) for scheduler secrets; empty: derived from SECRET_KEY
    # and SECRET_KEY_FALLBACKS.
    "SECRET_KEYS": [],
    # Dotted paths of TethysAppBase subclasses to register besides those found in the
    # `app` modules of INSTALLED_APPS.
    "APPS": [],
    # --- status callbacks and the monitor (issue 5) -------------------------------------
    # Seconds an update-job-status request waits for the refresh it started; past that it
    # answers anyway and the refresh finishes in the background.
    "CALLBACK_REFRESH_TIMEOUT": 2,
    # Refreshes that update-job-status requests may run at once in one process; further
    # requests are handed to the monitor (stored as a due refresh request).
    "CALLBACK_REFRESH_WORKERS": 4,
    # Largest ?delay= of update-job-status, in seconds; longer delays are cut to it.
    "CALLBACK_MAX_DELAY": 3600,
    # Seconds between two monitor cycles (`tethys_compute_monitor --interval`).
    "MONITOR_INTERVAL": 10,
    # Seconds a monitor (or any batch refresh) holds its lease on the jobs it refreshes,
    # renewed every third of it while the refresh runs; a crashed holder's jobs are taken
    # over once it runs out.
    "MONITOR_LEASE": 15,
    # Most jobs one monitor cycle claims (the stalest first).
    "MONITOR_BATCH_SIZE": 2000,
    # Seconds a job may stay unknown to its engine (no longer in condor_q/condor_history,
    # no task with its key on the Dask scheduler) before it is moved to Error.
    "LOST_JOB_GRACE": 300,
    # --- jobs table (tethys_compute.jobs_table) ---
    # Let visitors who are not logged in use jobs tables. Each visitor's session gets its
    # own "shadow" user with an unusable password, created on demand by
    # tethys_compute.jobs_table.get_jobs_user, so visitors never see each other's jobs.
    "JOBS_TABLE_ALLOW_ANONYMOUS": False,
    # Most jobs one poll of a table refreshes from their engines (the stalest first);
    # the rest wait for the next poll or the monitor.
    "JOBS_TABLE_REFRESH_BATCH": 20,
    # Seconds a poll waits for the engine refreshes it started (each in a thread, one per
    # scheduler at a time across processes); slower ones finish in the background.
    "JOBS_TABLE_REFRESH_BUDGET": 2.0,
    # Most rows one poll request may ask about.
    "JOBS_TABLE_POLL_MAX_ROWS": 5000,
    # Log text longer than this many bytes is shown truncated (its last part) with a
    # link to download the whole log.
    "JOBS_TABLE_LOG_MAX_BYTES": 256 * 1024,
    # --- counts and search at scale (tethys_compute/bounded.py; the admin and the table) ---
    # Most jobs a page counts: past it, it says "more than COUNT_LIMIT" and pages through
    # the first COUNT_LIMIT jobs only.
    "COUNT_LIMIT": 10_000,
    # A search finds a job by its id or the start of its name among all jobs, and by any
    # part of its name or description among the query's newest SEARCH_WINDOW jobs.
    "SEARCH_WINDOW": 10_000,
    # HTCondor (engines/condor). Jobs with no scheduler, or a local CondorScheduler, use
    # this machine's HTCondor: "cli" (condor_* tools on PATH) or "htcondor2" (bindings).
    "CONDOR_LOCAL_TRANSPORT": "cli",
    # For "htcondor2": dotted path of a callable returning the Schedd (None: htcondor2.Schedd).
    "CONDOR_SCHEDD_FACTORY": None,
    # known_hosts file checked for remote submit hosts (None: ~/.ssh/known_hosts).
    "CONDOR_SSH_KNOWN_HOSTS": None,
    # Unknown SSH host keys: "reject" (refuse), "warn" (accept, log), "auto-add" (accept and
    # remember in CONDOR_SSH_KNOWN_HOSTS). A changed host key is always refused.
    "CONDOR_SSH_HOST_KEY_POLICY": "reject",
    # Seconds to connect and log in to a submit host.
    "CONDOR_SSH_TIMEOUT": 30,
    # Seconds an HTCondor command (condor_submit, condor_q...) may run.
    "CONDOR_COMMAND_TIMEOUT": 120,
    # HTCondor accounting group (`accounting_group`) of jobs without a scheduler; a
    # CondorScheduler's own `accounting_group` counts for its jobs. None: none.
    "CONDOR_ACCOUNTING_GROUP": None,
    # Most active jobs one portal user may have at once (None: no limit); an app's
    # TethysAppBase.max_active_jobs_per_user replaces it for the app's jobs. A job
    # executed over it waits, Pending, for the monitor to start it (models/quotas.py).
    "MAX_ACTIVE_JOBS_PER_USER": None,
    # --- Dask jobs ---
    # Minimum seconds between two scheduler queries for one Dask job (Tethys: 0; a query
    # is one cheap scheduler call).
    "DASK_UPDATE_STATUS_INTERVAL": 0,
    # Seconds to connect to a Dask scheduler (handshake included) and for each scheduler
    # call, for schedulers whose `timeout` is 0 (Tethys: distributed's 30 s).
    "DASK_TIMEOUT": 10,
    # Seconds a scheduler that could not be reached (or did not answer in time) is
    # remembered as failed: meanwhile its jobs' engine calls fail at once (0: never).
    "ENGINE_FAILURE_MEMORY": 15,
    # Seconds to wait when gathering a finished Dask job's result.
    "DASK_RESULT_TIMEOUT": 60,
    # Dotted path of a serializer for Dask results that are not JSON-able (None: JSON
    # only). See tethys_compute.models.dask.serializers.
    "DASK_RESULT_SERIALIZER": None,
    # Seconds since its last status check before a tokenless update-dask-job-status call
    # (Tethys's own plugin sends no token) may re-check a job from its scheduler.
    "DASK_CALLBACK_MIN_INTERVAL": 1,
    # --- failed runs and retries (models/retries.py, docs/resilience.rst) ---
    # Runs of one series (first run plus automatic retries) a job gets unless it sets
    # max_attempts; 1: no automatic retry (Tethys's behaviour).
    "MAX_ATTEMPTS": 1,
    # Seconds before the first retry unless a job sets retry_delay; doubled for each
    # further retry of the series.
    "RETRY_DELAY": 60,
    # Longest wait between two attempts, in seconds (the cap of the doubling).
    "RETRY_DELAY_CAP": 3600,
    # Failure kinds retried unless a job sets retry_on ("exit" only when asked).
    "RETRY_ON": sorted(DEFAULT_RETRYABLE),
    # Most memory (MB) an automatic retry after a memory failure may ask for (the next
    # attempt asks max(2 x request, 1.2 x measured use)); None: no cap but the
    # scheduler's own (CondorScheduler.max_request_memory). See tethys_compute/escalation.py.
    "MAX_REQUEST_MEMORY": None,
    # Name of the Dask worker resource that means memory (bytes, as in `dask worker
    # --resources MEMORY=4e9`): a Dask task annotated with it asks for more after a memory
    # failure. See tethys_compute/engines/dask/resources.py.
    "DASK_MEMORY_RESOURCE": "MEMORY",
    # Seconds without a status change or progress report after which an active BasicJob
    # counts as lost (its reporter went silent); None: never.
    "BASIC_JOB_SILENT_AFTER": None,
    # --- notifications (tethys_compute.notifications; docs/notifications.rst) ---
    # Default absence thresholds of jobs that opt in without naming their own (None: off).
    "NOTIFY_NO_PROGRESS_MINUTES": None,
    "NOTIFY_WAITING_HOURS": None,
    # Sender address of notification emails (None: DEFAULT_FROM_EMAIL).
    "NOTIFY_FROM_EMAIL": None,
    # Links back to a job: NOTIFY_JOB_URL, a format string with {id} and {label} (None:
    # the job's admin page); a path is joined to NOTIFY_BASE_URL ("https://host"; None:
    # https:// and the current Site's domain when django.contrib.sites is installed).
    "NOTIFY_JOB_URL": None,
    "NOTIFY_BASE_URL": None,
    # HMAC-SHA256 key of webhook signatures, and named per-endpoint keys
    # ({"name": "key"}) a webhook channel may choose with {"url": ..., "secret": "name"}.
    "NOTIFY_WEBHOOK_SECRET": None,
    "NOTIFY_WEBHOOK_SECRETS": {},
    # Hosts webhooks may go to (None: any): exact names, or ".example.org" for the domain
    # and its subdomains. Checked when a spec is given and again before each send.
    "NOTIFY_WEBHOOK_ALLOWED_HOSTS": None,
    # Let webhooks go to hosts that resolve to non-public addresses (loopback, private
    # networks, link-local such as cloud metadata). Off: such deliveries fail, recorded.
    "NOTIFY_WEBHOOK_ALLOW_PRIVATE": False,
    # Seconds a webhook request may wait to connect and for each read.
    "NOTIFY_WEBHOOK_TIMEOUT": 5,
    # Tries per delivery (email or webhook); retries wait NOTIFY_RETRY_DELAY seconds,
    # doubled each time, at most NOTIFY_RETRY_MAX_DELAY.
    "NOTIFY_MAX_TRIES": 6,
    "NOTIFY_RETRY_DELAY": 30,
    "NOTIFY_RETRY_MAX_DELAY": 3600,
    # At most this many notifications per user per NOTIFY_RATE_PERIOD seconds; the excess
    # is dropped and recorded (state "dropped"). 0 or None: no limit.
    "NOTIFY_RATE_LIMIT": 30,
    "NOTIFY_RATE_PERIOD": 3600,
    # Most events and deliveries one monitor step handles, the seconds it may spend
    # sending, and how long a claimed delivery is reserved for the process sending it.
    "NOTIFY_BATCH_SIZE": 100,
    "NOTIFY_STEP_BUDGET": 30,
    "NOTIFY_CLAIM_SECONDS": 300,
    # Bytes of a Dask function's stdout and of its stderr kept (each: its first and last
    # halves); 0 turns the capture off (docs/engines.rst, "A Dask job's own output").
    "DASK_OUTPUT_MAX_BYTES": 1024 * 1024,
}

SETTING_NAMES = ("TETHYS_COMPUTE", "TETHYS_WORKSPACES_ROOT")


@cache
def get_config() -> dict:
    """Return the merged settings dict (defaults updated with the project's values)."""
    user = getattr(settings, "TETHYS_COMPUTE", None) or {}
    config = dict(DEFAULTS)
    config.update(user)
    return config


def workspaces_root() -> Path:
    """Return the directory under which every job directory lives (absolute ``Path``)."""
    root = get_config()["WORKSPACES_ROOT"] or getattr(settings, "TETHYS_WORKSPACES_ROOT", None)
    if not root:
        base = getattr(settings, "BASE_DIR", None)
        root = Path(base) / "workspaces" if base else Path.cwd() / "workspaces"
    return _resolved(str(root))


@lru_cache(maxsize=32)
def _resolved(root: str) -> Path:
    """``Path(root).resolve()``, worked out once per configured root (it reads every
    component of the path: a few system calls for each new job otherwise)."""
    return Path(root).resolve()


@receiver(setting_changed)
def _reset_config(*, setting, **kwargs):
    if setting in SETTING_NAMES:
        get_config.cache_clear()
