"""The function a captured Dask task runs on the worker: it loads :mod:`.capture` from
its source (sent with the task) once per worker process and calls
``capture.run_captured``.

Sent by value (cloudpickle) and kept tiny: a task then carries the short code of
:func:`run` and the capture module's source as a plain string, which pickles and
unpickles in microseconds, where sending the capture module's functions by value would
rebuild their code objects for every task.
"""

MODULE = "tethys_compute_task_output_code"


def run(source, key, limit, function, *args, **kwargs):
    """Run ``function(*args, **kwargs)`` under ``capture.run_captured`` (``source`` is
    the capture module's source)."""
    import sys
    import types

    module = sys.modules.get(MODULE)
    if module is None or module.__dict__.get("SOURCE") != source:
        module = types.ModuleType(MODULE)
        exec(compile(source, "<tethys_compute capture>", "exec"), module.__dict__)  # noqa: S102
        module.SOURCE = source
        sys.modules[MODULE] = module
    return module.run_captured(key, limit, function, *args, **kwargs)
