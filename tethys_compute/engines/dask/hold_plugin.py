"""Scheduler plugin that holds each job's task as the task reaches the scheduler.

``execute()`` annotates a job's task with ``{"key": <the task's key>, "token": ...}``
(:data:`.tasks.ANNOTATION`). The scheduler calls :meth:`TaskHolder.update_graph` for each
submitted graph after it has created the graph's tasks and before it schedules them. The
plugin then holds every annotated task whose annotation names the task itself. It holds
the task exactly as ``distributed.Variable(key).set(future)`` would: the scheduler wants
the key for the client ``variable-<key>``, and its variables extension records the
variable. ``Variable.get`` follows the task from any process, and ``Variable.delete``
(:func:`.tasks.release`) lets it go. The task and its hold therefore reach the scheduler
in the same message (the submission), and no round trip is needed to confirm the hold.

The client registers the plugin with ``Client.register_plugin`` (:func:`.tasks.install_holder`).
It is sent by value, so the scheduler needs neither tethys_compute nor Django. This module
imports only distributed and the standard library. The plugin's name makes a second
registration a no-op (``idempotent``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from distributed.diagnostics.plugin import SchedulerPlugin

logger = logging.getLogger("tethys_compute.dask.hold")


class TaskHolder(SchedulerPlugin):
    """Holds annotated tasks when their graph enters the scheduler.

    :param annotation: the name of the annotation that marks a job's task.
    :param remember: seconds a held key is remembered in :attr:`arrived`.
    :param timeout: seconds given to the variables extension's ``set``. The task is
        already known when the extension is called, so ``set`` does not wait.
    """

    name = "tethys-compute-hold"
    idempotent = True

    def __init__(self, annotation="tethys_compute", timeout=30.0, remember=600.0):
        self.annotation = annotation
        self.timeout = float(timeout)
        self.remember = float(remember)
        self.scheduler = None
        self._setting: set = set()
        #: Number of tasks held since the plugin started.
        self.held = 0
        #: Keys held in the last ``remember`` seconds, with the time they arrived
        #: (``time.monotonic()``), oldest first: tells a task that never arrived from one
        #: the scheduler has forgotten since.
        self.arrived: dict = {}

    async def start(self, scheduler):
        if "variables" not in scheduler.extensions:
            raise RuntimeError("this scheduler has no variables extension to hold tasks with")
        self.scheduler = scheduler

    def update_graph(self, scheduler, *, annotations=None, **kwargs):
        marks = (annotations or {}).get(self.annotation) or {}
        if not marks:
            return
        variables = scheduler.extensions["variables"]
        now = time.monotonic()
        arrived = self.arrived
        while arrived:
            oldest = next(iter(arrived))
            if now - arrived[oldest] < self.remember:
                break
            del arrived[oldest]
        for key, info in marks.items():
            if not isinstance(info, dict) or info.get("key") != key:
                continue  # a dependency of a job's task, not the job's task itself
            # The holder wants the key now, in this event-loop tick, before the graph's
            # own client can release it. The variable's record is written by the
            # extension's own code on the next tick.
            scheduler.client_desires_keys(keys=[key], client=f"variable-{key}")
            setting = asyncio.ensure_future(
                variables.set(name=key, key=key, timeout=self.timeout))
            self._setting.add(setting)
            setting.add_done_callback(self._set_done)
            self.held += 1
            arrived[key] = now

    def _set_done(self, setting):
        self._setting.discard(setting)
        if not setting.cancelled() and setting.exception() is not None:
            logger.error("tethys_compute could not record a task's hold: %s",
                         setting.exception())


def forgotten(keys, dask_scheduler=None):
    """Run on a scheduler: the subset of ``keys`` whose tasks :class:`TaskHolder` held in
    the last ``remember`` seconds (ten minutes) and the scheduler no longer knows, or
    ``None`` when the scheduler runs no such plugin. A key in neither is still on its
    way (or never came)."""
    plugin = dask_scheduler.plugins.get(TaskHolder.name)
    if plugin is None or not hasattr(plugin, "arrived"):
        return None
    return [key for key in keys if key in plugin.arrived and key not in dask_scheduler.tasks]
