"""A Delayed's memory request (its layers' ``resources`` annotation) raised for the retry
of a memory failure (tethys_compute/engines/dask/resources.py), and kept through the
signed pickle a job keeps its work in."""

import cloudpickle
import dask
import pytest

from tests.engines.dask import work
from tethys_compute.engines.dask import resources
from tethys_compute.engines.dask.computation import Computation

MB = 2**20


def _annotated(value, resource="MEMORY", **more):
    with dask.annotate(resources={resource: value}, **more):
        return dask.delayed(work.inc)(1)


def test_the_request_is_raised_like_htcondor_and_the_rest_is_kept():
    task = _annotated(100 * MB, priority=5)
    requested, nxt, raised = resources.escalated(task, "MEMORY", used_mb=300)
    assert (requested, nxt) == (100, 360)  # max(2 x 100, 1.2 x 300)
    (layer,) = raised.__dask_graph__().layers.values()
    assert layer.annotations == {"resources": {"MEMORY": 360 * MB}, "priority": 5}
    assert raised.key == task.key and raised.compute() == 2
    # The app's own Delayed is not changed.
    assert resources.memory_requests(task, "MEMORY") == {task.key: 100 * MB}
    # Without a measured peak the request doubles.
    assert resources.escalated(task, "MEMORY")[1] == 200


def test_only_the_memory_resource_of_annotated_layers_is_raised():
    with dask.annotate(resources={"MEMORY": 1e8, "GPU": 1}):
        first = dask.delayed(work.inc)(1)
    second = dask.delayed(work.add)(first, 1)  # not annotated
    _, _, raised = resources.escalated(second, "MEMORY")
    requests = resources.memory_requests(raised, "MEMORY")
    assert list(requests) == [first.key]
    assert raised.__dask_graph__().layers[first.key].annotations["resources"]["GPU"] == 1
    assert raised.__dask_graph__().layers[second.key].annotations is None
    assert raised.compute() == 3


def test_nothing_to_raise(settings):
    assert resources.escalated(dask.delayed(work.inc)(1), "MEMORY") is None
    assert resources.escalated(_annotated(1e8, resource="RAM"), "MEMORY") is None
    assert resources.escalated(work.inc, "MEMORY") is None  # a function: no graph
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_REQUEST_MEMORY": 100}
    assert resources.escalated(_annotated(100 * MB), "MEMORY") is None  # no room
    assert resources.escalated(_annotated(50 * MB), "MEMORY")[1] == 100  # capped


def test_the_annotation_survives_the_kept_work(tmp_path):
    task = _annotated(2e9)
    Computation(task).save(tmp_path)
    kept = Computation.load(tmp_path).work
    assert resources.memory_requests(kept, "MEMORY") == {task.key: 2e9}
    _, nxt, raised = resources.escalated(kept, "MEMORY")
    Computation(raised).save(tmp_path)
    again = cloudpickle.loads(cloudpickle.dumps(Computation.load(tmp_path).work))
    assert resources.memory_requests(again, "MEMORY") == {task.key: nxt * MB}


def test_a_layer_that_is_not_there_is_refused():
    with pytest.raises(ValueError, match="no graph layers"):
        resources.with_memory_requests(_annotated(1e8), "MEMORY", {"elsewhere": 1})
