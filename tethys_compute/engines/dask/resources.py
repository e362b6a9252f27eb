"""A Dask task's memory request: the ``resources`` annotation of a ``Delayed``'s graph
(issue 15 item 3; docs/resilience.rst, "Memory escalation").

Dask has no memory request of its own: an app that wants a task to run only where enough
memory is free gives its workers an abstract resource (``dask worker --resources
MEMORY=4e9``) and its task a matching annotation::

    with dask.annotate(resources={"MEMORY": 2e9}):
        result = dask.delayed(simulate)(inputs)

The scheduler then runs the task only on a worker offering at least that much of the
resource, and runs at once only as many such tasks on a worker as its amount allows (Dask
documentation, "Worker Resources"). Which resource means memory is the ``DASK_MEMORY_RESOURCE``
setting (default ``"MEMORY"``); its values are bytes, the usual convention of
``--resources MEMORY=4e9`` (Dask itself gives them no unit).

Only annotations kept in the ``Delayed``'s own graph (its ``HighLevelGraph`` layers) are
seen here: they travel with the pickled work a job keeps for its retries. An annotation
made by a ``dask.annotate`` block around ``DaskJob.execute(function, ...)`` reaches the
first submission only (it is process-wide Dask configuration, not part of the work).

Nothing here talks to a scheduler.
"""

from __future__ import annotations

import copy

#: Bytes per MB (MiB), as HTCondor's ``request_memory`` and the classification's
#: ``memory_used_mb`` count them.
MB = 2**20


def _layers(work):
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    if not isinstance(work, Delayed):
        return None
    graph = work.__dask_graph__()
    return graph if isinstance(graph, HighLevelGraph) else None


def memory_requests(work, resource) -> dict[str, float]:
    """``{layer name: bytes}``: the ``resources[resource]`` annotation of each layer of
    ``work``'s graph that has one (``{}`` when ``work`` is not a ``Delayed``, or none of
    its layers is annotated). Values that are not positive numbers are left out."""
    graph = _layers(work)
    found = {}
    for name, layer in (graph.layers.items() if graph is not None else ()):
        value = ((layer.annotations or {}).get("resources") or {}).get(resource)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            found[name] = float(value)
    return found


def with_memory_requests(work, resource, requests):
    """A copy of ``Delayed`` ``work`` whose layers named in ``requests`` (``{layer name:
    bytes}``) ask for that much of ``resource``; their other annotations and ``work``
    itself are unchanged. The copy has the same key and computes the same thing.

    :raises ValueError: ``work`` has no such layers (not a ``Delayed`` with a layered graph).
    """
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    graph = _layers(work)
    if graph is None or not set(requests) <= set(graph.layers):
        raise ValueError(f"{type(work).__name__} has no graph layers {sorted(requests)}")
    layers = dict(graph.layers)
    for name, value in requests.items():
        layer = copy.copy(layers[name])
        annotations = dict(layer.annotations or {})
        annotations["resources"] = {**(annotations.get("resources") or {}), resource: value}
        layer.annotations = annotations
        layers[name] = layer
    return Delayed(work.key, HighLevelGraph(layers, graph.dependencies),
                   length=getattr(work, "_length", None), layer=getattr(work, "_layer", None))


def escalated(work, resource, used_mb=None, *, limits=()):
    """The memory request of ``work``'s next attempt after a ``memory`` failure.

    Each annotated layer's request becomes
    :func:`tethys_compute.escalation.next_memory_mb` of it (in MB) and of ``used_mb``,
    written back in whole MB as bytes.

    :param work: the failed run's ``Delayed`` (anything else: nothing to raise).
    :param resource: the resource name that means memory (``DASK_MEMORY_RESOURCE``).
    :param used_mb: the measured peak (MB) of the worker killed for memory, or ``None``.
    :param limits: further caps in MB (``MAX_REQUEST_MEMORY`` always applies).
    :returns: ``(requested_mb, next_mb, new_work)`` for the largest request, or ``None``
        when ``work`` asks for no memory or no request can be raised (the caps leave no
        room above it).
    """
    from ...escalation import next_memory_mb

    requests = memory_requests(work, resource)
    raised = {}
    for name, value in requests.items():
        new = next_memory_mb(value / MB, used_mb, limits=limits)
        if new is not None:
            raised[name] = new * MB
    if not raised:
        return None
    requested_mb = max(requests.values()) / MB
    next_mb = max(raised.values()) // MB
    return requested_mb, int(next_mb), with_memory_requests(work, resource, raised)
