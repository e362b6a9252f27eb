"""What a job's runs used (issue 15, item 6): ``job.usage``.

Each engine reports a run's usage while refreshing its status, from the answer it
already has (no extra engine call): HTCondor from the job ads of the batched
``condor_q``/``condor_history`` query, Dask from the task's run time and the worker's
memory. A run's figures are kept under its ``attempt`` and the totals over all runs in
scalar columns (so totals over many jobs are one SQL aggregate):

``wall_seconds``
    wall-clock seconds the run's processes ran (HTCondor ``RemoteWallClockTime``, summed
    over procs and DAG nodes; Dask: the task's run time);
``cpu_seconds``
    CPU seconds, user and system (``RemoteUserCpu + RemoteSysCpu``);
``peak_memory_mb``
    the largest memory one process (proc, node, task's worker) used, MB
    (``MemoryUsage``; Dask: the peak memory of the worker process that ran the task);
``requested_memory_mb``, ``requested_cpus``
    what one process asked for (``RequestMemory``, ``RequestCpus``);
``disk_kb``
    the largest disk one process used, KiB (``DiskUsage``).

A figure the engine did not report is ``None``. Totals: seconds summed over runs, the
others the largest of any run.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models

from .job_part import JobPart

FIGURES = ("wall_seconds", "cpu_seconds", "peak_memory_mb", "requested_memory_mb",
           "requested_cpus", "disk_kb")
SUMMED = ("wall_seconds", "cpu_seconds")
#: Total column of each figure.
COLUMNS = {name: f"usage_{name}" for name in FIGURES}


def total_of(attempts: dict) -> dict[str, Any]:
    """The totals of per-attempt figures (see the module)."""
    total: dict[str, Any] = {}
    for name in FIGURES:
        values = [run.get(name) for run in attempts.values() if run.get(name) is not None]
        if not values:
            total[name] = None
        elif name in SUMMED:
            total[name] = round(sum(values), 3)
        else:
            total[name] = max(values)
    return total


class JobUsage(JobPart, models.Model):
    """The usage fields of ``TethysJob``; read them through :attr:`usage`."""

    #: ``{"<attempt>": {figure: value}}`` of every run that reported usage.
    usage_attempts = models.JSONField(blank=True, null=True)
    usage_wall_seconds = models.FloatField(blank=True, null=True)
    usage_cpu_seconds = models.FloatField(blank=True, null=True)
    usage_peak_memory_mb = models.PositiveIntegerField(blank=True, null=True)
    usage_requested_memory_mb = models.PositiveIntegerField(blank=True, null=True)
    usage_requested_cpus = models.PositiveIntegerField(blank=True, null=True)
    usage_disk_kb = models.PositiveBigIntegerField(blank=True, null=True)

    class Meta:
        abstract = True

    @property
    def usage(self) -> dict[str, Any]:
        """``{"total": {figure: value}, "attempts": {"1": {...}, ...}}`` (figures and
        units in :mod:`tethys_compute.models.usage`); empty figures before any run
        reported usage. Never contacts an engine."""
        attempts = dict(self.usage_attempts or {})
        total = {name: getattr(self, COLUMNS[name]) for name in FIGURES}
        return {"total": total, "attempts": attempts}

    def record_usage(self, figures: dict[str, Any] | None, attempt: int | None = None,
                     *, with_next_status: bool = False) -> bool:
        """Store run ``attempt``'s usage (default: the current run) and the new totals,
        when they changed; fenced to the run (a report about another run than the job's
        current one is ignored). One UPDATE.

        :param figures: ``{figure: number or None}`` (see the module); ``None``: nothing.
        :param with_next_status: the caller is about to change this run's status: the
            figures are written by that status change's own UPDATE (the same fence),
            not by one of their own. Dropped if that write does not happen (the row
            moved on: whoever moved it recorded the run's usage).
        :returns: True when something was written (or, with ``with_next_status``, will
            be).
        """
        if not figures or self.pk is None:
            return False
        attempt = self.attempt if attempt is None else attempt
        if attempt != self.attempt or attempt < 1:
            return False
        key = str(attempt)
        run = {name: figures.get(name) for name in FIGURES}
        attempts = dict(self.usage_attempts or {})
        if attempts.get(key) == run:
            return False
        attempts[key] = run
        values: dict[str, Any] = {"usage_attempts": attempts}
        for name, value in total_of(attempts).items():
            values[COLUMNS[name]] = value
        if with_next_status:
            self.__dict__["_status_extra"] = (attempt, values)
            return True
        from .tethys_job import TethysJob

        if not TethysJob._base_manager.filter(pk=self.pk, attempt=attempt).update(**values):
            return False
        for name, value in values.items():
            setattr(self, name, value)
        self._take_snapshot(set(values))
        return True


#: Groupings of :func:`usage_totals`.
GROUPINGS = ("user", "app")
_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhmw])\s*$", re.I)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_period(text: str):
    """``"30d"``, ``"12h"``, ``"90m"``, ``"2w"`` as a ``timedelta``.

    :raises ValueError: naming the accepted forms.
    """
    from datetime import timedelta

    match = _PERIOD.match(str(text or ""))
    if not match or float(match.group(1)) <= 0 or float(match.group(1)) > 36500 * 86400:
        raise ValueError(f"A period is a positive number with a unit: 90m, 12h, 30d or 2w; "
                         f"not {text!r}.")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def usage_totals(by: str = "user", since=None, jobs=None) -> list[dict[str, Any]]:
    """Usage totals per user or per app over the jobs created since ``since``: one SQL
    aggregate over the total columns.

    :param by: ``"user"`` (the owner's user name) or ``"app"`` (the job's label).
    :param since: a ``datetime``; ``None``: every job.
    :param jobs: a ``TethysJob`` queryset to start from (default: all jobs).
    :returns: one dict per user or app, largest wall time first: ``{"user"|"app",
        "jobs", "measured_jobs", "wall_seconds", "cpu_seconds", "peak_memory_mb",
        "requested_memory_mb", "disk_kb"}`` (seconds summed; memory and disk the largest
        of one job).
    :raises ValueError: an unknown ``by``.
    """
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Max, Sum

    from .tethys_job import TethysJob

    if by not in GROUPINGS:
        raise ValueError(f"Usage totals are by {' or '.join(GROUPINGS)}, not {by!r}.")
    key = f"user__{get_user_model().USERNAME_FIELD}" if by == "user" else "label"
    query = TethysJob.objects.all() if jobs is None else jobs
    if since is not None:
        query = query.filter(creation_time__gte=since)
    rows = (query.values(key).annotate(
        jobs=Count("pk"), measured_jobs=Count("usage_wall_seconds"),
        wall_seconds=Sum("usage_wall_seconds"), cpu_seconds=Sum("usage_cpu_seconds"),
        peak_memory_mb=Max("usage_peak_memory_mb"),
        requested_memory_mb=Max("usage_requested_memory_mb"),
        disk_kb=Max("usage_disk_kb")).order_by())
    result = []
    for row in rows:
        entry = {by: row.pop(key), **row}
        for name in SUMMED:
            entry[name] = round(entry[name] or 0.0, 3)
        result.append(entry)
    result.sort(key=lambda e: (-e["wall_seconds"], str(e[by])))
    return result
