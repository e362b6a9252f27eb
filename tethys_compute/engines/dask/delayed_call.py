"""The call inside a one-task ``Delayed``, so that it can be submitted as that call.

Tethys's usual Dask work is ``dask.delayed(f)(x)``: a graph of one task. Submitted as a
``Delayed`` under a job's key it costs the client a graph of two tasks (its own and the
job's task passing its result on, :func:`.tasks.keyed_delayed`) and ``Client.compute``'s
collection handling; submitted as ``client.submit(f, x, key=job_key)`` it is one task
with the same result. Only a graph that is exactly one plain task qualifies: no
dependencies, no layer annotations (``dask.annotate`` given to the Delayed), no
coroutine function, and no keyword argument that ``Client.submit`` would take as its own.
Follows Dask's task specification (``dask._task_spec.Task``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


def single_call(delayed: Any) -> tuple[Any, tuple, dict] | None:
    """``(function, args, kwargs)`` of a ``Delayed`` whose graph is one plain task with no
    dependencies and no layer annotations (``dask.delayed(f)(x)``), else ``None``.

    :param delayed: a ``dask.delayed.Delayed``.
    :returns: the call, or ``None`` when the Delayed must be submitted as a graph.
    """
    try:
        from dask._task_spec import GraphNode, Task
    except ImportError:  # a Dask without the task specification: submitted as a graph
        return None
    from dask.highlevelgraph import HighLevelGraph

    graph = delayed.__dask_graph__()
    if not isinstance(graph, HighLevelGraph) or len(graph.layers) != 1:
        return None
    (layer,) = graph.layers.values()
    if layer.annotations or len(layer) != 1:
        return None
    task = layer.get(delayed.key)
    if type(task) is not Task or task.dependencies or task._is_coro:
        return None
    values = (*task.args, *task.kwargs.values(), task.func)
    if any(isinstance(value, GraphNode) for value in values) or not callable(task.func):
        return None
    if set(task.kwargs) & _submit_parameters():
        return None
    return task.func, tuple(task.args), dict(task.kwargs)


@functools.cache
def _submit_parameters() -> frozenset[str]:
    from distributed import Client

    return frozenset(inspect.signature(Client.submit).parameters)
