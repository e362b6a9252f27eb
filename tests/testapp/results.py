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
