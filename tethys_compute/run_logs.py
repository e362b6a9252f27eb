"""Each run's logs kept (issue 15 item 2): a retried or resubmitted job shows its earlier
runs' logs beside the current run's.

When a new run starts (``TethysJob._start_new_run``: ``resubmit()`` or a retry started by
the monitor), :func:`keep` moves the ending run's log files out of the way, into
``<workspace>/runs/<attempt>/`` (same relative paths), and writes there ``logs.json``:
the run's log names (nested as ``get_logs()`` gives them) mapped to those paths. A Dask
job's output already lies per task key (``<workspace>/dask_output/<key>/``, see
:mod:`tethys_compute.models.dask.dask_output`): only its key is recorded.

:func:`earlier_runs` gives ``{"Run 1": {"stdout": LogFile, ...}, ...}``, which
``get_logs()`` adds after the current run's keys (unchanged, as Tethys names them); the
jobs table's logs dialog shows each run as a group. Every file is read through
:func:`tethys_compute.log_files.open_within`, confined to the job's directory like the
current run's logs (a symlink or ``../`` path in ``runs/`` is "not available").

Only the job's local directory is handled: a remote HTCondor job's files on its submit
host are overwritten by the next run there (its local copies, fetched when a run ends,
are kept).
"""

from __future__ import annotations

import json
import logging
import os
import re

from .log_files import (
    LogFile,
    LogNotAvailable,
    OutsideDirectory,
    inside,
    listdir_within,
    open_within,
)

logger = logging.getLogger("tethys_compute.jobs")

#: The directory, in the job's directory, holding one directory per earlier run.
RUNS_DIR = "runs"
MANIFEST = "logs.json"
#: Earlier runs shown at most (the latest ones).
MAX_RUNS_SHOWN = 20


def run_label(attempt: int) -> str:
    """``"Run 3"``: the ``get_logs()`` key of run ``attempt``."""
    return f"Run {attempt}"


def keep(job, attempt: int) -> None:
    """Keep run ``attempt``'s logs before the job's next run writes its own: move each
    local log file ``job._run_log_files()`` names into ``runs/<attempt>/`` and record
    them (and ``job._run_log_extra()``, e.g. a Dask key) in its ``logs.json``. Never
    raises: a log that cannot be moved is left in place (logged)."""
    try:
        _keep(job, attempt)
    except Exception:  # noqa: BLE001 - keeping old logs must never stop the new run
        logger.exception("Job %s: keeping the logs of run %s failed", job.pk, attempt)


def keep_deferred(job) -> None:
    """:func:`keep` the run a job put off keeping (``job.__dict__["_logs_to_keep"]``:
    HTCondor keeps a run's logs once its cluster was removed), if any."""
    attempt = job.__dict__.pop("_logs_to_keep", None)
    if attempt is not None:
        keep(job, attempt)


def _keep(job, attempt):
    workspace = job.workspace
    if not workspace or not os.path.isdir(workspace):
        return
    root = os.path.realpath(workspace)
    target_dir = os.path.join(root, RUNS_DIR, str(int(attempt)))
    moved = _move_tree(root, target_dir, getattr(job, "_run_log_files", dict)())
    extra = getattr(job, "_run_log_extra", dict)()
    if not moved and not extra:
        return
    os.makedirs(target_dir, exist_ok=True)
    with open(os.path.join(target_dir, MANIFEST), "w", encoding="utf-8") as handle:
        json.dump({"logs": moved, **extra}, handle)


def _move_tree(root, target_dir, spec):
    """Move the files named in the nested dict ``spec`` (relative paths; a 1-tuple
    ``(path,)`` names a file the next run does not overwrite, recorded where it is);
    returns the same nesting with the paths relative to ``target_dir``."""
    moved = {}
    for name, value in (spec or {}).items():
        if isinstance(value, dict):
            inner = _move_tree(root, target_dir, value)
            if inner:
                moved[name] = inner
            continue
        in_place = isinstance(value, tuple)  # (path,): a per-run name, not moved
        value = value[0] if in_place else value
        if not value:
            continue
        source = os.path.realpath(os.path.join(root, value))
        relative = os.path.relpath(source, root)
        if (not inside(root, source) or os.path.islink(os.path.join(root, value))
                or not os.path.isfile(source) or relative.split(os.sep)[0] == RUNS_DIR):
            continue
        if in_place:  # recorded where it is (still inside the job's directory)
            moved[name] = os.path.relpath(source, target_dir)
            continue
        destination = os.path.join(target_dir, relative)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        os.replace(source, destination)
        moved[name] = relative
    return moved


def earlier_runs(job) -> dict:
    """``{"Run N": {name: log, ...}}`` for the job's earlier runs kept by :func:`keep`,
    oldest first (at most ``MAX_RUNS_SHOWN``, the latest); ``{}`` when there are none.
    Reads only ``runs/*/logs.json``; each log is opened when shown."""
    workspace = job.workspace
    if not workspace:
        return {}
    try:
        names = listdir_within(workspace, RUNS_DIR)
    except (OSError, OutsideDirectory):
        return {}
    attempts = sorted(int(n) for n in names if re.fullmatch(r"\d{1,9}", n)
                      and int(n) != job.attempt)[-MAX_RUNS_SHOWN:]
    runs = {}
    for attempt in attempts:
        base = f"{RUNS_DIR}/{attempt}"
        try:
            handle, _ = open_within(workspace, f"{base}/{MANIFEST}")
            with handle:
                manifest = json.loads(handle.read(1024 * 1024).decode("utf-8"))
        except (OSError, ValueError, OutsideDirectory):
            continue
        if not isinstance(manifest, dict):
            continue
        logs = _files(workspace, base, manifest.get("logs"))
        reader = getattr(job, "_run_logs_from", None)
        if reader is not None:
            logs.update(reader(manifest))
        if logs:
            runs[run_label(attempt)] = logs
    return runs


def _files(workspace, base, spec):
    logs = {}
    for name, value in (spec or {}).items() if isinstance(spec, dict) else ():
        if isinstance(value, dict):
            logs[str(name)] = _files(workspace, base, value)
        elif isinstance(value, str):
            path = f"{base}/{value}"
            logs[str(name)] = LogFile(path, lambda path=path: _open(workspace, path))
    return logs


def _open(workspace, path):
    try:
        return open_within(workspace, path)
    except OutsideDirectory:
        raise LogNotAvailable(f"{path} is not available: logs are read only from inside "
                              "the job's directory.") from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise LogNotAvailable(f"{path} does not exist.") from None
    except OSError as exc:
        raise LogNotAvailable(f"There was an error while reading {path}: {exc}") from None


def with_earlier_runs(job, logs):
    """``logs`` (the current run's, unchanged) followed by :func:`earlier_runs`; a name
    already used by the current run is not replaced."""
    logs = {} if logs is None else logs
    for label, value in earlier_runs(job).items():
        logs.setdefault(label, value)
    return logs


class _TaskOf:
    """A Dask job seen with an earlier run's task ``key`` (what ``dask_output`` reads)."""

    def __init__(self, job, key):
        self.pk, self.workspace, self.key = job.pk, job.workspace, key
        self.scheduler_id = None


def dask_run_logs(job, key) -> dict:
    """``{"Task": text, "stdout": log, "stderr": log}`` of the Dask job's earlier task
    ``key`` from its stored output (no engine call), or ``{}`` when none was stored."""
    from .models.dask import dask_output

    if not isinstance(key, str) or not key or not job.workspace:
        return {}
    base = os.path.realpath(os.path.join(job.workspace, dask_output.DIRNAME))
    if not inside(base, os.path.realpath(os.path.join(base, key))) or \
            os.path.realpath(os.path.join(base, key)) == base:
        return {}
    return dask_output.output_logs(_TaskOf(job, key)) or {}
