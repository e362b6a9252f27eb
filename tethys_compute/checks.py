"""System checks (``manage.py check``). Ids are stable and listed in ``docs/checks.rst``.

* ``tethys_compute.E001``: ``TETHYS_COMPUTE`` is not a dict.
* ``tethys_compute.W002``: ``TETHYS_COMPUTE`` has a key tethys_compute does not know.
* ``tethys_compute.E003``: an engine listed in ``TETHYS_COMPUTE["ENGINES"]`` has its
  Python package missing.
* ``tethys_compute.E004``: a ``TETHYS_COMPUTE`` time setting is not a positive number,
  or a count setting not a positive whole number (``RETRY_ON`` not a list of failure
  kinds, ``MAX_ACTIVE_JOBS_PER_USER`` neither ``None`` nor a positive whole number).
* ``tethys_compute.E005``: ``TETHYS_COMPUTE["ENGINES"]`` names an unknown engine.
* ``tethys_compute.W006``: a required scheduler setting of an app has no scheduler
  assigned (database check).
* ``tethys_compute.W007``: a scheduler setting has a scheduler of another engine assigned
  (database check).
* ``tethys_compute.E008``: an HTCondor setting has a value it does not take
  (``CONDOR_LOCAL_TRANSPORT``, ``CONDOR_SSH_HOST_KEY_POLICY``), or
  ``CONDOR_SSH_KNOWN_HOSTS`` names a file that does not exist.
* ``tethys_compute.W009``: the jobs' SQLite database runs the rollback journal instead of
  the write-ahead log (database check; the monitor also reports it when it starts).

Database checks read the scheduler settings table, so, as Django does with its own
database checks, they run only for the databases a command names: ``manage.py migrate``
and ``manage.py check --database default`` run them, a plain ``manage.py check`` or
``runserver`` does not (the database may not be reachable when code is checked). The
admin flags the same settings on every visit.
"""

import os
from importlib.util import find_spec

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import connections, router

from .conf import DEFAULTS, get_config

ENGINE_PACKAGES = {
    "condor": ("condorpy", "paramiko"),
    "htcondor": ("condorpy", "paramiko"),
    "dask": ("dask", "distributed"),
}
TIME_SETTINGS = (
    "UPDATE_STATUS_INTERVAL",
    "STATUS_REPORT_MAX_AGE",
    "RESULTS_LEASE",
    "RESUBMIT_WAIT",
    "CALLBACK_REFRESH_TIMEOUT",
    "CALLBACK_MAX_DELAY",
    "MONITOR_INTERVAL",
    "MONITOR_LEASE",
    "LOST_JOB_GRACE",
    "JOBS_TABLE_REFRESH_BUDGET",
    "CONDOR_SSH_TIMEOUT",
    "CONDOR_COMMAND_TIMEOUT",
    "DASK_RESULT_TIMEOUT",
    "DASK_TIMEOUT",
    "RETRY_DELAY_CAP",
)
#: Seconds where 0 is allowed (0: no wait).
NON_NEGATIVE_TIME_SETTINGS = (
    "DASK_UPDATE_STATUS_INTERVAL",
    "DASK_CALLBACK_MIN_INTERVAL",
    "ENGINE_FAILURE_MEMORY",
    "RETRY_DELAY",
)
#: Settings taking one of a few values.
CHOICE_SETTINGS = {
    "CONDOR_LOCAL_TRANSPORT": ("cli", "htcondor2"),
    "CONDOR_SSH_HOST_KEY_POLICY": ("reject", "warn", "auto-add"),
}
COUNT_SETTINGS = (
    "CALLBACK_REFRESH_WORKERS",
    "MONITOR_BATCH_SIZE",
    "JOBS_TABLE_REFRESH_BATCH",
    "JOBS_TABLE_POLL_MAX_ROWS",
    "JOBS_TABLE_LOG_MAX_BYTES",
    "MAX_ATTEMPTS",
    "COUNT_LIMIT",
    "SEARCH_WINDOW",
)


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    raw = getattr(settings, "TETHYS_COMPUTE", None)
    if raw is not None and not isinstance(raw, dict):
        return [
            Error(
                "TETHYS_COMPUTE must be a dict.",
                hint=f"It is a {type(raw).__name__}; see docs/settings.rst.",
                id="tethys_compute.E001",
            )
        ]
    messages = []
    for key in sorted(set(raw or {}) - set(DEFAULTS)):
        messages.append(
            Warning(
                f'TETHYS_COMPUTE has an unknown key "{key}".',
                hint="Check its spelling against docs/settings.rst.",
                id="tethys_compute.W002",
            )
        )
    config = get_config()
    for key in TIME_SETTINGS:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            messages.append(
                Error(
                    f'TETHYS_COMPUTE["{key}"] must be a positive number of seconds, not {value!r}.',
                    id="tethys_compute.E004",
                )
            )
    for key in NON_NEGATIVE_TIME_SETTINGS:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            messages.append(
                Error(
                    f'TETHYS_COMPUTE["{key}"] must be a number of seconds, 0 or more, '
                    f"not {value!r}.",
                    id="tethys_compute.E004",
                )
            )
    for key in COUNT_SETTINGS:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            messages.append(
                Error(
                    f'TETHYS_COMPUTE["{key}"] must be a positive whole number, not {value!r}.',
                    id="tethys_compute.E004",
                )
            )
    messages.extend(_retry_and_quota_messages(config))
    messages.extend(_condor_messages(config))
    engines = config.get("ENGINES") or ()
    if isinstance(engines, str) or not isinstance(engines, (list, tuple)):
        messages.append(
            Error(
                f'TETHYS_COMPUTE["ENGINES"] must be a list of engine names, not {engines!r}.',
                hint='For example ["dask"] or ["condor", "dask"].',
                id="tethys_compute.E005",
            )
        )
        engines = ()
    for engine in engines:
        packages = ENGINE_PACKAGES.get(str(engine).lower())
        if packages is None:
            messages.append(
                Error(
                    f'TETHYS_COMPUTE["ENGINES"] names an unknown engine "{engine}".',
                    hint='Use "condor" or "dask".',
                    id="tethys_compute.E005",
                )
            )
            continue
        missing = [name for name in packages if find_spec(name) is None]
        if missing:
            extra = "condor" if "condorpy" in packages else "dask"
            messages.append(
                Error(
                    f'The "{engine}" engine is configured but {", ".join(missing)} '
                    f"{'is' if len(missing) == 1 else 'are'} not installed.",
                    hint=f"pip install 'tethys-compute[{extra}]'",
                    id="tethys_compute.E003",
                )
            )
    return messages


def _retry_and_quota_messages(config):
    from .failure_kinds import KIND_NAMES

    messages = []
    kinds = config.get("RETRY_ON")
    if not isinstance(kinds, (list, tuple, set, frozenset)) or not all(
            isinstance(kind, str) for kind in kinds):
        messages.append(Error(
            f'TETHYS_COMPUTE["RETRY_ON"] must be a list of failure kinds, not {kinds!r}.',
            hint=f"Some of {sorted(KIND_NAMES)}.", id="tethys_compute.E004"))
    elif set(kinds) - set(KIND_NAMES):
        messages.append(Error(
            f'TETHYS_COMPUTE["RETRY_ON"] has unknown failure kinds '
            f"{sorted(set(kinds) - set(KIND_NAMES))}.",
            hint=f"Some of {sorted(KIND_NAMES)}.", id="tethys_compute.E004"))
    limit = config.get("MAX_ACTIVE_JOBS_PER_USER")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit <= 0):
        messages.append(Error(
            f'TETHYS_COMPUTE["MAX_ACTIVE_JOBS_PER_USER"] must be a positive whole number '
            f"or None (no limit), not {limit!r}.", id="tethys_compute.E004"))
    return messages


def _condor_messages(config):
    messages = []
    for key, choices in CHOICE_SETTINGS.items():
        value = config.get(key)
        if value not in choices:
            messages.append(Error(
                f'TETHYS_COMPUTE["{key}"] must be one of {", ".join(map(repr, choices))}, '
                f"not {value!r}.",
                id="tethys_compute.E008",
            ))
    known_hosts = config.get("CONDOR_SSH_KNOWN_HOSTS")
    if known_hosts and config.get("CONDOR_SSH_HOST_KEY_POLICY") != "auto-add" and not (
        isinstance(known_hosts, str) and os.path.isfile(known_hosts)
    ):
        messages.append(Error(
            f'TETHYS_COMPUTE["CONDOR_SSH_KNOWN_HOSTS"] is {known_hosts!r}, which is not a file.',
            hint="Give the path of a known_hosts file holding your submit hosts' keys "
                 "(ssh-keyscan -p PORT HOST >> FILE).",
            id="tethys_compute.E008",
        ))
    return messages


@register(Tags.database)
def check_scheduler_settings(app_configs=None, databases=None, **kwargs):
    """Warn about required scheduler settings without a scheduler (W006) and settings whose
    scheduler is of another engine (W007), for every app's declared settings."""
    if not databases:
        return []
    from .app_base import registered_apps
    from .models import Scheduler, SchedulerSetting

    alias = router.db_for_read(SchedulerSetting)
    if alias not in databases:
        return []
    tables = connections[alias].introspection.table_names()
    if SchedulerSetting._meta.db_table not in tables:
        return []  # not migrated yet; migrate syncs the settings afterwards
    rows = {
        (row.app_package, row.name): row for row in SchedulerSetting.objects.using(alias)
    }
    assigned = {row.scheduler_service_id for row in rows.values() if row.scheduler_service_id}
    schedulers = {
        s.pk: s
        for s in Scheduler.objects.using(alias).filter(pk__in=assigned).select_subclasses()
    }
    engines = dict(SchedulerSetting.ENGINE_CHOICES)
    articled = {SchedulerSetting.HTCONDOR: "an HTCondor", SchedulerSetting.DASK: "a Dask"}
    messages = []
    for package, app in sorted(registered_apps().items()):
        try:
            declared = list(app().scheduler_settings() or ())
        except Exception:  # noqa: BLE001 - a broken app is reported when it is synced
            continue
        for setting in declared:
            row = rows.get((package, setting.name))
            scheduler = schedulers.get(row.scheduler_service_id) if row else None
            kind = articled.get(setting.engine, f"a {setting.engine}")
            if scheduler is None and setting.required:
                messages.append(
                    Warning(
                        f'The required scheduler setting "{setting.name}" of app "{package}" '
                        "has no scheduler assigned.",
                        hint=f"Assign {kind} scheduler in the admin (Tethys Compute > "
                        "Scheduler settings) or run: manage.py tethys_compute_schedulers "
                        f"link <scheduler> {package}:{setting.name}",
                        obj=f"{package}:{setting.name}",
                        id="tethys_compute.W006",
                    )
                )
            elif scheduler is not None and scheduler.engine != row.engine:
                messages.append(
                    Warning(
                        f'The scheduler setting "{setting.name}" of app "{package}" takes '
                        f"{kind} scheduler, not the "
                        f'{engines.get(scheduler.engine, "unknown")} scheduler "{scheduler.name}".',
                        hint=f"Assign {kind} scheduler to it.",
                        obj=f"{package}:{setting.name}",
                        id="tethys_compute.W007",
                    )
                )
    return messages


#: SQLite's rollback-journal modes (https://sqlite.org/pragma.html#pragma_journal_mode).
ROLLBACK_JOURNAL_MODES = ("delete", "truncate", "persist")


def journal_warning(connection):
    """W009 for ``connection`` (a Django database connection) when it is SQLite running a
    rollback journal, else ``None``. Reads ``PRAGMA journal_mode`` (the connection's
    ``init_command`` has run by then)."""
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = str(cursor.fetchone()[0]).lower()
    if mode not in ROLLBACK_JOURNAL_MODES:
        return None
    return Warning(
        f'The SQLite database "{connection.alias}" runs the rollback journal '
        f'(journal_mode={mode}): the monitor\'s writes block the web server\'s reads, '
        "and every commit costs several disk flushes.",
        hint='Add "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" '
        "to its OPTIONS (see the deployment docs).",
        obj=connection.alias,
        id="tethys_compute.W009",
    )


def jobs_database_alias():
    """The alias of the database that jobs are written to."""
    from .models import TethysJob

    return router.db_for_write(TethysJob)


@register(Tags.database)
def check_sqlite_journal(app_configs=None, databases=None, **kwargs):
    """W009: the jobs' SQLite database runs a rollback journal (see ``journal_warning``)."""
    alias = jobs_database_alias()
    if not databases or alias not in databases:
        return []
    message = journal_warning(connections[alias])
    return [message] if message is not None else []
