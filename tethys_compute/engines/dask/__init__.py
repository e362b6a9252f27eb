"""The Dask engine: every call to a ``distributed`` scheduler is made here.

* :mod:`.clients`: one ``distributed.Client`` per scheduler address per process.
* :mod:`.tasks`: submit, hold, release, cancel, task states, gather, logs, by key.
* :mod:`.computation`: what a job computes, kept (signed) in the job's directory.
* :mod:`.scheduler_side`: functions run inside the scheduler.
* :mod:`.plugin`: the scheduler plugin (``dask scheduler --preload
  tethys_compute.engines.dask.plugin --tethys-host <url>``).

This package imports nothing at import time: the plugin module is loaded by schedulers
that have neither Django nor the project's settings, and the app runs without
``distributed`` installed.
"""
