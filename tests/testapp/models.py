"""Test-only job classes.

``EngineJob`` (a proxy: no table of its own) stands for a job with an engine: its
"engine" is an in-process dict of answers keyed by job id, which tests set, so the status
rules can be exercised at the adapter boundary without a real scheduler.

``FakeEngineJob`` (table ``testapp_fakeenginejob``) runs on the file-backed scheduler
stand-in of :mod:`tests.testapp.engine`, shared across processes, with the batch hooks
(``status_batch_key``, ``bulk_update_status``) an engine class provides: the monitor and
callback tests use it.
"""

import threading

from django.db import models

from tethys_compute.exceptions import EngineUnavailable, JobUnknownToEngine
from tethys_compute.models import BasicJob, TethysJob

from .engine import engine

ENGINE_STATE = {}
ENGINE_CALLS = []
_lock = threading.Lock()


class EngineJob(BasicJob):
    class Meta:
        proxy = True
        app_label = "testapp"

    def _execute(self, *args, **kwargs):
        if kwargs.get("fail"):
            raise RuntimeError(kwargs["fail"])
        self.extended_properties = {**(self.extended_properties or {}), "submitted": True}
        return kwargs.get("status")

    def _update_status(self, *args, **kwargs):
        with _lock:
            ENGINE_CALLS.append(self.pk)
        answer = ENGINE_STATE.get(self.pk)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _process_results(self, *args, **kwargs):
        answer = ENGINE_STATE.get(("results", self.pk))
        if isinstance(answer, Exception):
            raise answer
        return answer


class UnreachableEngine(EngineUnavailable):
    pass


STATE_TO_STATUS = {"queued": "SUB", "running": "RUN", "done": "COM", "failed": "ERR"}
_NO_ANSWER = object()


class FakeEngineJob(TethysJob):
    """A job on one of the fake engine's schedulers (``scheduler_name``)."""

    scheduler_name = models.CharField(max_length=64, default="alpha")
    key = models.CharField(max_length=64, blank=True, default="")
    results = models.CharField(max_length=256, blank=True, default="")

    def _execute(self, *args, **kwargs):
        self.key = self.key or f"job-{self.pk}"
        engine().submit(self.scheduler_name, self.key)

    def _resubmit(self, *args, **kwargs):
        self.key = f"job-{self.pk}.{self.attempt}"  # each run is a new engine job
        return self.execute(*args, **kwargs)

    def status_batch_key(self):
        return self.scheduler_name

    @classmethod
    def bulk_update_status(cls, jobs):
        """One engine query for the batch, then each job's normal refresh path."""
        try:
            answers = engine().query(jobs[0].scheduler_name, [job.key for job in jobs])
        except EngineUnavailable as exc:
            answers = {job.key: exc for job in jobs}
        changed = 0
        for job in jobs:
            job._engine_answer = answers.get(job.key)
            changed += bool(job.update_status())
        return changed

    def _update_status(self, *args, **kwargs):
        answer = self.__dict__.pop("_engine_answer", _NO_ANSWER)
        if answer is _NO_ANSWER:
            answer = engine().query(self.scheduler_name, [self.key]).get(self.key)
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            raise JobUnknownToEngine(f"no job {self.key} on scheduler {self.scheduler_name}")
        return STATE_TO_STATUS[answer]

    def _process_results(self, *args, **kwargs):
        self.results = engine().fetch_results(self.scheduler_name, self.key)

    def apply_node_statuses(self, status_by_name):
        """Nodes are the names listed in ``extended_properties["nodes"]``; unknown names
        are ignored, a status that is not a string of letters raises ``ValueError``."""
        nodes = (self.extended_properties or {}).get("nodes", [])
        applied = {name: value for name, value in status_by_name.items() if name in nodes}
        for value in applied.values():
            if not value.isalpha():
                raise ValueError(f"not a node status: {value!r}")
        if applied:
            props = dict(self.extended_properties)
            props["node_statuses"] = {**props.get("node_statuses", {}), **applied}
            self.extended_properties = props
            self.save()
        return applied


FakeEngineJob.add_custom_running_status("Staging")
