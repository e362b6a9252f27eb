"""Test-only job classes (proxy models: no tables of their own).

``EngineJob`` stands for a job with an engine: its "engine" is an in-process dict of
answers keyed by job id, which tests set, so the status rules can be exercised at the
adapter boundary without a real scheduler.
"""

import threading

from tethys_compute.exceptions import EngineUnavailable
from tethys_compute.models import BasicJob

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
