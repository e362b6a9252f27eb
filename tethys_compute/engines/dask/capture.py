"""A Dask task's own output, captured on the worker that runs it.

A job's function runs inside :func:`run_captured` (its task's function on the worker).
While it runs, what the function writes to ``sys.stdout`` and ``sys.stderr`` (``print``,
``sys.stderr.write``, a ``logging.StreamHandler`` made inside the task) from the task's
own thread is kept in the worker's memory for that task's key, and when it raises, the
exception's type, message and full traceback are kept too (the exception is then raised
again, so Dask sees the task err exactly as without the wrapper).

Capture is per thread: the first wrapped task installs, once per worker process, a
stand-in for ``sys.stdout``/``sys.stderr`` that sends each write of a thread running a
wrapped task to that task's buffers and every other write to the stream it replaced
(so the worker's own output and other tasks' output are untouched). Output of threads
or subprocesses the task starts is not captured (it goes to the worker's own streams).

Bounded: each stream keeps at most ``limit`` bytes, its first half and its last half;
the bytes in between are counted, not kept. Finished captures stay on the worker until
the job has stored them (:func:`discard`) and at most :data:`FINISHED_MAX_BYTES` of them
are kept per worker process (the oldest go first).

The web side reads them with ``Client.run`` (:func:`read_live`, :func:`collect`,
:func:`discard`). This module is sent to the workers by value (cloudpickle), so they
need neither tethys_compute nor Django: standard library only, and its state lives in a
registry module in ``sys.modules`` (a function sent by value gets fresh globals).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
import types

#: Name of the per-process registry (a module object in ``sys.modules``).
REGISTRY = "tethys_compute_task_output"
#: Finished captures kept per worker process until a job stores them, in bytes.
FINISHED_MAX_BYTES = 256 * 1024 * 1024
STREAMS = ("stdout", "stderr")


def _registry():
    registry = sys.modules.get(REGISTRY)
    if registry is None:
        registry = sys.modules.setdefault(REGISTRY, types.ModuleType(REGISTRY))
    state = registry.__dict__
    state.setdefault("lock", threading.Lock())
    state.setdefault("captures", {})  # key -> capture dict
    state.setdefault("threads", {})  # thread ident -> capture dict
    return registry


def _new_stream(limit):
    return {"head": bytearray(), "tail": bytearray(), "size": 0,
            "head_max": limit // 2, "tail_max": limit - limit // 2}


def _append(stream, data: bytes):
    stream["size"] += len(data)
    room = stream["head_max"] - len(stream["head"])
    if room > 0:
        stream["head"] += data[:room]
        data = data[room:]
    if data:
        tail = stream["tail"]
        tail += data
        if len(tail) > 2 * stream["tail_max"]:  # trimmed now and then, not on each write
            del tail[: len(tail) - stream["tail_max"]]


class _Router:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: a thread running a wrapped task
    writes to its task's buffer; any other thread to the stream this one replaced."""

    def __init__(self, name, original, registry):
        self._tethys_stream = name
        self._tethys_registry = registry
        self._original = original

    def write(self, text):
        capture = self._tethys_registry.threads.get(threading.get_ident())
        if capture is None:
            return self._original.write(text)
        if not isinstance(text, str):
            text = str(text)
        data = text.encode("utf-8", errors="backslashreplace")
        with self._tethys_registry.lock:
            _append(capture[self._tethys_stream], data)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._tethys_registry.threads.get(threading.get_ident()) is None:
            flush = getattr(self._original, "flush", None)
            if flush is not None:
                flush()

    def isatty(self):
        return False

    def __getattr__(self, name):
        return getattr(self._original, name)


def _install(registry):
    for name in STREAMS:
        current = getattr(sys, name)
        if getattr(current, "_tethys_registry", None) is not registry:
            setattr(sys, name, _Router(name, current, registry))


def _text_cut(text, limit):
    data = text.encode("utf-8", errors="backslashreplace")
    if len(data) <= limit:
        return text
    half = limit // 2
    return (data[:half].decode("utf-8", errors="ignore")
            + f"\n[... {len(data) - 2 * half} bytes not kept ...]\n"
            + data[-half:].decode("utf-8", errors="ignore"))


def _error(exc, limit):
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # not ours
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"type": type(exc).__qualname__, "module": type(exc).__module__,
            "message": _text_cut(str(exc), limit), "traceback": _text_cut(text, limit)}


def _evict(registry):
    """Drop the oldest finished captures beyond :data:`FINISHED_MAX_BYTES`."""
    finished = [c for c in registry.captures.values() if c["finished"] is not None]
    total = sum(_kept(c) for c in finished)
    for capture in sorted(finished, key=lambda c: c["finished"]):
        if total <= FINISHED_MAX_BYTES:
            break
        registry.captures.pop(capture["key"], None)
        total -= _kept(capture)


def _kept(capture):
    return sum(len(capture[s]["head"]) + len(capture[s]["tail"]) for s in STREAMS)


def run_captured(key, limit, function, *args, **kwargs):
    """Run ``function(*args, **kwargs)`` on the worker with its output captured under
    ``key`` (the task's key), ``limit`` bytes at most per stream; return its value, or
    raise its exception again after keeping it."""
    registry = _registry()
    capture = {"key": key, "started": time.time(), "finished": None, "error": None,
               **{name: _new_stream(int(limit)) for name in STREAMS}}
    ident = threading.get_ident()
    with registry.lock:
        registry.captures[key] = capture  # a task run again starts afresh
        registry.threads[ident] = capture
        _install(registry)
    try:
        return function(*args, **kwargs)
    except BaseException as exc:
        capture["error"] = _error(exc, int(limit))
        raise
    finally:
        with registry.lock:
            registry.threads.pop(ident, None)
            for name in STREAMS:
                stream = capture[name]
                if len(stream["tail"]) > stream["tail_max"]:
                    del stream["tail"][: len(stream["tail"]) - stream["tail_max"]]
            capture["finished"] = time.time()
            capture["peak_memory_mb"] = _peak_memory_mb()
            _evict(registry)


def _peak_memory_mb():
    """The worker process's peak resident memory so far, whole MB (``getrusage``'s
    ``ru_maxrss``: KiB on Linux, bytes on macOS), or ``None`` where it is not available."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError, AttributeError):
        return None
    if not peak:
        return None
    return int(round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024)))


def _usage(capture):
    """The finished task's ``{"wall_seconds", "peak_memory_mb"}`` (``None`` while it runs):
    the function's run time on the worker and the worker process's peak memory at its end."""
    if capture["finished"] is None:
        return None
    return {"wall_seconds": round(max(0.0, capture["finished"] - capture["started"]), 3),
            "peak_memory_mb": capture.get("peak_memory_mb")}


def _snapshot(capture):
    out = {"finished": capture["finished"] is not None, "error": capture["error"],
           "usage": _usage(capture)}
    for name in STREAMS:
        stream = capture[name]
        tail = bytes(stream["tail"][-stream["tail_max"]:]) if stream["tail_max"] else b""
        out[name] = {"head": bytes(stream["head"]), "tail": tail, "size": stream["size"]}
    return out


# --- run on the workers with Client.run ---------------------------------------------------
def read_live(key, stream, offset, limit, latest=False):
    """``{"size", "start", "data", "finished"}`` of ``key``'s ``stream`` on this worker
    from byte ``offset`` (at most ``limit`` bytes), or ``None`` when this worker has no
    capture of ``key``. ``start`` is where ``data`` begins: after ``offset`` when the
    bytes from ``offset`` were not kept, or (``latest``) when more than ``limit`` bytes
    follow ``offset``: the last ``limit`` bytes are read then."""
    registry = _registry()
    with registry.lock:
        capture = registry.captures.get(key)
        if capture is None:
            return None
        kept = capture[stream]
        head, size = kept["head"], kept["size"]
        tail = kept["tail"][-kept["tail_max"]:] if kept["tail_max"] else bytearray()
        tail_start = size - len(tail)
        if latest:
            offset = max(offset, size - limit)
        if offset < len(head):
            start, data = offset, bytes(head[offset:offset + limit])
        else:
            start = max(offset, tail_start)
            data = bytes(tail[start - tail_start:start - tail_start + limit])
        return {"size": size, "start": start, "data": data,
                "finished": capture["finished"] is not None}


def collect(keys):
    """``{key: snapshot}`` of the captures of ``keys`` held by this worker: each stream as
    ``{"head", "tail", "size"}`` (bytes, bytes, total bytes written), ``"error"`` (None or
    ``{"type", "module", "message", "traceback"}``), ``"finished"`` and ``"usage"`` (None
    while it runs, else ``{"wall_seconds", "peak_memory_mb"}``: see :func:`_usage`)."""
    registry = _registry()
    with registry.lock:
        return {key: _snapshot(registry.captures[key]) for key in keys
                if key in registry.captures}


def discard(keys):
    """Forget the captures of ``keys`` on this worker (their job stored them)."""
    registry = _registry()
    with registry.lock:
        for key in keys:
            capture = registry.captures.get(key)
            if capture is not None and capture["finished"] is not None:
                del registry.captures[key]
