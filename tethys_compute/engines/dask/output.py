"""Reading a Dask task's captured output (:mod:`.capture`) from the web side.

Every call here is one ``Client.run`` (the scheduler passes it to every worker and
returns their answers), bounded by ``timeout`` seconds; the functions run on the workers
are sent by value, so workers need neither tethys_compute nor Django.
"""

from __future__ import annotations

import functools
from pathlib import Path

from . import capture, capture_boot
from .errors import DaskJobException
from .tasks import _unavailable


@functools.cache
def _capture_source() -> str:
    return Path(capture.__file__).read_text(encoding="utf-8")


def captured_call(key, limit, function):
    """``(wrapper, source, key, limit, function)``: what to pass to ``Client.submit``
    (before the function's own arguments) to run ``function`` with its output captured
    under ``key``, at most ``limit`` bytes per stream (:mod:`.capture_boot`)."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(capture_boot)
    return capture_boot.run, _capture_source(), key, int(limit), function


def _run(client, function, *args, timeout, what):
    import cloudpickle

    cloudpickle.register_pickle_by_value(capture)
    try:
        answers = client.run(function, *args, on_error="return", callback_timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise _unavailable(client, exc, what) from exc
    except Exception as exc:  # noqa: BLE001 - the scheduler may forbid run_function
        raise DaskJobException(f"The Dask workers could not be asked ({what}): {exc}") from exc
    return {worker: answer for worker, answer in answers.items()
            if not isinstance(answer, BaseException)}


def collect(client, keys, timeout):
    """``{key: snapshot}`` of the captured output of ``keys`` (see
    :func:`.capture.collect`), from whichever worker holds it (a finished capture wins
    over one still running, e.g. of a task run again elsewhere).

    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds.
    :raises DaskJobException: the scheduler refused to run the function.
    """
    keys = list(keys)
    if not keys:
        return {}
    found: dict = {}
    for answer in _run(client, capture.collect, keys, timeout=timeout,
                       what="task output").values():
        for key, snapshot in (answer or {}).items():
            if key not in found or (snapshot["finished"] and not found[key]["finished"]):
                found[key] = snapshot
    return found


def read_live(client, key, stream, offset, limit, timeout, latest=False):
    """What :func:`.capture.read_live` gives for ``key`` on the worker holding it, or
    ``None`` when no worker has its output (not started yet, or not captured).

    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds.
    """
    best = None
    for answer in _run(client, capture.read_live, key, stream, int(offset), int(limit),
                       bool(latest), timeout=timeout, what="task output").values():
        if answer is not None and (best is None or answer["finished"] > best["finished"]):
            best = answer
    return best


def discard(client, keys, timeout):
    """Let the workers forget the captured output of ``keys`` (stored by their jobs).

    :raises DaskSchedulerUnavailable: no answer within ``timeout`` seconds.
    """
    keys = list(keys)
    if keys:
        _run(client, capture.discard, keys, timeout=timeout, what="discarding task output")
