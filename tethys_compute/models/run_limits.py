"""Runs that went on too long or went silent (issue 15 items 1 and 4).

* **Walltime.** ``max_run_time`` (seconds) limits one run. HTCondor enforces it itself:
  a ``CondorJob``'s submit description carries ``allowed_execute_duration`` (HTCondor
  manual, "condor_submit": the job is held once it has executed that long), and the hold
  becomes a ``walltime`` failure on the HTCondor side. Other jobs (Dask, Basic, an app's
  own classes) are stopped by the monitor: :func:`stop_overdue_runs` finds runs started
  more than ``max_run_time`` seconds ago, records a ``walltime`` failure through
  ``run_failed`` (the retry policy decides what follows) and then stops the engine's
  work (``_stop_overdue_run``: a Dask task is cancelled).
* **Silent BasicJob reporters.** With ``BASIC_JOB_SILENT_AFTER`` set, a Submitted or
  Running ``BasicJob`` that has had neither a status change nor a progress report for
  that many seconds failed with kind ``lost``.

A run's start is its ``start_time`` (when it was first seen running).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db.models import BooleanField, F, Func, Q, Value
from django.utils import timezone

from .. import failure_kinds as fk
from .. import status as st
from ..conf import get_config

logger = logging.getLogger("tethys_compute.jobs")

#: Statuses of a run that is under way.
RUNNING_CODES = (st.RUNNING, st.VARIOUS)


def _enforced_by_engine(job) -> bool:
    return bool(getattr(type(job), "ENGINE_ENFORCES_MAX_RUN_TIME", False))


class OverLimit(Func):
    """True for a run started more than ``max_run_time`` seconds before ``now``: the
    walltime test in SQL, so only overdue runs are loaded. SQLite (datetimes stored as
    text): ``(julianday(now) - julianday(start_time)) * 86400 > max_run_time``;
    PostgreSQL: ``start_time + max_run_time * INTERVAL '1 second' < now``; another
    database only tests ``start_time < now`` and leaves the rest to :func:`_check`."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, now):
        super().__init__(F("start_time"), F("max_run_time"), Value(now))

    def as_sql(self, compiler, connection, *args, **kwargs):
        (start, start_params), (limit, limit_params), (now, now_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions())
        if connection.vendor == "sqlite":
            return (f"((julianday({now}) - julianday({start})) * 86400.0 > {limit})",
                    [*now_params, *start_params, *limit_params])
        if connection.vendor == "postgresql":
            return (f"({start} + {limit} * INTERVAL '1 second' < {now})",
                    [*start_params, *limit_params, *now_params])
        return f"({start} < {now})", [*start_params, *now_params]


def _enforcing_paths() -> list[str]:
    """Lookup paths (``condorbase__condorjob``) from ``TethysJob`` to the job classes
    whose engine enforces ``max_run_time`` itself, as do all their subclasses: the
    walltime test leaves their rows out in SQL. (:func:`_check` still asks each job.)"""
    from .tethys_job import TethysJob

    def enforced(model):
        stack = [model]
        while stack:
            klass = stack.pop()
            if not getattr(klass, "ENGINE_ENFORCES_MAX_RUN_TIME", False):
                return False
            stack.extend(klass.__subclasses__())
        return True

    paths: list[str] = []
    for path in sorted(TethysJob.objects.all()._get_subclasses_recurse(TethysJob), key=len):
        if any(path.startswith(f"{done}__") for done in paths):
            continue
        model: Any = TethysJob
        for part in path.split("__"):
            model = model._meta.get_field(part).related_model
        if enforced(model):
            paths.append(path)
    return paths


def overdue_candidates(now, label=None):
    """Jobs the step looks at, in one query: running for longer than their
    ``max_run_time`` (the time is tested in SQL, and jobs whose engine enforces the limit
    are left out), and (when ``BASIC_JOB_SILENT_AFTER`` is set) active jobs not heard of
    since then."""
    from .tethys_job import TethysJob

    condition = Q(OverLimit(now), max_run_time__isnull=False, start_time__isnull=False,
                  _status__in=RUNNING_CODES)
    for path in _enforcing_paths():  # HTCondor holds its own jobs at the limit
        condition &= Q(**{f"{path}__isnull": True})
    silent = get_config()["BASIC_JOB_SILENT_AFTER"]
    if silent:
        since = now - timedelta(seconds=silent)
        condition |= Q(basicjob__isnull=False, _status__in=(st.SUBMITTED, *RUNNING_CODES),
                       _last_status_update__lt=since) & (
            Q(progress_reported_at__isnull=True) | Q(progress_reported_at__lt=since))
    jobs = TethysJob.objects.filter(condition)
    return jobs.filter(label=label) if label else jobs


def stop_overdue_runs(label=None, *, now=None, limit=None) -> int:
    """Fail the runs over their ``max_run_time`` (kind ``walltime``) and the silent
    BasicJob runs (kind ``lost``), each through ``run_failed``; a walltime run's engine
    work is then stopped. One query finds them (at most ``limit``, default
    ``MONITOR_BATCH_SIZE``, the oldest runs first); jobs whose engine enforces the limit
    itself (HTCondor) are left to it. The events of the failed runs read their owners'
    notification preferences in one query.

    :returns: the number of runs failed.
    """
    now = now or timezone.now()
    limit = limit or get_config()["MONITOR_BATCH_SIZE"]
    from ..notifications import batch_preferences

    jobs = list(overdue_candidates(now, label).order_by("start_time", "pk")[:limit]
                .select_subclasses())
    failed = 0
    # The failed (or retried) events of these runs read their owners' notification
    # preferences in one query, not one per job.
    with batch_preferences({job.user_id for job in jobs}):
        for job in jobs:
            try:
                failed += _check(job, now)
            except Exception:  # noqa: BLE001 - one job must not stop the others
                logger.exception("Job %s: stopping its overdue run failed", job.pk)
    return failed


def _check(job, now) -> int:
    limit = job.max_run_time
    if limit and job.start_time and job._status in RUNNING_CODES \
            and not _enforced_by_engine(job):
        ran = (now - job.start_time).total_seconds()
        if ran > limit:
            failure = fk.Failure(
                fk.WALLTIME,
                f"stopped after {round(ran)} s: over its run time limit of {limit} s",
                {"max_run_time": limit, "run_seconds": round(ran)})
            return _fail(job, failure, stop=True)
    silent = get_config()["BASIC_JOB_SILENT_AFTER"]
    if silent and _is_basic(job) and job._status in (st.SUBMITTED, *RUNNING_CODES):
        heard = max((t for t in (job._last_status_update, job.progress_reported_at)
                     if t is not None), default=now)
        quiet = (now - heard).total_seconds()
        if quiet > silent:
            failure = fk.Failure(
                fk.LOST, f"no status or progress report for {round(quiet)} s "
                f"(BASIC_JOB_SILENT_AFTER is {silent} s)",
                {"silent_seconds": round(quiet)})
            return _fail(job, failure, stop=False)
    return 0


def _is_basic(job) -> bool:
    from .basic_job import BasicJob

    return isinstance(job, BasicJob)


def _fail(job, failure, *, stop) -> int:
    attempt = job.attempt
    if not job.run_failed(failure):
        return 0
    if stop:
        try:
            job._stop_overdue_run(attempt)
        except Exception:  # noqa: BLE001 - the failure is recorded; the work may linger
            logger.exception("Job %s: stopping run %s over its run time failed",
                             job.pk, attempt)
    return 1
