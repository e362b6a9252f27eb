"""Module-level result functions used by tests (process_results_function)."""

import os
import time


def record_processing(job):
    """Append one line per processing run to <workspace>/processed.log, slowly."""
    path = os.path.join(job.workspace, "processed.log")
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    time.sleep(float((job.extended_properties or {}).get("processing_seconds", 0)))


def broken(job):
    raise ValueError("the results file is missing a header")


def summarize(job):
    job.extended_properties = {**(job.extended_properties or {}), "summary": "ok"}


def record_then_maybe_fail(job):
    """Like :func:`record_processing`, then raise if ``<workspace>/fail`` exists by then."""
    record_processing(job)
    if os.path.exists(os.path.join(job.workspace, "fail")):
        raise ValueError("the first holder failed after all")


def leave_a_datetime(job):
    """Leave a value JSON cannot hold in extended_properties (bug-log kind B38)."""
    import datetime

    job.extended_properties = {**(job.extended_properties or {}),
                               "finished_at": datetime.datetime(2026, 1, 2, 3, 4, 5)}


def leave_an_object(job):
    """Leave a value no JSON encoder can hold in extended_properties."""
    job.extended_properties = {**(job.extended_properties or {}), "handle": object()}


def tag_run(result):
    """For Dask jobs (applied to the task's result): ``{"run": result}``; first appends
    this process's id to the file named by ``TESTAPP_RESULTS_MARK`` and sleeps
    ``TESTAPP_RESULTS_SECONDS`` when those are set (a slow processing in one process)."""
    mark = os.environ.get("TESTAPP_RESULTS_MARK")
    if mark:
        with open(mark, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("TESTAPP_RESULTS_SECONDS", 0)))
    return {"run": result}


def soak_record(job):
    """For the soak benchmark: append ``pk attempt pid`` to ``SOAK_RESULTS_LOG``, then take
    a random 0-0.4 s (wider windows for races)."""
    import random

    with open(os.environ["SOAK_RESULTS_LOG"], "a") as handle:
        handle.write(f"{job.pk} {job.attempt} {os.getpid()}\n")
    time.sleep(random.random() * 0.4)
