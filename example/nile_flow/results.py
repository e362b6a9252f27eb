"""Result functions (``process_results_function``) of the app's jobs."""

import json
from pathlib import Path


def load_local_result(job):
    """Read the local run's ``result.json`` into ``extended_properties["result"]``.

    :raises FileNotFoundError: if the run did not write it (the job then ends in Error).
    """
    result = json.loads((Path(job.workspace) / "result.json").read_text())
    job.extended_properties = {**(job.extended_properties or {}), "result": result}


def load_workflow_result(job):
    """Read the combine node's ``result.json`` into ``extended_properties["result"]``."""
    result = json.loads((Path(job.workspace) / "result.json").read_text())
    job.extended_properties = {**(job.extended_properties or {}), "result": result}
